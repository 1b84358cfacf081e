"""Multi-class fairness criteria beside equalized odds, per class x group, max or mean.

Every criterion compares a rate between groups, class by class (one-vs-rest), and aggregates
the per-class gaps by their maximum (``agg="max"``, as EOD_M) or mean (``agg="mean"``, as
EOD_A). A (class, group) cell whose rate is undefined (no sample in its denominator) is
excluded, never counted as zero. On binary problems each criterion equals fairlearn's scalar
metric (see the tests), and on any problem each per-class gap equals a fairlearn
``MetricFrame``'s ``difference(method="between_groups")`` of the matching scikit-learn
metric: :func:`fairlearn_criteria_crosscheck` computes both.

=========================  ================================  ===============================
criterion                  rate in cell (class y, group a)   binary fairlearn counterpart
=========================  ================================  ===============================
demographic parity         P(Y_hat = y | A = a)              ``demographic_parity_difference``
equal opportunity          P(Y_hat = y | Y = y, A = a)       ``equal_opportunity_difference``
predictive parity          P(Y = y | Y_hat = y, A = a)       (``MetricFrame`` of precision)
(sufficiency)
accuracy                   P(Y_hat = Y | A = a), per group   ``accuracy_score_difference``
=========================  ================================  ===============================
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, precision_score, recall_score
from sklearn.utils import Bunch

from .._data import check_lengths, encode_groups
from ._equalized_odds import MSG_AGG, _as_1d, class_gaps
from ._fairlearn import _selection_rate

RATES = ("selection", "recall", "precision")


def rate_by_group(y_true, y_pred, *, sensitive_features, rate):
    """A class x group table of ``rate``: ``"selection"``, ``"recall"`` or ``"precision"``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    sensitive_features : array-like of shape (n_samples,) or (n_samples, n_attributes)
        Group of every sample; several columns give one group per combination.
    rate : {"selection", "recall", "precision"}
        ``P(Y_hat = y | A = a)``, ``P(Y_hat = y | Y = y, A = a)`` or
        ``P(Y = y | Y_hat = y, A = a)``.

    Returns
    -------
    DataFrame
        The classes of ``y_true`` and ``y_pred`` as rows, groups as columns; ``NaN`` where
        the rate's denominator is empty.
    """
    if rate not in RATES:
        raise ValueError(f"rate must be one of {list(RATES)}; got {rate!r}.")
    check_lengths(y_true=y_true, y_pred=y_pred, sensitive_features=sensitive_features)
    y_true = _as_1d(y_true, "y_true")
    y_pred = _as_1d(y_pred, "y_pred")
    groups, g = encode_groups(sensitive_features, y_true.shape[0])
    classes = np.unique(np.concatenate([y_true, y_pred]))
    n_c, n_g = classes.shape[0], groups.shape[0]
    t = np.searchsorted(classes, y_true)
    p = np.searchsorted(classes, y_pred)
    count = partial(np.bincount, minlength=n_c * n_g)
    if rate == "selection":
        numerator = count(p * n_g + g)
        denominator = np.tile(np.bincount(g, minlength=n_g), n_c)
    elif rate == "recall":
        numerator = count(t * n_g + g, weights=(t == p).astype(float))
        denominator = count(t * n_g + g)
    else:  # precision: hits counted by predicted class, over the predictions of that class
        numerator = count(p * n_g + g, weights=(t == p).astype(float))
        denominator = count(p * n_g + g)
    with np.errstate(invalid="ignore", divide="ignore"):
        table = np.where(denominator > 0, numerator / np.maximum(denominator, 1), np.nan)
    return pd.DataFrame(
        table.reshape(n_c, n_g),
        index=pd.Index(classes, name="class"),
        columns=pd.Index(groups, name="group"),
    )


def _aggregate(gaps: pd.Series, agg):
    if agg not in ("max", "mean"):
        raise ValueError(MSG_AGG.format(agg=agg).replace("(EOD_M)", "").replace("(EOD_A)", ""))
    gaps = gaps.dropna()
    if gaps.empty:
        return float("nan")
    return float(gaps.max() if agg == "max" else gaps.mean())


def demographic_parity_difference(y_true, y_pred, *, sensitive_features, agg="max"):
    """Demographic parity gap: per class, the spread of ``P(Y_hat = y | A = a)`` over groups.

    ``agg="max"`` takes the largest per-class gap, ``agg="mean"`` their mean. On binary
    problems both equal ``fairlearn.metrics.demographic_parity_difference`` (the two classes'
    selection rates are complements, so their gaps are equal).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels (``y_true`` only fixes the classes).
    sensitive_features : array-like of shape (n_samples,) or (n_samples, n_attributes)
        Group of every sample.
    agg : {"max", "mean"}, default="max"
        Aggregation over classes.

    Returns
    -------
    float
        The gap, between 0 and 1.

    Examples
    --------
    >>> from skdistill.metrics import demographic_parity_difference
    >>> groups = ["a", "a", "b", "b"]
    >>> demographic_parity_difference([0, 1, 0, 1], [1, 1, 0, 0], sensitive_features=groups)
    1.0
    """
    table = rate_by_group(y_true, y_pred, sensitive_features=sensitive_features, rate="selection")
    return _aggregate(class_gaps(table), agg)


def equal_opportunity_difference(y_true, y_pred, *, sensitive_features, pos_label=None, agg="max"):
    """Equal opportunity gap: the spread of the recall of the favourable class(es) over groups.

    For a favourable class ``y`` the gap is ``max_a - min_a`` of ``P(Y_hat = y | Y = y, A = a)``.
    ``pos_label`` names the favourable class or classes; by default the larger label of a
    binary problem (fairlearn's convention, and then the result equals
    ``fairlearn.metrics.equal_opportunity_difference``), or every class of a multi-class one —
    where equal opportunity for every class is the papers' equalized-odds difference (EOD).

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    sensitive_features : array-like of shape (n_samples,) or (n_samples, n_attributes)
        Group of every sample.
    pos_label : label, list of labels or None, default=None
        The favourable class(es).
    agg : {"max", "mean"}, default="max"
        Aggregation over the favourable classes.

    Returns
    -------
    float
        The gap, between 0 and 1.
    """
    table = rate_by_group(y_true, y_pred, sensitive_features=sensitive_features, rate="recall")
    table = table.loc[np.unique(_as_1d(y_true, "y_true"))]
    if pos_label is None:
        labels = [table.index[-1]] if table.shape[0] == 2 else list(table.index)
    else:
        labels = np.atleast_1d(pos_label).tolist()
        unknown = [label for label in labels if label not in table.index]
        if unknown:
            raise ValueError(
                f"pos_label {unknown} not among the classes of y_true {list(table.index)}."
            )
    return _aggregate(class_gaps(table.loc[labels]), agg)


def predictive_parity_difference(y_true, y_pred, *, sensitive_features, agg="max"):
    """Predictive parity (sufficiency) gap: per class, the spread of precision over groups.

    The precision of class ``y`` in group ``a`` is ``P(Y = y | Y_hat = y, A = a)``. The COBRA
    authors' code computes it as "sufficiency". A group that never receives a prediction of a
    class has no precision for it and is skipped for that class.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    sensitive_features : array-like of shape (n_samples,) or (n_samples, n_attributes)
        Group of every sample.
    agg : {"max", "mean"}, default="max"
        Aggregation over classes.

    Returns
    -------
    float
        The gap, between 0 and 1 (NaN when no class has a precision in two groups).
    """
    table = rate_by_group(y_true, y_pred, sensitive_features=sensitive_features, rate="precision")
    return _aggregate(class_gaps(table), agg)


def accuracy_by_group(y_true, y_pred, *, sensitive_features) -> pd.Series:
    """Accuracy within every group, ``P(Y_hat = Y | A = a)``."""
    check_lengths(y_true=y_true, y_pred=y_pred, sensitive_features=sensitive_features)
    y_true, y_pred = _as_1d(y_true, "y_true"), _as_1d(y_pred, "y_pred")
    groups, g = encode_groups(sensitive_features, y_true.shape[0])
    hits = np.bincount(g, weights=(y_true == y_pred).astype(float), minlength=groups.shape[0])
    return pd.Series(
        hits / np.bincount(g, minlength=groups.shape[0]),
        index=pd.Index(groups, name="group"),
        name="accuracy",
    )


def accuracy_difference(y_true, y_pred, *, sensitive_features, agg="max"):
    """Gap in accuracy between groups.

    ``agg="max"``: best minus worst group (equals
    ``fairlearn.metrics.accuracy_score_difference``); ``agg="mean"``: the mean absolute
    difference between a group's accuracy and the overall accuracy.
    """
    by_group = accuracy_by_group(y_true, y_pred, sensitive_features=sensitive_features)
    if agg == "max":
        return float(by_group.max() - by_group.min())
    if agg == "mean":
        overall = float(np.mean(_as_1d(y_true, "y_true") == _as_1d(y_pred, "y_pred")))
        return float((by_group - overall).abs().mean())
    raise ValueError(f"agg must be 'max' or 'mean'; got {agg!r}.")


def fairness_report(y_true, y_pred, *, sensitive_features) -> dict:
    """Every criterion, max and mean, plus the worst group's accuracy, as a flat dict."""
    kw = dict(sensitive_features=sensitive_features)
    out = {}
    for name, fn in (
        ("dp", demographic_parity_difference),
        ("eop", equal_opportunity_difference),
        ("ppd", predictive_parity_difference),
        ("acc_gap", accuracy_difference),
    ):
        for agg in ("max", "mean"):
            out[f"{name}_{agg}"] = fn(y_true, y_pred, agg=agg, **kw)
    out["worst_group_accuracy"] = float(accuracy_by_group(y_true, y_pred, **kw).min())
    return out


