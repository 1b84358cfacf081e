"""Recompute the equalized-odds gaps with fairlearn's MetricFrame, beside skdistill's."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from fairlearn.metrics import equalized_odds_difference as fl_equalized_odds_difference
from sklearn.metrics import accuracy_score, recall_score
from sklearn.utils import Bunch

from ._equalized_odds import class_gaps, recall_by_group


def fairlearn_metric_frame(y_true, y_pred, *, sensitive_features):
    """A fairlearn ``MetricFrame`` of per-class recall (one metric column per class).

    Cells with no sample of the class are ``NaN`` (``zero_division=np.nan``), so fairlearn's
    own ``difference(method="between_groups")`` skips them.
    """
    classes = np.unique(np.asarray(y_true))
    metrics = {
        f"recall[{c}]": partial(recall_score, labels=[c], average="macro", zero_division=np.nan)
        for c in classes
    }
    return MetricFrame(
        metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=sensitive_features
    )


def fairlearn_crosscheck(y_true, y_pred, *, sensitive_features):
    """EOD_M and EOD_A computed by skdistill and by fairlearn, side by side.

    skdistill counts hits per (class, group) cell; fairlearn's ``MetricFrame`` slices the data
    by group and calls scikit-learn's ``recall_score``. On binary problems the result also
    holds ``fairlearn.metrics.equalized_odds_difference``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    sensitive_features : array-like of shape (n_samples,) or (n_samples, n_attributes)
        Group of every sample.

    Returns
    -------
    Bunch
        ``eod_max``, ``eod_mean`` (skdistill), ``eod_max_fairlearn``, ``eod_mean_fairlearn``,
        ``max_abs_difference`` (largest disagreement over classes and aggregates),
        ``by_class`` (DataFrame of per-class gaps from both), ``metric_frame`` (the
        ``MetricFrame``), and ``eod_binary_fairlearn`` (binary problems only, else ``None``).
    """
    ours = class_gaps(recall_by_group(y_true, y_pred, sensitive_features=sensitive_features))
    frame = fairlearn_metric_frame(y_true, y_pred, sensitive_features=sensitive_features)
    theirs = frame.difference(method="between_groups")
    theirs.index = ours.index
    by_class = pd.DataFrame({"skdistill": ours, "fairlearn": theirs})
    result = Bunch(
        eod_max=float(ours.max()),
        eod_mean=float(ours.mean()),
        eod_max_fairlearn=float(theirs.max()),
        eod_mean_fairlearn=float(theirs.mean()),
        by_class=by_class,
        metric_frame=frame,
        eod_binary_fairlearn=None,
    )
    if ours.shape[0] == 2 and np.unique(np.asarray(y_pred)).shape[0] <= 2:
        positive = ours.index[1]
        result.eod_binary_fairlearn = float(
            fl_equalized_odds_difference(
                np.asarray(y_true) == positive,
                np.asarray(y_pred) == positive,
                sensitive_features=sensitive_features,
            )
        )
    diffs = [(ours - theirs).abs().max(), abs(result.eod_mean - result.eod_mean_fairlearn)]
    result.max_abs_difference = float(np.nanmax(diffs))
    return result


def model_metric_frame(estimator, X, y_true, *, sensitive_features, metrics=None):
    """A fairlearn ``MetricFrame`` of a fitted model's predictions on ``X``.

    The default metrics are accuracy, the selection rate of every class and the recall of
    every class (whose between-group differences are the equalized-odds gaps), so the result
    works with fairlearn's ``by_group``, ``difference()`` and plotting
    (``frame.by_group.plot.bar(subplots=True)``).

    Parameters
    ----------
    estimator : fitted classifier
        Anything with ``predict`` (a scikit-learn estimator, a ``DistilledClassifier``, a
        fairlearn mitigator).
    X : array-like
        Samples to predict.
    y_true : array-like of shape (n_samples,)
        True labels.
    sensitive_features : array-like
        Groups of the samples.
    metrics : dict or None, default=None
        fairlearn metrics ``{name: callable(y_true, y_pred)}`` replacing the defaults.

    Returns
    -------
    fairlearn.metrics.MetricFrame
    """
    y_pred = estimator.predict(X)
    if metrics is None:
        classes = np.unique(np.asarray(y_true))
        metrics = {"accuracy": accuracy_score}
        for c in classes:
            metrics[f"selection_rate[{c}]"] = partial(_selection_rate, label=c)
            metrics[f"recall[{c}]"] = partial(
                recall_score, labels=[c], average="macro", zero_division=np.nan
            )
    return MetricFrame(
        metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=sensitive_features
    )


def _selection_rate(y_true, y_pred, label):
    return float(np.mean(np.asarray(y_pred) == label))
