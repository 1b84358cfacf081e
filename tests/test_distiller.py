import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY
from conftest import tiny_fit as fit
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from skdistill import BarycentricDistiller
from skdistill.methods import DistributionMatching


# ---------------------------------------------------------------- scikit-learn face
def test_fit_returns_self_and_fit_resample_returns_the_synthetic_set(tabular):
    X, y, groups = tabular
    d = BarycentricDistiller(**TINY, ipc=3)
    assert d.fit(X, y, sensitive_features=groups) is d
    X_syn, y_syn = d.X_synthetic_, d.y_synthetic_
    assert X_syn.shape == (9, 5) and X_syn.dtype == np.float64
    np.testing.assert_array_equal(y_syn, np.repeat([0, 1, 2], 3))
    assert d.n_iter_ == 3 and len(d.history_) == 3 and np.isfinite(d.history_.loss).all()
    assert d.n_features_in_ == 5
    np.testing.assert_array_equal(d.classes_, [0, 1, 2])
    np.testing.assert_array_equal(d.groups_, ["a", "b"])
    assert d.group_counts_.to_numpy().sum() == 240
    assert d.group_counts_.loc[0, "a"] == np.sum((y == 0) & (groups == "a"))
    X2, y2 = d.fit_resample(X, y, sensitive_features=groups)
    np.testing.assert_array_equal(X2, X_syn)
    np.testing.assert_array_equal(y2, y_syn)
    X2[:] = 0  # the returned arrays are copies
    assert not np.all(d.X_synthetic_ == 0)


def test_clone_get_params_set_params():
    d = BarycentricDistiller(target="fairdd", ipc=5, lr=0.5, random_state=3)
    c = clone(d)
    assert c.get_params() == d.get_params() and c is not d
    c.set_params(ipc=7, target="vanilla")
    assert (c.ipc, c.target, d.ipc) == (7, "vanilla", 5)
    # no validation in __init__: bad values are stored and refused at fit
    bad = BarycentricDistiller(ipc=-1, method="nope")
    assert bad.get_params()["ipc"] == -1


def test_no_transform_but_a_clear_pointer_to_fit_resample():
    d = BarycentricDistiller()
    assert not hasattr(d, "transform") and not hasattr(d, "fit_transform")
    with pytest.raises(AttributeError, match="fit_resample"):
        d.transform()
    with pytest.raises(NotFittedError):
        d.synthetic_as_input_dtype()


# ---------------------------------------------------------------- targets and groups
def test_without_groups_every_target_gives_the_same_synthetic_set(tabular):
    X, y, _ = tabular
    results = [
        fit(X, y, None, target=t, n_iter=4).X_synthetic_
        for t in ("vanilla", "uniform", "fairdd", "cobra")
    ]
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)


def test_targets_differ_when_groups_are_imbalanced(tabular):
    X, y, groups = tabular
    vanilla = fit(X, y, groups, target="vanilla", n_iter=5).X_synthetic_
    cobra = fit(X, y, groups, target="cobra", n_iter=5).X_synthetic_
    assert not np.allclose(vanilla, cobra)


