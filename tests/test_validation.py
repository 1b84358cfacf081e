import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY

from skdistill import BarycentricDistiller


def fit(X, y, groups=None, **params):
    kw = dict(TINY, ipc=3)
    kw.update(params)
    return BarycentricDistiller(**kw).fit(X, y, sensitive_features=groups)


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
    with pytest.raises(ValueError, match="single class"):
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
