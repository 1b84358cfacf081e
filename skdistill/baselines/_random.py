"""The RANDOM baseline: ``ipc`` real samples per class, drawn at random."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.utils import check_random_state

from .._data import check_lengths, encode_groups, encode_labels, scalar
from .._sampling import ClassGroupIndex


def _take(obj, index):
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return obj.iloc[index].reset_index(drop=True)
    if isinstance(obj, torch.Tensor):
        return obj[torch.as_tensor(index)].clone()
    return np.asarray(obj)[index].copy()


def random_subset(X, y, ipc, *, sensitive_features=None, balanced=False, random_state=None):
    """``ipc`` real samples per class, ordered by class, in the input's containers.

    Parameters
    ----------
    X, y : array-like
        Training data and labels.
    ipc : int
        Samples per class; every class needs at least that many.
    sensitive_features : array-like, default=None
        Groups, used when ``balanced=True``.
    balanced : bool, default=False
        Draw each class's samples cycling through its groups (group-balanced) instead of
        uniformly at random.
    random_state : int, RandomState instance or None
        Seed of the draw.

    Returns
    -------
    X_subset, y_subset
        The drawn samples and their labels.
    """
    check_lengths(X=X, y=y, sensitive_features=sensitive_features)
    classes, codes = encode_labels(y)
    groups, g_codes = encode_groups(sensitive_features, codes.shape[0])
    index = ClassGroupIndex(codes, g_codes, classes.shape[0], groups.shape[0])
    sizes = index.counts.sum(axis=1)
    if (sizes < ipc).any():
        small = scalar(classes[np.argmin(sizes)])
        raise ValueError(f"class {small!r} has {sizes.min()} sample(s), fewer than ipc={ipc}.")
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
    picks = [
        index.balanced_pick(c, ipc, rng)
        if balanced
        else rng.choice(index.members(c), ipc, replace=False)
        for c in range(classes.shape[0])
    ]
    chosen = np.concatenate(picks)
    return _take(X, chosen), _take(y, chosen)