def test_cobra_moves_the_synthetic_mean_toward_the_minority_group():
    # one feature, two classes; in each class 90 % of group "maj" sits at +3, 10 % of "min" at -3
    rng = np.random.default_rng(0)
    n = 400
    y = np.repeat([0, 1], n // 2)
    minority = rng.random(n) < 0.1
    x = np.where(minority, -3.0, 3.0) + 0.3 * rng.normal(size=n) + 10 * y
    X = np.c_[x, rng.normal(size=n)]
    groups = np.where(minority, "min", "maj")
    params = dict(
        ipc=4,
        n_iter=150,
        batch_real=64,
        net_width=32,
        net_depth=1,
        random_state=0,
        init="random_real",
        lr=0.5,
    )
    gaps = {}
    for target in ("vanilla", "cobra"):
        X_syn = (
            BarycentricDistiller(target=target, **params)
            .fit(X, y, sensitive_features=groups)
            .X_synthetic_
        )
        # class 0 barycenter of the group means is 0; the size-weighted mean is +2.4
        gaps[target] = abs(X_syn[:4, 0].mean() - 0.0)
    assert gaps["cobra"] < gaps["vanilla"] - 1.0


def test_intersectional_groups_from_a_dataframe(tabular):
    X, y, groups = tabular
    sf = pd.DataFrame({"g": groups, "h": np.tile(["p", "q"], 120)})
    d = fit(X, y, sf)
    assert list(d.groups_) == ["g=a, h=p", "g=a, h=q", "g=b, h=p", "g=b, h=q"]


def test_absent_cells_are_reported(tabular):
    X, y, groups = tabular
    groups = groups.copy()
    groups[y == 2] = "a"  # class 2 has no group b
    d = fit(X, y, groups, target="fairdd")
    assert d.absent_cells_ == [(2, "b")]
    assert d.group_counts_.loc[2, "b"] == 0


# ---------------------------------------------------------------- reproducibility
@pytest.mark.parametrize("init", ["balanced", "random_real", "noise"])
def test_same_random_state_gives_identical_output(tabular, init):
    X, y, groups = tabular
    a = fit(X, y, groups, init=init, random_state=5).X_synthetic_
    b = fit(X, y, groups, init=init, random_state=5).X_synthetic_
    c = fit(X, y, groups, init=init, random_state=6).X_synthetic_
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_same_random_state_identical_images(images):
    X, y, groups = images
    a = fit(X, y, groups, random_state=2).X_synthetic_
    b = fit(X, y, groups, random_state=2).X_synthetic_
    np.testing.assert_array_equal(a, b)


def test_global_torch_random_state_is_left_alone(tabular):
    X, y, groups = tabular
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    fit(X, y, groups)
    torch.testing.assert_close(torch.rand(3), expected)


def _initial_groups(X, groups, X_syn):
    """The group of the real row each synthetic row started from (lr ~ 0: rows unchanged)."""
    matches = [np.flatnonzero(np.all(np.isclose(X, r, atol=1e-6), axis=1)) for r in X_syn]
    assert all(m.size == 1 for m in matches)
    return np.array([groups[m[0]] for m in matches])


def test_init_balanced_is_group_balanced(tabular):
    X, y, groups = tabular
    d = fit(X, y, groups, ipc=4, n_iter=1, lr=1e-12, init="balanced")
    picked = _initial_groups(X, groups, d.X_synthetic_)
    for c in range(3):
        assert sorted(picked[4 * c : 4 * c + 4]) == ["a", "a", "b", "b"]


def test_init_real_is_the_deprecated_name_of_balanced(tabular):
    X, y, groups = tabular
    with pytest.warns(FutureWarning, match="init='balanced'"):
        old = fit(X, y, groups, ipc=4, n_iter=1, lr=1e-12, init="real")
    new = fit(X, y, groups, ipc=4, n_iter=1, lr=1e-12, init="balanced")
    np.testing.assert_array_equal(old.X_synthetic_, new.X_synthetic_)


def test_init_random_real_keeps_the_class_group_proportions():
    # 2 classes x 2 groups: group "b" is 20 % of class 0 and 60 % of class 1
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 1000)
    groups = np.where(rng.random(2000) < np.where(y == 0, 0.2, 0.6), "b", "a")
    X = rng.normal(size=(2000, 4))
    ipc, shares = 50, {0: [], 1: []}
    for seed in range(8):
        d = fit(X, y, groups, ipc=ipc, n_iter=1, lr=1e-12, random_state=seed)
        assert d.get_params()["init"] == "random_real"  # the default
        picked = _initial_groups(X, groups, d.X_synthetic_)
        for c in (0, 1):
            shares[c].append(np.mean(picked[ipc * c : ipc * (c + 1)] == "b"))
        balanced = fit(
            X, y, groups, ipc=ipc, n_iter=1, lr=1e-12, init="balanced", random_state=seed
        )
        picked = _initial_groups(X, groups, balanced.X_synthetic_)
        assert [np.sum(picked[ipc * c : ipc * (c + 1)] == "b") for c in (0, 1)] == [25, 25]
    # 400 draws per class: the share's standard error is about 0.02-0.025
    for c, share in ((0, 0.2), (1, 0.6)):
        assert abs(np.mean(shares[c]) - np.mean(groups[y == c] == "b")) < 0.07
        assert abs(np.mean(shares[c]) - share) < 0.08


