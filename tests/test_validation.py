import re

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_fit as fit


def test_mismatched_lengths_name_each_argument(tabular):
    X, y, groups = tabular
    with pytest.raises(ValueError, match="X: 240, y: 239"):
        fit(X, y[:-1])
    with pytest.raises(ValueError, match="sensitive_features: 10"):
        fit(X, y, groups[:10])


def test_nan_and_inf_in_x(tabular):
    X, y, _ = tabular
    X = X.copy()
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match="X contains NaN.*SimpleImputer"):
        fit(X, y)
    X[3, 2] = np.inf
    with pytest.raises(ValueError, match="X contains infinite"):
        fit(X, y)


def test_nan_in_y(tabular):
    X, y, _ = tabular
    y = y.astype(float)
    y[0] = np.nan
    with pytest.raises(ValueError, match="y contains missing values"):
        fit(X, y)


def test_one_sample_class_and_ipc_larger_than_a_class(tabular):
    X, y, _ = tabular
    y = y.copy()
    y[0] = 7  # class 7 has one sample
    with pytest.raises(ValueError, match="class 7 has a single sample.*Drop or merge"):
        fit(X, y, ipc=1)
    with pytest.raises(ValueError, match=r"class 0 has 80 sample\(s\) but ipc=81.*at most 80"):
        fit(X, tabular[1], ipc=81)


def test_single_class(tabular):
    X, _, _ = tabular
    with pytest.raises(ValueError, match="only one class"):
        fit(X, np.zeros(240))


@pytest.mark.parametrize(
    ("param", "value", "pattern"),
    [
        ("method", "mtt2", "'method' parameter"),
        ("target", "fair", "'target' parameter"),
        ("init", "zeros", "'init' parameter"),
        ("ipc", 0, "'ipc' parameter"),
        ("ipc", 2.5, "'ipc' parameter"),
        ("lr", -1.0, "'lr' parameter"),
    ],
)
def test_bad_parameters_are_named(tabular, param, value, pattern):
    X, y, _ = tabular
    with pytest.raises((ValueError, TypeError), match=pattern):
        fit(X, y, **{param: value})


def test_unknown_device(tabular):
    X, y, _ = tabular
    with pytest.raises(ValueError, match="device='tpu9'.*'auto', 'cpu', 'cuda'"):
        fit(X, y, device="tpu9")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda(tabular):
    X, y, _ = tabular
    with pytest.raises(ValueError, match="device='cuda'.*CUDA is not available.*device='cpu'"):
        fit(X, y, device="cuda")


def test_strings_and_categoricals_in_x(tabular):
    X, y, _ = tabular
    with pytest.raises(TypeError, match="not numeric.*OneHotEncoder"):
        fit(X.astype(str).astype(object), y)
    frame = pd.DataFrame(X, columns=list("abcde"))
    frame["colour"] = pd.Categorical(np.tile(["r", "g"], 120))
    with pytest.raises(TypeError, match=r"\['colour'\] are category.*OneHotEncoder"):
        fit(frame, y)


def test_missing_sensitive_features(tabular):
    X, y, groups = tabular
    groups = groups.astype(object)
    groups[5] = None
    with pytest.raises(ValueError, match="sensitive_features contains 1 missing"):
        fit(X, y, groups)


def test_bad_image_shapes(images):
    X, y, _ = images
    with pytest.raises(ValueError, match="Cannot tell the channel axis"):
        fit(np.zeros((60, 3, 8, 3)), y)
    with pytest.raises(ValueError, match="too small.*net_depth=2"):
        fit(np.zeros((60, 3, 2, 2)), y)
    with pytest.raises(ValueError, match="5 dimension"):
        fit(np.zeros((60, 1, 3, 8, 8)), y)


def test_sensitive_features_as_list_series_and_unused_categories(tabular):
    X, y, groups = tabular
    as_list = fit(X, y, list(groups))
    as_series = fit(X, y, pd.Series(groups, name="sex"))
    np.testing.assert_array_equal(as_list.X_synthetic_, as_series.X_synthetic_)
    categorical = pd.Series(pd.Categorical(groups, categories=["a", "b", "never-seen"]))
    d = fit(X, y, categorical)
    assert list(d.groups_) == ["a", "b"]  # an empty group is not a group of the data


def test_one_pixel_images(images):
    _, y, _ = images
    with pytest.raises(ValueError, match="1x1 are too small"):
        fit(np.zeros((60, 1, 1)), y)


def test_inputs_are_never_modified(tabular):
    X, y, groups = tabular
    frame = pd.DataFrame(X)
    copies = (X.copy(), y.copy(), groups.copy(), frame.copy())
    fit(X, y, groups)
    fit(frame, pd.Series(y), pd.Series(groups))
    for before, after in zip(copies, (X, y, groups, frame)):
        np.testing.assert_array_equal(np.asarray(before), np.asarray(after))