def fairlearn_criteria_crosscheck(y_true, y_pred, *, sensitive_features):
    """The per-class gaps of every criterion from skdistill and from fairlearn's ``MetricFrame``.

    fairlearn slices the data by group and calls scikit-learn's metrics (``recall_score``,
    ``precision_score`` with one label, a selection rate, ``accuracy_score``); skdistill
    counts per (class, group) cell. Returns a Bunch of DataFrames (``selection``,
    ``recall``, ``precision``: per-class gaps from both) and ``accuracy`` (a Series of the
    two best-minus-worst values), plus ``max_abs_difference`` over all of them.
    """
    y_true_arr, y_pred_arr = _as_1d(y_true, "y_true"), _as_1d(y_pred, "y_pred")
    groups = sensitive_features
    classes = np.unique(np.concatenate([y_true_arr, y_pred_arr]))

    scorers = {
        "selection": _selection_rate,
        "recall": lambda yt, yp, label: recall_score(
            yt, yp, labels=[label], average="macro", zero_division=np.nan
        ),
        "precision": lambda yt, yp, label: precision_score(
            yt, yp, labels=[label], average="macro", zero_division=np.nan
        ),
    }
    from fairlearn.metrics import MetricFrame

    result, worst = Bunch(), 0.0
    for rate, scorer in scorers.items():
        metrics = {str(c): partial(scorer, label=c) for c in classes}
        frame = MetricFrame(
            metrics=metrics, y_true=y_true_arr, y_pred=y_pred_arr, sensitive_features=groups
        )
        theirs = frame.difference(method="between_groups").to_numpy(dtype=float)
        ours = class_gaps(
            rate_by_group(y_true_arr, y_pred_arr, sensitive_features=groups, rate=rate)
        ).to_numpy()
        result[rate] = pd.DataFrame({"skdistill": ours, "fairlearn": theirs}, index=classes)
        both = ~(np.isnan(ours) | np.isnan(theirs))
        if (np.isnan(ours) != np.isnan(theirs)).any():
            worst = np.inf  # one side defined where the other is not
        elif both.any():
            worst = max(worst, float(np.abs(ours[both] - theirs[both]).max()))
    frame = MetricFrame(
        metrics=accuracy_score, y_true=y_true_arr, y_pred=y_pred_arr, sensitive_features=groups
    )
    ours = accuracy_difference(y_true_arr, y_pred_arr, sensitive_features=groups)
    result.accuracy = pd.Series({"skdistill": ours, "fairlearn": float(frame.difference())})
    result.max_abs_difference = max(worst, abs(result.accuracy.diff().iloc[-1]))
    return result