# ---------------------------------------------------------------- containers and ranges
def test_dataframe_and_string_labels_round_trip(tabular):
    X, y, groups = tabular
    frame = pd.DataFrame(X, columns=list("vwxyz")).astype({"v": np.float32})
    frame["ints"] = (X[:, 0] > 0).astype(np.int64)
    labels = pd.Series(np.array(["cat", "dog", "emu"])[y], name="animal")
    X_frame = frame.copy()
    d = fit(frame, labels, groups)
    X_syn, y_syn = d.X_synthetic_, d.y_synthetic_
    assert isinstance(X_syn, pd.DataFrame) and list(X_syn.columns) == list(frame.columns)
    assert X_syn["v"].dtype == np.float32 and X_syn["ints"].dtype == np.float64
    assert isinstance(y_syn, pd.Series) and y_syn.name == "animal"
    assert list(y_syn) == ["cat"] * 3 + ["dog"] * 3 + ["emu"] * 3
    assert list(d.feature_names_in_) == list(frame.columns)
    pd.testing.assert_frame_equal(frame, X_frame)  # input untouched


def test_string_labels_stay_strings_in_numpy(tabular):
    X, y, groups = tabular
    labels = np.array(["x", "y", "z"])[y]
    y_syn = fit(X, labels, groups).y_synthetic_
    assert y_syn.dtype.kind == "U" and list(np.unique(y_syn)) == ["x", "y", "z"]


def test_synthetic_rows_come_back_in_the_original_scale():
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(1000, 50, 200), rng.normal(-3, 0.01, 200)]
    y = np.repeat([0, 1], 100)
    X_syn = fit(X, y, n_iter=2, lr=1e-6).X_synthetic_
    assert 800 < X_syn[:, 0].mean() < 1200 and -3.1 < X_syn[:, 1].mean() < -2.9


def test_images_nhwc_uint8_round_trip(images):
    X, y, groups = images
    original = X.copy()
    d = fit(X, y, groups, lr=50.0)
    X_syn = d.X_synthetic_
    # as learnt: float32 in the input's 0..255 scale, in the input's layout, not rounded
    assert X_syn.shape == (6, 8, 8, 3) and X_syn.dtype == np.float32
    assert not np.array_equal(X_syn, np.rint(X_syn))
    np.testing.assert_array_equal(X, original)
    # on request: the input's dtype and range
    X_u8, y_u8 = d.synthetic_as_input_dtype()
    assert X_u8.dtype == np.uint8 and X_u8.shape == X_syn.shape
    np.testing.assert_array_equal(X_u8, np.clip(np.rint(X_syn.astype(np.float64)), 0, 255))
    np.testing.assert_array_equal(y_u8, d.y_synthetic_)


def test_images_nchw_float_are_not_clipped_unless_asked(images):
    X, y, groups = images
    X = X.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0
    d = fit(X, y, groups, lr=50.0)
    X_syn = d.X_synthetic_
    assert X_syn.shape == (6, 3, 8, 8) and X_syn.dtype == np.float32
    assert X_syn.min() < X.min() or X_syn.max() > X.max()  # lr 50 leaves the range
    clipped, _ = d.synthetic_as_input_dtype()
    assert clipped.dtype == np.float32
    assert clipped.min() >= X.min() and clipped.max() <= X.max()
    np.testing.assert_array_equal(clipped, np.clip(X_syn, X.min(), X.max()))


