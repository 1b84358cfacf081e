"""Coloured renderings of grayscale digits: the palette and the biased Colored-X splits."""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

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
