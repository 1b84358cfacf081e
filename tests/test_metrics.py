import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import equalized_odds_difference as fl_eod

from skdistill.metrics import (
    equalized_odds_difference,
    fairlearn_crosscheck,
    fairlearn_metric_frame,
    recall_by_group,
)


def test_hand_made_recall_table_and_gaps():
    y_true = [0, 0, 1, 1, 0, 0, 1, 1, 2, 2]
    y_pred = [0, 0, 1, 0, 0, 1, 1, 1, 2, 0]
    groups = ["a", "a", "a", "a", "b", "b", "b", "b", "a", "b"]
    table = recall_by_group(y_true, y_pred, sensitive_features=groups)
    np.testing.assert_allclose(table.to_numpy(), [[1.0, 0.5], [0.5, 1.0], [1.0, 0.0]])
    assert equalized_odds_difference(y_true, y_pred, sensitive_features=groups) == 1.0
    mean = equalized_odds_difference(y_true, y_pred, sensitive_features=groups, agg="mean")
    assert mean == pytest.approx((0.5 + 0.5 + 1.0) / 3)


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_fairlearn_metric_frame_on_random_multiclass(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 6, 700)
    y_pred = np.where(rng.random(700) < 0.6, y_true, rng.integers(0, 6, 700))
    groups = rng.choice(["x", "y", "z", "w"], 700, p=[0.6, 0.2, 0.15, 0.05])
    check = fairlearn_crosscheck(y_true, y_pred, sensitive_features=groups)
    assert check.max_abs_difference < 1e-9
    assert abs(check.eod_max - check.eod_max_fairlearn) < 1e-9
    assert abs(check.eod_mean - check.eod_mean_fairlearn) < 1e-9
    assert check.eod_max == equalized_odds_difference(y_true, y_pred, sensitive_features=groups)
    assert check.eod_max > 0


def test_agrees_with_fairlearn_on_intersectional_groups():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 3, 500), rng.integers(0, 3, 500)
    sf = pd.DataFrame(
        {"sex": rng.choice(["F", "M"], 500), "race": rng.choice(["p", "q", "r"], 500)}
    )
    check = fairlearn_crosscheck(y_true, y_pred, sensitive_features=sf)
    assert check.max_abs_difference < 1e-9
    assert recall_by_group(y_true, y_pred, sensitive_features=sf).shape == (3, 6)


@pytest.mark.parametrize("seed", range(5))
def test_equals_fairlearn_equalized_odds_difference_on_binary(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, 400)
    y_pred = np.where(rng.random(400) < 0.7, y_true, 1 - y_true)
    groups = rng.choice(["a", "b", "c"], 400)
    ours = equalized_odds_difference(y_true, y_pred, sensitive_features=groups)
    assert ours == pytest.approx(fl_eod(y_true, y_pred, sensitive_features=groups), abs=1e-12)
    check = fairlearn_crosscheck(y_true, y_pred, sensitive_features=groups)
    assert check.eod_binary_fairlearn == pytest.approx(ours, abs=1e-12)


def test_string_labels_binary_matches_fairlearn():
    rng = np.random.default_rng(3)
    y_true = rng.choice(["<=50K", ">50K"], 300)
    y_pred = np.where(rng.random(300) < 0.8, y_true, rng.choice(["<=50K", ">50K"], 300))
    groups = rng.choice(["Female", "Male"], 300)
    check = fairlearn_crosscheck(y_true, y_pred, sensitive_features=groups)
    expected = fl_eod(y_true == ">50K", y_pred == ">50K", sensitive_features=groups)
    assert check.eod_max == pytest.approx(expected, abs=1e-12)


def test_empty_cells_are_excluded_not_zero_and_reported():
    y_true = [0, 0, 0, 1, 1, 1]
    y_pred = [0, 1, 0, 1, 1, 1]
    groups = ["a", "a", "b", "a", "a", "a"]  # no sample of class 1 in group b
    table = recall_by_group(y_true, y_pred, sensitive_features=groups)
    assert np.isnan(table.loc[1, "b"])
    with pytest.warns(UserWarning, match=r"1 \(class, group\) cell.*\(1, b\)"):
        eod = equalized_odds_difference(y_true, y_pred, sensitive_features=groups)
    assert eod == pytest.approx(0.5)  # class 0 only; class 1 is not a 1.0 gap against 0 recall
    frame = fairlearn_metric_frame(y_true, y_pred, sensitive_features=groups)
    assert np.isnan(frame.by_group.loc["b", "recall[1]"])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="agg must be 'max'"):
        equalized_odds_difference([0, 1], [0, 1], sensitive_features=[0, 0], agg="median")
    with pytest.raises(ValueError, match="y_pred: 3"):
        equalized_odds_difference([0, 1], [0, 1, 1], sensitive_features=[0, 0])
