"""Fairness criteria beside EOD, against fairlearn's MetricFrame and scalar metrics."""

from functools import partial

import numpy as np
import pytest
from fairlearn import metrics as fl
from fairlearn.metrics import MetricFrame
from sklearn.metrics import accuracy_score, precision_score, recall_score

from skdistill.metrics import (
    accuracy_by_group,
    accuracy_difference,
    demographic_parity_difference,
    equal_opportunity_difference,
    equalized_odds_difference,
    fairlearn_criteria_crosscheck,
    fairness_report,
    predictive_parity_difference,
    rate_by_group,
)


def random_predictions(seed, n_classes, n=400, noise=0.5):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, n_classes, n)
    groups = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])
    wrong = rng.random(n) < noise + 0.2 * (groups == "c")  # group c is served worse
    y_pred = np.where(wrong, rng.integers(0, n_classes, n), y_true)
    return y_true, y_pred, groups


def frame_gaps(scorer, y_true, y_pred, groups, labels):
    """Per-class between-group gaps from fairlearn's MetricFrame over scikit-learn metrics."""
    metrics = {str(c): partial(scorer, label=c) for c in labels}
    frame = MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=groups)
    return frame.difference(method="between_groups").to_numpy(dtype=float)


def selection(yt, yp, label):
    return float(np.mean(np.asarray(yp) == label))


def recall(yt, yp, label):
    return recall_score(yt, yp, labels=[label], average="macro", zero_division=np.nan)


def precision(yt, yp, label):
    return precision_score(yt, yp, labels=[label], average="macro", zero_division=np.nan)


@pytest.mark.parametrize("seed", range(5))
def test_every_criterion_equals_metric_frame_on_multiclass_data(seed):
    y_true, y_pred, groups = random_predictions(seed, n_classes=5)
    labels = np.unique(y_true)
    kw = dict(sensitive_features=groups)
    for fn, scorer in (
        (demographic_parity_difference, selection),
        (equal_opportunity_difference, recall),
        (predictive_parity_difference, precision),
    ):
        gaps = frame_gaps(scorer, y_true, y_pred, groups, labels)
        assert fn(y_true, y_pred, agg="max", **kw) == pytest.approx(np.nanmax(gaps), abs=1e-12)
        assert fn(y_true, y_pred, agg="mean", **kw) == pytest.approx(np.nanmean(gaps), abs=1e-12)
    frame = MetricFrame(
        metrics=accuracy_score, y_true=y_true, y_pred=y_pred, sensitive_features=groups
    )
    assert accuracy_difference(y_true, y_pred, **kw) == pytest.approx(frame.difference())
    by_group = accuracy_by_group(y_true, y_pred, **kw)
    np.testing.assert_allclose(by_group.to_numpy(), frame.by_group.to_numpy())
    overall = accuracy_score(y_true, y_pred)
    mean_gap = np.mean(np.abs(frame.by_group.to_numpy() - overall))
    assert accuracy_difference(y_true, y_pred, agg="mean", **kw) == pytest.approx(mean_gap)
    # with every class favourable, equal opportunity is the papers' EOD
    assert equal_opportunity_difference(y_true, y_pred, **kw) == pytest.approx(
        equalized_odds_difference(y_true, y_pred, **kw)
    )
    assert fairlearn_criteria_crosscheck(y_true, y_pred, **kw).max_abs_difference < 1e-12


@pytest.mark.parametrize("seed", range(5))
def test_binary_criteria_equal_fairlearns_scalar_metrics(seed):
    y_true, y_pred, groups = random_predictions(seed, n_classes=2)
    kw = dict(sensitive_features=groups)
    dp = fl.demographic_parity_difference(y_true, y_pred, **kw)
    assert demographic_parity_difference(y_true, y_pred, **kw) == pytest.approx(dp)
    assert demographic_parity_difference(y_true, y_pred, agg="mean", **kw) == pytest.approx(dp)
    eop = fl.equal_opportunity_difference(y_true, y_pred, **kw)
    assert equal_opportunity_difference(y_true, y_pred, **kw) == pytest.approx(eop)
    acc = fl.accuracy_score_difference(y_true, y_pred, **kw)
    assert accuracy_difference(y_true, y_pred, **kw) == pytest.approx(acc)
    eod_mean = fl.equalized_odds_difference(y_true, y_pred, agg="mean", **kw)
    eop_both = equal_opportunity_difference(y_true, y_pred, pos_label=[0, 1], agg="mean", **kw)
    assert eop_both == pytest.approx(eod_mean)  # (TPR gap + TNR gap) / 2
    ppd = np.nanmax(frame_gaps(precision, y_true, y_pred, groups, [0, 1]))
    assert predictive_parity_difference(y_true, y_pred, **kw) == pytest.approx(ppd)


def test_undefined_cells_are_skipped_not_zero():
    # group b never receives a prediction of class 1: it has no precision there (NaN, not 0),
    # so class 1's gap compares group a with nobody, as MetricFrame's difference() does
    y_true = np.array([0, 1, 1, 0, 0, 1, 1, 0])
    y_pred = np.array([0, 1, 0, 0, 0, 0, 0, 0])
    groups = np.array(["a", "a", "a", "a", "b", "b", "b", "b"])
    cells = rate_by_group(y_true, y_pred, sensitive_features=groups, rate="precision")
    assert np.isnan(cells.loc[1, "b"]) and cells.loc[1, "a"] == 1.0
    table = fairlearn_criteria_crosscheck(y_true, y_pred, sensitive_features=groups)
    assert table.precision.loc[1].tolist() == [0.0, 0.0]
    precision_0 = cells.loc[0].to_numpy()  # 2/3 in group a, 2/4 in group b
    assert predictive_parity_difference(y_true, y_pred, sensitive_features=groups) == (
        pytest.approx(abs(precision_0[0] - precision_0[1]))
    )


def test_report_and_bad_arguments():
    y_true, y_pred, groups = random_predictions(0, n_classes=3)
    report = fairness_report(y_true, y_pred, sensitive_features=groups)
    assert set(report) == {
        f"{m}_{a}" for m in ("dp", "eop", "ppd", "acc_gap") for a in ("max", "mean")
    } | {"worst_group_accuracy"}
    assert report["worst_group_accuracy"] == pytest.approx(
        accuracy_by_group(y_true, y_pred, sensitive_features=groups)["c"]
    )
    with pytest.raises(ValueError, match="agg must be"):
        demographic_parity_difference(y_true, y_pred, sensitive_features=groups, agg="sum")
    with pytest.raises(ValueError, match=r"pos_label \[7\] not among the classes"):
        equal_opportunity_difference(y_true, y_pred, sensitive_features=groups, pos_label=7)
