"""Imperfect or absent group labels: corrupt, hide, impute or discover them.

``corrupt_groups`` and ``hide_groups`` reproduce the COBRA paper's label-noise (Appendix K)
and partial-label (Appendix L) settings; ``impute_groups`` is its K-means pseudo-labelling,
which :class:`~skdistill.BarycentricDistiller` runs with ``missing_groups="impute"``.
``discover_groups`` finds groups with no label at all (Gaussian mixtures per class, K by BIC)
and ``group_recovery`` scores found groups against true ones (adjusted Rand index).
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


# ---------------------------------------------------------------------------- no labels at all
def discover_groups(
    X,
    y,
    *,
    max_groups=4,
    features="network",
    n_components=10,
    epochs=3,
    net_width=None,
    device="auto",
    random_state=0,
):
    """Groups found without any group label: a Gaussian mixture per class, K chosen by BIC.

    For fairness without labels: the samples of each class are embedded (``features``,
    standardised over all samples) and reduced by PCA to ``n_components`` dimensions, and
    Gaussian mixtures (full covariances) with ``K = 1 .. max_groups`` components are fitted
    (on the PCA axes a group may lie along any direction, hence full covariances); the K with the
    lowest Bayesian information criterion (BIC) is kept, so a class without structure stays
    one group. The clusters are groups *within* their class (``"cluster k"``, numbered per
    class): the targets compare groups class by class, so they need not align across classes.
    Pass ``result.groups`` as ``sensitive_features``; :func:`group_recovery` scores them
    against true groups where those are known.

    Parameters
    ----------
    X : array-like
        Samples (a table or images).
    y : array-like of shape (n_samples,)
        Labels.
    max_groups : int, default=4
        Largest K tried per class.
    features : {"network", "raw"}, default="network"
        ``"network"``: penultimate features of a network trained on ``(X, y)`` for ``epochs``
        epochs (what an ERM model's representation separates, e.g. a spurious colour);
        ``"raw"``: the standardised inputs.
    n_components : int, default=10
        PCA dimensions before clustering.
    epochs, net_width, device :
        The network of ``features="network"``.
    random_state : int, default=0
        Seed of the network, the PCA and the mixtures.

    Returns
    -------
    Bunch
        ``groups`` (one label per sample), ``n_groups`` (K chosen per class), ``bic`` (a
        DataFrame of BIC per class and K).
    """
    from sklearn.decomposition import PCA
    from sklearn.mixture import GaussianMixture

    from ._data import check_lengths, encode_labels

    check_lengths(X=X, y=y)
    if int(max_groups) < 1:
        raise ValueError(f"max_groups must be at least 1; got {max_groups!r}.")
    classes, codes = encode_labels(y)
    embedding = _embedding(X, y, features, epochs, net_width, device, random_state)
    groups = np.empty(codes.shape[0], dtype=object)
    chosen, bic = {}, []
    for c, label in enumerate(classes):
        members = np.flatnonzero(codes == c)
        Z = embedding[members]  # globally standardised, so the PCA keeps the class's spread
        dims = max(1, min(n_components, Z.shape[1], members.shape[0] - 1))
        Z = PCA(n_components=dims, random_state=random_state).fit_transform(Z)
        best = None
        for k in range(1, min(int(max_groups), members.shape[0]) + 1):
            mixture = GaussianMixture(
                k, covariance_type="full", n_init=2, reg_covar=1e-3, random_state=random_state
            ).fit(Z)
            score = mixture.bic(Z)
            bic.append({"class": label, "k": k, "bic": score})
            if best is None or score < best[0]:
                best = (score, k, mixture)
        groups[members] = [f"cluster {j}" for j in best[2].predict(Z)]
        chosen[label] = best[1]
    return Bunch(groups=groups, n_groups=chosen, bic=pd.DataFrame(bic))


def group_recovery(true_groups, found_groups, y):
    """How well found groups recover true ones: the adjusted Rand index (ARI), per class.

    Groups matter within a class (where the targets compare them), so the ARI is computed
    class by class and averaged with the classes' sizes as weights; 1 is a perfect recovery
    (up to renaming), 0 is chance.

    Returns
    -------
    Bunch
        ``ari`` (the weighted mean) and ``by_class`` (a Series).
    """
    from sklearn.metrics import adjusted_rand_score

    from ._data import check_lengths

    check_lengths(true_groups=true_groups, found_groups=found_groups, y=y)
    true_groups, found_groups = _labels(true_groups), _labels(found_groups)
    y = np.asarray(y)
    classes, sizes = np.unique(y, return_counts=True)
    by_class = pd.Series(
        [adjusted_rand_score(true_groups[y == c], found_groups[y == c]) for c in classes],
        index=pd.Index(classes, name="class"),
        name="ari",
    )
    return Bunch(ari=float(np.average(by_class, weights=sizes)), by_class=by_class)


def density_weights(
    X,
    y,
    *,
    features="raw",
    n_components=10,
    bandwidth="scott",
    power=1.0,
    max_weight=None,
    epochs=3,
    net_width=None,
    device="auto",
    random_state=0,
):
    """Label-free sample weights: the inverse of each sample's density within its class.

    The label-free reweighting of Cui et al. (ICML 2024, "Mitigating bias in dataset
    distillation"): per class, a Gaussian kernel density estimate on the embedded samples
    (``features`` as in :func:`discover_groups`, reduced by PCA to ``n_components``) gives
    each sample a density ``p(x)``; its weight is ``p(x) ** -power``, normalised to mean 1
    within the class, so a rare mode of a class (an unlabelled minority group) counts as much
    in the class's statistics as a common one. Pass the result as
    ``fit(..., sample_weight=...)`` with ``target="vanilla"``.

    Parameters
    ----------
    X, y : array-like
        Samples and labels.
    features : {"raw", "network"}, default="raw"
        The embedding (see :func:`discover_groups`).
    n_components : int, default=10
        PCA dimensions of the density estimate.
    bandwidth : float or {"scott", "silverman"}, default="scott"
        Kernel bandwidth of :class:`sklearn.neighbors.KernelDensity` (on the PCA axes, whose
        spread is the class's own).
    power : float, default=1.0
        Exponent of the inverse density (0: uniform weights).
    max_weight : float or None, default=None
        Cap on any weight, as a multiple of the class mean (at least 1): weights are clipped
        and renormalised until none exceeds it.
    epochs, net_width, device, random_state :
        The network of ``features="network"``, and the seed of the PCA.

    Returns
    -------
    ndarray of shape (n_samples,)
        Non-negative weights, mean 1 within every class.
    """
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KernelDensity

    from ._data import check_lengths, encode_labels

    check_lengths(X=X, y=y)
    if power < 0:
        raise ValueError(f"power must be non-negative; got {power!r}.")
    if max_weight is not None and max_weight < 1:
        raise ValueError(f"max_weight must be at least 1 (the mean weight); got {max_weight!r}.")
    _, codes = encode_labels(y)
    embedding = _embedding(X, y, features, epochs, net_width, device, random_state)
    weights = np.empty(codes.shape[0])
    for c in range(int(codes.max()) + 1):
        members = np.flatnonzero(codes == c)
        dims = max(1, min(n_components, embedding.shape[1], members.shape[0] - 1))
        Z = PCA(n_components=dims, random_state=random_state).fit_transform(embedding[members])
        Z = Z / max(float(Z.std()), 1e-12)  # one scale for the bandwidth rule
        log_density = KernelDensity(bandwidth=bandwidth).fit(Z).score_samples(Z)
        w = np.exp(-power * (log_density - log_density.max()))
        w = w / w.mean()
        if max_weight is not None:
            w = _capped(w, max_weight)
        weights[members] = w
    return weights


def _capped(w, cap):
    """``min(s * w, cap)`` with the scale ``s`` that keeps the mean at 1 (water-filling)."""
    order = np.sort(w)[::-1]
    n, rest = w.shape[0], order.sum()
    for k in range(n):  # the k largest weights sit at the cap
        scale = (n - k * cap) / rest
        if order[k] * scale <= cap:
            return np.minimum(w * scale, cap)
        rest -= order[k]
    return np.full_like(w, 1.0)  # unreachable for cap >= 1


def _embedding(X, y, features, epochs, net_width, device, random_state):
    """Per-sample features, standardised over all samples (see :func:`discover_groups`)."""
    from ._data import fit_codec

    if features not in ("network", "raw"):
        raise ValueError(f"features must be 'network' or 'raw'; got {features!r}.")
    if features == "raw":
        return fit_codec(X).encode(X).reshape(np.shape(y)[0], -1).numpy()
    from .baselines import FairFeatureExtractor  # one group: class-balanced ERM training

    extractor = FairFeatureExtractor(
        epochs=epochs, net_width=net_width, device=device, random_state=random_state
    )
    return StandardScaler().fit_transform(extractor.fit(X, y, sensitive_features=None).transform(X))