class ItemsDataset(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_torch_dataset_matches_the_in_memory_tensor(images):
    X, y, groups = images
    chw = torch.as_tensor(X).permute(0, 3, 1, 2).contiguous()
    items = [(chw[i], int(y[i]), int(groups[i])) for i in range(len(y))]
    from_dataset = fit(ItemsDataset(items), None)
    from_tensor = fit(chw, y, groups)
    assert isinstance(from_dataset.X_synthetic_, torch.Tensor)
    torch.testing.assert_close(from_dataset.X_synthetic_, from_tensor.X_synthetic_)
    np.testing.assert_array_equal(from_dataset.groups_, [0, 1])
    # labels may also be passed beside a dataset of bare samples
    bare = fit(ItemsDataset([chw[i] for i in range(len(y))]), y, groups)
    torch.testing.assert_close(bare.X_synthetic_, from_tensor.X_synthetic_)


@pytest.mark.parametrize(
    ("item", "pattern"),
    [
        ((torch.zeros(3, 8, 8),), "must be an \\(x, y\\).*item 0 is a tuple of length 1"),
        ((torch.zeros(3, 8, 8), 0, 1, 2), "item 0 is a tuple of length 4"),
        (torch.zeros(3, 8, 8), "item 0 is a Tensor"),
        (("not an image", 0), "item 0 holds str where the sample x should be"),
    ],
)
def test_datasets_with_wrong_items(item, pattern):
    with pytest.raises(TypeError, match=pattern):
        fit(ItemsDataset([item] * 10), None)


def test_y_is_required_for_arrays(tabular):
    X, _, _ = tabular
    with pytest.raises(
        ValueError, match="target y is None: y is required unless X is a torch Dataset"
    ):
        fit(X, None)


# ---------------------------------------------------------------- one validation pass
def _unchanged_by_a_failing_fit(estimator, call):
    """``call(estimator)`` raises; every attribute of the estimator is as it was."""
    import copy

    from test_persistence import assert_same_state

    before = copy.deepcopy(estimator)
    with pytest.raises((ValueError, TypeError)) as info:
        call(estimator)
    assert_same_state(before, estimator)
    return info.value


BAD_SETTINGS = [
    (dict(ipc=0), "'ipc' parameter"),
    (dict(method="dm", outer_loop=3), "outer_loop=3 does not apply to method='dm'"),
    (dict(method="dc", distance="l1"), "'distance' parameter of DC must be a str among"),
    (dict(augment="dsa"), "augment needs images"),
    (dict(method="idc"), "method='idc' needs images"),
    (dict(target="fairdd", barycenter="l2"), "barycenter applies to target='cobra' only"),
    (dict(barycenter_weights={"a": 1}), "one non-negative weight per group"),
    (dict(ipc=81), r"ipc=81 synthetic samples per class"),
    (dict(method="dc", target="mmd"), "target='mmd' matches distributions"),
    (dict(callbacks=[print]), "callbacks must be a list of skdistill.callbacks.Callback"),
    (dict(method="dc", net_norm="batch"), "net_norm needs images"),
]


@pytest.mark.parametrize("fitted", [False, True], ids=["unfitted", "fitted"])
@pytest.mark.parametrize(("params", "pattern"), BAD_SETTINGS)
def test_a_failing_fit_leaves_the_estimator_untouched(tabular, fitted, params, pattern):
    from conftest import TINY

    from skdistill import BarycentricDistiller

    X, y, groups = tabular
    d = BarycentricDistiller(**TINY, ipc=3)
    if fitted:
        d.fit(X, y, sensitive_features=groups)
    d.set_params(**params)
    error = _unchanged_by_a_failing_fit(d, lambda e: e.fit(X, y, sensitive_features=groups))
    assert re.search(pattern, str(error)), str(error)


def test_failing_fits_of_other_kinds_leave_the_estimator_untouched(tabular, images, tmp_path):
    from conftest import TINY

    from skdistill import BarycentricDistiller

    X, y, groups = tabular
    d = BarycentricDistiller(**TINY, ipc=3).fit(X, y, sensitive_features=groups)
    calls = [
        lambda e: e.fit(X, y, sensitive_features=groups, resume=True),  # no checkpoint_dir
        lambda e: e.fit(X, y, sensitive_features=groups, sample_weight=-np.ones(240)),
        lambda e: e.fit(X, y, sensitive_features=np.where(y == 0, None, groups)),
        lambda e: e.partial_fit(X, np.where(y == 2, 1, y), sensitive_features=groups),
        lambda e: e.partial_fit(X[:, :3], y, sensitive_features=groups),
    ]
    for call in calls:
        _unchanged_by_a_failing_fit(d, call)
    d.set_params(lr=0.123)  # partial_fit continues the first fit's parameters only
    assert "other parameters (lr)" in str(
        _unchanged_by_a_failing_fit(d, lambda e: e.partial_fit(X, y, sensitive_features=groups))
    )
    # a checkpoint of other data is found only once the data are encoded: still untouched
    d.set_params(lr=None, checkpoint_dir=tmp_path)
    d.fit(X, y, sensitive_features=groups)
    other = np.random.default_rng(0).permutation(groups)  # other group counts per class
    error = _unchanged_by_a_failing_fit(
        d, lambda e: e.fit(X, y, sensitive_features=other, resume=True)
    )
    assert "other data" in str(error)
    Xi, yi, gi = images
    e = BarycentricDistiller(**TINY, ipc=1, method="idc", factor=3)
    assert "divisible by factor=3" in str(
        _unchanged_by_a_failing_fit(e, lambda e: e.fit(Xi, yi, sensitive_features=gi))
    )
    e.set_params(method="dm", factor=None, net_depth=4)
    assert "too small for a ConvNet of net_depth=4" in str(
        _unchanged_by_a_failing_fit(e, lambda e: e.fit(Xi, yi, sensitive_features=gi))
    )
