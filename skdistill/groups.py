"""Imperfect group labels: corrupt or hide them (to test robustness), and impute missing ones.

``corrupt_groups`` and ``hide_groups`` reproduce the COBRA paper's label-noise (Appendix K)
and partial-label (Appendix L) settings; ``impute_groups`` is its K-means pseudo-labelling,
which :class:`~skdistill.BarycentricDistiller` runs with ``missing_groups="impute"``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
from sklearn.utils import Bunch, check_random_state

from ._data import _to_float_array, encode_groups


def _labels(sensitive_features):
    if isinstance(sensitive_features, (pd.Series, pd.DataFrame)):
        values = sensitive_features.to_numpy()
    else:
        values = np.asarray(sensitive_features, dtype=object)
    if values.ndim != 1:
        raise ValueError("sensitive_features must be 1-D here (one group label per sample).")
    return values


def _rng(random_state):
    return np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))


def corrupt_groups(sensitive_features, rate, *, random_state=None):
    """Replace a fraction ``rate`` of the group labels by a uniformly drawn *wrong* group.

    Parameters
    ----------
    sensitive_features : array-like of shape (n_samples,)
        Group labels.
    rate : float in [0, 1]
        Fraction of samples whose label is flipped (``rho`` in the COBRA paper).
    random_state : int, RandomState instance or None
        Seed of the draw.

    Returns
    -------
    noisy : ndarray of shape (n_samples,)
        The corrupted labels.
    flipped : ndarray of bool
        Which labels were changed.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must lie in [0, 1]; got {rate}.")
    values = _labels(sensitive_features)
    names, codes = np.unique(values, return_inverse=True)
    if names.shape[0] < 2 and rate > 0:
        raise ValueError("corrupting group labels needs at least two groups.")
    rng = _rng(random_state)
    flipped = np.zeros(values.shape[0], dtype=bool)
    chosen = rng.choice(values.shape[0], int(round(rate * values.shape[0])), replace=False)
    flipped[chosen] = True
    # a uniform draw among the other G - 1 groups: shift by 1..G-1 modulo G
    shift = rng.integers(1, names.shape[0], size=chosen.shape[0]) if chosen.size else 0
    noisy_codes = codes.copy()
    noisy_codes[chosen] = (codes[chosen] + shift) % names.shape[0]
    return names[noisy_codes], flipped


def hide_groups(sensitive_features, known_fraction, *, random_state=None):
    """Keep a fraction ``known_fraction`` of the group labels and mark the rest missing (None).

    Parameters
    ----------
    sensitive_features : array-like of shape (n_samples,)
        Group labels.
    known_fraction : float in [0, 1]
        Fraction of labels kept (``eta`` in the COBRA paper).
    random_state : int, RandomState instance or None
        Seed of the draw.

    Returns
    -------
    partial : ndarray of object, shape (n_samples,)
        The labels, ``None`` where hidden.
    known : ndarray of bool
        Which labels were kept.
    """
    if not 0.0 <= known_fraction <= 1.0:
        raise ValueError(f"known_fraction must lie in [0, 1]; got {known_fraction}.")
    values = _labels(sensitive_features).astype(object)
    n = values.shape[0]
    known = np.zeros(n, dtype=bool)
    known[_rng(random_state).choice(n, int(round(known_fraction * n)), replace=False)] = True
    partial = values.copy()
    partial[~known] = None
    return partial, known


def kmeans_impute(features, codes, n_clusters, seed):
    """Fill codes ``-1`` by K-means on ``features``.

    Each cluster takes the majority code of its known members; clusters without known
    members take the overall majority.
    """
    missing = codes < 0
    known_codes = codes[~missing]
    if known_codes.size == 0:
        raise ValueError(
            "every group label is missing; impute needs some known labels to name the clusters."
        )
    k = min(n_clusters, features.shape[0])
    clusters = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(features)
    fallback = np.bincount(known_codes).argmax()
    n_codes = int(codes.max()) + 1
    votes = np.zeros((k, n_codes), dtype=np.int64)
    np.add.at(votes, (clusters[~missing], known_codes), 1)
    cluster_code = np.where(votes.sum(axis=1) > 0, votes.argmax(axis=1), fallback)
    imputed = codes.copy()
    imputed[missing] = cluster_code[clusters[missing]]
    return imputed, clusters


def impute_groups(X, sensitive_features, *, n_clusters=None, random_state=None):
    """Impute missing group labels by K-means on the inputs (COBRA paper, Appendix L).

    The inputs are flattened and standardised; K-means groups all samples; each cluster is
    named by majority vote of its members with a known label, and that name fills the
    missing labels of the cluster.

    Parameters
    ----------
    X : array-like
        Inputs (tables or images), one row per label.
    sensitive_features : array-like of shape (n_samples,)
        Group labels with missing entries (None or NaN).
    n_clusters : int, default=None
        K-means clusters; the number of known groups when None.
    random_state : int, RandomState instance or None
        Seed of K-means.

    Returns
    -------
    imputed : ndarray of shape (n_samples,)
        Labels with the missing ones filled.
    info : Bunch
        ``n_missing``, ``fraction_missing``, ``n_clusters`` and ``clusters`` (cluster of
        every sample).
    """
    values = _labels(sensitive_features)
    names, codes = encode_groups(values, values.shape[0], allow_missing=True)
    missing = codes < 0
    features = _to_float_array(X).reshape(values.shape[0], -1)
    features = StandardScaler().fit_transform(features)
    k = n_clusters or max(names.shape[0], 1)
    seed = check_random_state(random_state).randint(2**31 - 1)
    imputed, clusters = kmeans_impute(features, codes, k, seed)
    info = Bunch(
        n_missing=int(missing.sum()),
        fraction_missing=float(missing.mean()),
        n_clusters=k,
        clusters=clusters,
    )
    return names[imputed], info
