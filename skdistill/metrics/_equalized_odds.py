"""Multi-class equalized-odds gaps (EOD_M, EOD_A) from a class x group recall table."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .._data import check_lengths, encode_groups

MSG_AGG = "agg must be 'max' (EOD_M) or 'mean' (EOD_A); got {agg!r}."
MSG_EMPTY_CELLS = (
    "{n} (class, group) cell(s) of y_true have no samples: {cells}. They are excluded from the "
    "equalized-odds gaps, not counted as zero recall."
)


def _as_1d(values, name):
    arr = values.to_numpy() if isinstance(values, (pd.Series, pd.DataFrame)) else np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}.")
    return arr


def recall_by_group(y_true, y_pred, *, sensitive_features):
    """Recall of every class within every group, ``P(Y_hat = y | Y = y, A = a)``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    sensitive_features : array-like of shape (n_samples,) or (n_samples, n_attributes)
        Group of every sample; several columns give one group per combination.

    Returns
    -------
    DataFrame
        Classes of ``y_true`` as rows, groups as columns; ``NaN`` where a cell of ``y_true``
        has no sample (undefined recall, never zero).
    """
    check_lengths(y_true=y_true, y_pred=y_pred, sensitive_features=sensitive_features)
    y_true = _as_1d(y_true, "y_true")
    y_pred = _as_1d(y_pred, "y_pred")
    groups, g = encode_groups(sensitive_features, y_true.shape[0])
    classes, c = np.unique(y_true, return_inverse=True)
    n_c, n_g = classes.shape[0], groups.shape[0]
    cell = c * n_g + g
    support = np.bincount(cell, minlength=n_c * n_g)
    hits = np.bincount(cell, weights=(y_pred == y_true).astype(float), minlength=n_c * n_g)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, hits / np.maximum(support, 1), np.nan)
    return pd.DataFrame(
        recall.reshape(n_c, n_g),
        index=pd.Index(classes, name="class"),
        columns=pd.Index(groups, name="group"),
    )


def class_gaps(recall_table: pd.DataFrame) -> pd.Series:
    """Per class, the largest recall gap between two groups with samples (NaN cells skipped)."""
    return recall_table.max(axis=1, skipna=True) - recall_table.min(axis=1, skipna=True)


def equalized_odds_difference(y_true, y_pred, *, sensitive_features, agg="max"):
    """Multi-class equalized-odds difference of the COBRA / FairDD papers, in [0, 1].

    For each class ``y``, the gap is the difference between the best and the worst group
    recall ``P(Y_hat = y | Y = y, A = a)``. ``agg="max"`` returns EOD_M (the largest gap over
    classes), ``agg="mean"`` returns EOD_A (the mean gap). Empty (class, group) cells are
    excluded, with a warning naming them. On binary problems EOD_M equals
    ``fairlearn.metrics.equalized_odds_difference``.

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
        The gap, between 0 and 1 (multiply by 100 for the papers' points).

    Examples
    --------
    >>> from skdistill.metrics import equalized_odds_difference
    >>> y_true = [0, 0, 1, 1, 0, 0, 1, 1]
    >>> y_pred = [0, 0, 1, 1, 0, 1, 0, 0]
    >>> groups = ["a", "a", "a", "a", "b", "b", "b", "b"]
    >>> float(equalized_odds_difference(y_true, y_pred, sensitive_features=groups))
    1.0
    """
    if agg not in ("max", "mean"):
        raise ValueError(MSG_AGG.format(agg=agg))
    table = recall_by_group(y_true, y_pred, sensitive_features=sensitive_features)
    empty = table.isna().to_numpy()
    if empty.any():
        cells = [f"({table.index[i]}, {table.columns[j]})" for i, j in zip(*np.nonzero(empty))]
        shown = ", ".join(cells[:5]) + (" ..." if len(cells) > 5 else "")
        warnings.warn(MSG_EMPTY_CELLS.format(n=len(cells), cells=shown), UserWarning, stacklevel=2)
    gaps = class_gaps(table)
    return float(gaps.max() if agg == "max" else gaps.mean())
