"""Controlled-bias generators: group imbalance (SKEW) and group separation (GAP).

The COBRA paper separates two causes of bias amplification: how imbalanced the groups of a
class are (SKEW) and how far apart their representations lie (GAP). These functions set each
one on any dataset, so its effect can be swept. GAP is a property of the groups, so a GAP
experiment corrupts the same groups in the training and the test split: :func:`gap_split`
does both at once.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch, check_random_state

#: The cumulative GAP corruptions (COBRA paper, Appendix F): severity ``k`` applies the first
#: ``k`` steps, so every severity contains all the transformations of the lower ones.
GAP_STEPS = (
    ("channel_shuffle",),
    ("diagonal_line",),
    ("gaussian_noise", "second_line"),
    ("rotate_270", "invert", "gaussian_noise"),
)

#: Standard deviation of the GAP Gaussian noise, as a fraction of the value range.
GAP_NOISE = 0.1


def _rng(random_state):
    return np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))


def _codes(sensitive_features, n):
    values = np.asarray(sensitive_features, dtype=object)
    if values.shape != (n,):
        raise ValueError(
            f"sensitive_features must be 1-D with one group per sample ({n}); got shape "
            f"{values.shape}."
        )
    return values


def _reference_group(values, reference):
    if reference is None:
        names, counts = np.unique(values, return_counts=True)
        return names[np.argmax(counts)]
    if reference not in set(values.tolist()):
        raise ValueError(f"reference={reference!r} is not one of the groups {sorted(set(values))}.")
    return reference


def make_skewed(y, sensitive_features, skew, *, majority=None, random_state=None):
    """Indices of a subsample in which each class has a ``skew`` fraction of its majority group.

    For every class the largest subsample with the requested fraction is kept: either all its
    minority samples and as many majority samples as needed, or all its majority samples and
    a uniform subset of the minority ones.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels.
    sensitive_features : array-like of shape (n_samples,)
        Group labels.
    skew : float in [0, 1]
        Fraction of each class in its majority group after subsampling.
    majority : dict or None, default=None
        ``{class: group}`` majority group of each class; its most frequent group when None.
    random_state : int, RandomState instance or None
        Seed of the subsampling.

    Returns
    -------
    ndarray of int
        Sorted indices into the input arrays.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.repeat([0, 1], 100); a = np.tile(["x", "y"], 100)
    >>> idx = make_skewed(y, a, 0.8, majority={0: "x", 1: "y"}, random_state=0)
    >>> [round(float(np.mean(a[idx][y[idx] == c] == m)), 2) for c, m in ((0, "x"), (1, "y"))]
    [0.8, 0.8]
    """
    if not 0.0 <= skew <= 1.0:
        raise ValueError(f"skew must lie in [0, 1]; got {skew}.")
    y = np.asarray(y)
    groups = _codes(sensitive_features, y.shape[0])
    rng = _rng(random_state)
    keep = []
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        names, counts = np.unique(groups[members], return_counts=True)
        major = names[np.argmax(counts)] if majority is None else majority[cls]
        maj = rng.permutation(members[groups[members] == major])
        mino = rng.permutation(members[groups[members] != major])
        if skew >= 1.0:
            n_maj, n_min = maj.shape[0], 0
        elif skew <= 0.0:
            n_maj, n_min = 0, mino.shape[0]
        elif maj.shape[0] * (1 - skew) >= skew * mino.shape[0]:  # enough majority samples
            n_min = mino.shape[0]
            n_maj = min(maj.shape[0], int(round(skew / (1 - skew) * n_min)))
        else:
            n_maj = maj.shape[0]
            n_min = min(mino.shape[0], int(round((1 - skew) / skew * n_maj)))
        keep += [maj[:n_maj], mino[:n_min]]
    return np.sort(np.concatenate(keep))


def _line(images, high, anti):
    h, w = images.shape[-2:]
    rows = np.arange(min(h, w))
    cols = (w - 1 - rows) if anti else rows
    images[..., rows, cols] = high
    return images


def _gap_step(images, step, low, high, rng):
    if step == "channel_shuffle":
        return np.roll(images, -1, axis=1)  # [R, G, B] -> [G, B, R]
    if step in ("diagonal_line", "second_line"):
        return _line(images, high, anti=step == "second_line")
    if step == "gaussian_noise":
        noisy = images + rng.normal(0, GAP_NOISE * (high - low), images.shape)
        return np.clip(noisy, low, high)
    if step == "rotate_270":
        return np.rot90(images, k=3, axes=(-2, -1))
    return low + high - images  # invert


def _check_severity(severity):
    if severity not in range(len(GAP_STEPS) + 1):
        raise ValueError(f"severity must be an integer in 0..{len(GAP_STEPS)}; got {severity!r}.")


def _check_images(X, name="X"):
    X = np.asarray(X)
    if X.ndim != 4:
        raise ValueError(f"{name} must be images of shape (N, C, H, W); got shape {X.shape}.")
    return X


def _gap_images(X, target, severity, random_state):
    """Copy of ``X`` with the images where ``target`` holds corrupted at ``severity``."""
    low, high = (0.0, 255.0) if X.dtype == np.uint8 else (float(X.min()), float(X.max()))
    seed = check_random_state(random_state).randint(2**31 - 1)
    images = X[target].astype(np.float64)
    for level, steps in enumerate(GAP_STEPS[:severity]):
        for k, step in enumerate(steps):
            rng = np.random.default_rng([seed, level, k])
            images = _gap_step(images, step, low, high, rng)
    out = X.copy()
    out[target] = np.rint(images).astype(X.dtype) if X.dtype == np.uint8 else images.astype(X.dtype)
    return out


def apply_gap(X, sensitive_features, severity, *, reference=None, random_state=None):
    """Corrupt every group but ``reference`` with the COBRA paper's nested GAP severity.

    Severity 0 returns the images unchanged; each higher severity adds its steps (see
    :data:`GAP_STEPS`) to the lower one's: 1 channel shuffle; 2 a diagonal line; 3 Gaussian
    noise and a second line; 4 a 270 degree rotation, the negative image, and more noise.
    Every step draws its noise from its own seed, so severity ``k`` is exactly severity
    ``k - 1`` followed by step ``k``.

    This corrupts one array. In a GAP experiment the corrupted groups must look different
    in the test split too (the COBRA paper's "GAP = 0 gives EOD = 0 by construction" holds
    only then), with the same reference group: use :func:`gap_split`, which corrupts both
    splits of a dataset at once, rather than calling this on the training images alone.

    Parameters
    ----------
    X : ndarray of shape (N, C, H, W)
        Images, uint8 (0-255) or float (their own min-max range is kept).
    sensitive_features : array-like of shape (N,)
        Group of every image.
    severity : int in 0..4
        GAP level ``alpha``.
    reference : group label or None, default=None
        The group left clean; the most frequent group when None.
    random_state : int, RandomState instance or None
        Seed of the noise.

    Returns
    -------
    ndarray
        A corrupted copy of ``X`` with its dtype.

    See Also
    --------
    gap_split : the same corruption on the training and the test split of a dataset.
    """
    _check_severity(severity)
    X = _check_images(X)
    groups = _codes(sensitive_features, X.shape[0])
    target = groups != _reference_group(groups, reference)
    return _gap_images(X, target, severity, random_state)


def gap_split(data, severity, *, reference=None, random_state=None):
    """A dataset with the same GAP corruption on its training and its test split.

    GAP (COBRA paper, Section 5.2 and Appendix F) is a property of the groups: a corrupted
    group looks different wherever it appears, so its test images are corrupted too, and
    GAP = 0 leaves both splits clean (hence EOD = 0 by construction when the groups are
    otherwise identical). The reference group is chosen once, on the training split, and
    left clean in both splits; every other group is corrupted in both splits with the same
    severity (see :func:`apply_gap` for the steps). The noise of severities 3 and 4 is drawn
    independently for the two splits, the training split's first: with an int
    ``random_state`` the training images are exactly ``apply_gap(data.X_train,
    data.sensitive_features_train, severity, reference=reference,
    random_state=random_state)``.

    Parameters
    ----------
    data : Bunch
        A dataset as the loaders of :mod:`skdistill.datasets` return it: images
        ``X_train`` and ``X_test`` of shape (N, C, H, W), uint8 or float, and their groups
        ``sensitive_features_train`` and ``sensitive_features_test``.
    severity : int in 0..4
        GAP level ``alpha``.
    reference : group label or None, default=None
        The group left clean in both splits; the most frequent group of the training
        split when None.
    random_state : int, RandomState instance or None
        Seed of the noise.

    Returns
    -------
    Bunch
        A shallow copy of ``data`` whose ``X_train`` and ``X_test`` are corrupted copies
        (the input is not modified), with ``gap_severity`` and ``gap_reference`` added.

    Examples
    --------
    >>> from skdistill.datasets import gap_split, load_colored_digits
    >>> data = gap_split(load_colored_digits(), 1, random_state=0)
    >>> data.gap_severity, str(data.gap_reference)
    (1, 'green')
    """
    _check_severity(severity)
    X_train = _check_images(data["X_train"], "X_train")
    X_test = _check_images(data["X_test"], "X_test")
    groups_train = _codes(data["sensitive_features_train"], X_train.shape[0])
    groups_test = _codes(data["sensitive_features_test"], X_test.shape[0])
    ref = _reference_group(groups_train, reference)
    rng = check_random_state(random_state)  # one stream: train draws first, test next
    out = Bunch(**data)
    out.X_train = _gap_images(X_train, groups_train != ref, severity, rng)
    out.X_test = _gap_images(X_test, groups_test != ref, severity, rng)
    out.gap_severity = severity
    out.gap_reference = ref
    return out


def apply_offset(X, sensitive_features, gamma, *, reference=None, strength=0.1):
    """Semantic-preserving separation: ``x + gamma * v_a`` for every group but ``reference``.

    ``v_a`` is a constant colour-channel shift of ``strength`` times the value range, along
    a different channel for each shifted group (COBRA paper, Appendix N.1); the class
    content of the image is untouched. Values are clipped to the value range. Like GAP, the
    shift belongs to the group: shift the test split too, passing the training split's
    ``reference`` explicitly (a group-balanced test split has no most frequent group).

    Parameters
    ----------
    X : ndarray of shape (N, C, H, W)
        Images, uint8 or float.
    sensitive_features : array-like of shape (N,)
        Group of every image.
    gamma : float >= 0
        Separation multiplier (GAP).
    reference : group label or None, default=None
        The group left unshifted; the most frequent group when None.
    strength : float, default=0.1
        Norm of ``v_a`` as a fraction of the value range.

    Returns
    -------
    ndarray
        A shifted copy of ``X`` with its dtype.
    """
    if gamma < 0:
        raise ValueError(f"gamma must be non-negative; got {gamma}.")
    X = np.asarray(X)
    if X.ndim != 4:
        raise ValueError(f"X must be images of shape (N, C, H, W); got shape {X.shape}.")
    groups = _codes(sensitive_features, X.shape[0])
    ref = _reference_group(groups, reference)
    low, high = (0.0, 255.0) if X.dtype == np.uint8 else (float(X.min()), float(X.max()))
    out = X.astype(np.float64)
    shifted = [g for g in sorted(set(groups.tolist()), key=str) if g != ref]
    for k, group in enumerate(shifted):
        v = np.zeros(X.shape[1])
        v[k % X.shape[1]] = strength * (high - low)
        out[groups == group] += gamma * v[None, :, None, None]
    out = np.clip(out, low, high)
    return np.rint(out).astype(X.dtype) if X.dtype == np.uint8 else out.astype(X.dtype)


def make_biased_classification(
    n_samples=2000,
    n_features=10,
    *,
    n_classes=2,
    n_groups=2,
    skew=0.9,
    separation=2.0,
    class_sep=2.0,
    random_state=None,
):
    """Tabular data with controllable group imbalance (SKEW) and group separation (GAP).

    Class ``y`` is centred at a random point at distance ``class_sep`` from the origin;
    group ``a > 0`` adds an offset of norm ``separation`` along its own random direction
    (group 0 adds none); unit Gaussian noise is added. Within class ``y`` the majority group
    ``y mod n_groups`` holds a ``skew`` fraction of the samples, the others share the rest
    evenly; ``skew = 1 / n_groups`` gives balanced groups (e.g. for a test set).

    Parameters
    ----------
    n_samples, n_features : int
        Size of the data.
    n_classes, n_groups : int
        Numbers of classes and groups.
    skew : float in [0, 1]
        Majority-group fraction of every class.
    separation : float >= 0
        Distance between the group means of a class.
    class_sep : float >= 0
        Distance of the class means from the origin.
    random_state : int, RandomState instance or None
        Seed; the class and group directions depend only on it, so two calls with the same
        seed and different ``skew`` share their geometry.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of int
    sensitive_features : ndarray of int
    """
    if not 0.0 <= skew <= 1.0:
        raise ValueError(f"skew must lie in [0, 1]; got {skew}.")
    if n_groups < 1 or n_classes < 2:
        raise ValueError("need n_classes >= 2 and n_groups >= 1.")
    seed = check_random_state(random_state).randint(2**31 - 1)
    geometry = np.random.default_rng([seed, 0])
    rng = np.random.default_rng([seed, 1, int(round(skew * 1e6))])

    def directions(n):
        d = geometry.normal(size=(n, n_features))
        return d / np.linalg.norm(d, axis=1, keepdims=True)

    centres = class_sep * directions(n_classes)
    offsets = np.vstack([np.zeros((1, n_features)), separation * directions(n_groups - 1)])
    y = np.arange(n_samples) % n_classes
    groups = np.empty(n_samples, dtype=np.int64)
    for cls in range(n_classes):
        members = rng.permutation(np.flatnonzero(y == cls))
        major = cls % n_groups
        n_major = int(round(skew * members.shape[0])) if n_groups > 1 else members.shape[0]
        others = [g for g in range(n_groups) if g != major]
        groups[members[:n_major]] = major
        if others:
            groups[members[n_major:]] = np.resize(others, members.shape[0] - n_major)
    X = centres[y] + offsets[groups] + rng.normal(size=(n_samples, n_features))
    return X, y.astype(np.int64), groups
