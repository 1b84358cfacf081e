"""Recompute the equalized-odds gaps with fairlearn's MetricFrame, beside skdistill's."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from fairlearn.metrics import equalized_odds_difference as fl_equalized_odds_difference
from sklearn.metrics import recall_score
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