@pytest.mark.parametrize("kind", ["uint8", "float"])
def test_the_scored_set_is_the_optimised_tensor_destandardised(images, tmp_path, kind):
    from skdistill._persistence import read_checkpoint
    from skdistill.evaluation import evaluate_synthetic

    X, y, groups = images
    if kind == "float":
        X = X.astype(np.float64) / 255.0
    d = fit(X, y, groups, lr=50.0, checkpoint_dir=tmp_path, checkpoint_every=1)
    optimised = read_checkpoint(tmp_path)["synthetic"].double().numpy()  # (N, C, H, W)
    flat = X.reshape(-1, 3)
    scale = 255.0 if kind == "uint8" else 1.0
    mean, std = d._codec.mean, d._codec.scale  # the standardisation fitted on X
    np.testing.assert_allclose(mean, (flat / scale).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(std, (flat / scale).std(axis=0), rtol=1e-12)
    mean, std = mean.reshape(1, 3, 1, 1), std.reshape(1, 3, 1, 1)
    expected = ((optimised * std + mean) * scale).transpose(0, 2, 3, 1)
    expected = expected.astype(np.float32 if kind == "uint8" else np.float64)
    X_syn, y_syn = d.X_synthetic_, d.y_synthetic_
    np.testing.assert_array_equal(X_syn, expected)
    # the evaluator trains on exactly these values
    seen = {}
    import skdistill.evaluation._evaluate as ev

    original = ev.fit_codec

    def spy(X_train):
        seen["X"] = X_train
        return original(X_train)

    ev.fit_codec = spy
    try:
        evaluate_synthetic(
            X_syn,
            y_syn,
            X[:10],
            y[:10],
            groups[:10],
            epochs=1,
            net_width=4,
            net_depth=2,
            random_state=0,
        )
    finally:
        ev.fit_codec = original
    np.testing.assert_array_equal(seen["X"], expected)


def test_grayscale_nhw_and_torch_tensors(images):
    X, y, groups = images
    gray = torch.as_tensor(X[..., 0].astype(np.float64) / 255.0)
    X_syn = fit(gray, torch.as_tensor(y), groups).X_synthetic_
    assert isinstance(X_syn, torch.Tensor) and tuple(X_syn.shape) == (6, 8, 8)


def test_keyboard_interrupt_keeps_the_last_completed_iteration(tabular, monkeypatch):
    X, y, groups = tabular
    calls = {"n": 0}
    original = DistributionMatching.match

    def flaky(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(DistributionMatching, "match", flaky)
    with pytest.warns(RuntimeWarning, match="interrupted after 2 of 5"):
        d = fit(X, y, groups, n_iter=5)
    assert d.n_iter_ == 2 and d.X_synthetic_.shape == (9, 5)
    monkeypatch.setattr(DistributionMatching, "match", original)
    np.testing.assert_array_equal(d.X_synthetic_, fit(X, y, groups, n_iter=2).X_synthetic_)


def test_non_finite_loss_names_the_iteration_and_keeps_the_last_good_set(tabular, monkeypatch):
    X, y, groups = tabular
    original = DistributionMatching.match
    calls = {"n": 0}

    def exploding(self, *args):
        calls["n"] += 1
        out = original(self, *args)
        return out * float("nan") if calls["n"] == 2 else out

    monkeypatch.setattr(DistributionMatching, "match", exploding)
    d = BarycentricDistiller(**dict(TINY, ipc=3, n_iter=4, log_every=1))
    with pytest.raises(FloatingPointError, match="iteration 1.*Lower lr"):
        d.fit(X, y, sensitive_features=groups)
    assert d.n_iter_ == 1 and np.isfinite(d.X_synthetic_).all()


def test_large_in_memory_inputs_are_converted_chunk_by_chunk(monkeypatch):
    import skdistill._data as data

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(50, 6, 6, 3), dtype=np.uint8)
    frame = pd.DataFrame(rng.normal(size=(50, 4)), columns=list("abcd"))
    whole = [data.fit_codec(x) for x in (images, frame)]
    encoded = [codec.encode(x) for codec, x in zip(whole, (images, frame))]
    # a few rows at a time: the same values, bit for bit
    monkeypatch.setattr(data, "ENCODE_CHUNK_BYTES", 7 * 8 * 108)
    for codec, x, expected in zip(whole, (images, frame), encoded):
        torch.testing.assert_close(codec.encode(x), expected, rtol=0, atol=0)
    # above FIT_CHUNKED_BYTES the statistics are read chunk by chunk: the same, to rounding
    monkeypatch.setattr(data, "FIT_CHUNKED_BYTES", 1000)
    monkeypatch.setattr(data, "STATS_CHUNK_BYTES", 9 * 8 * 108)
    chunked = data.fit_codec(images)
    np.testing.assert_allclose(chunked.mean, whole[0].mean, rtol=1e-12)
    np.testing.assert_allclose(chunked.scale, whole[0].scale, rtol=1e-12)
    assert chunked.value_range == whole[0].value_range and chunked.layout == whole[0].layout
