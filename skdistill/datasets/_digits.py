"""Colored Digits: scikit-learn's 8x8 digits rendered in colour, with a colour bias (offline)."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from ._colors import PALETTE, colored_bunch

DESCR = """Colored Digits ({variant}) from scikit-learn's 1,797 8x8 handwritten digits.

Training split: {n_train} digits; a fraction skew={skew} of every class is rendered in its
majority colour (colour k mod {n_colors} for digit k), the rest spread evenly over the other
{n_minor} colours. Test split: the {n_test} held-out digits, each rendered in all {n_colors}
colours ({n_test_images} images). Images are uint8 arrays of shape (N, 3, 8, 8); groups are
colour names. Every (class, colour) cell of the training split is populated.
"""


def load_colored_digits(variant="bg", *, skew=0.9, n_colors=5, test_size=0.3, random_state=0):
    """Load Colored Digits: the 8x8 digits of scikit-learn with a colour bias, offline.

    A small, fast stand-in for Colored MNIST (each image is 8x8, so a ConvNet of depth 3
    reduces it to a single pixel). With the default 5 colours and ``skew=0.9`` every
    (class, colour) cell of the training split holds at least 3 digits; with 10 colours
    some cells would hold a single digit.

    Parameters
    ----------
    variant : {"bg", "fg"}, default="bg"
        Colour the background (digit in black) or the digit (black background).
    skew : float in [0, 1], default=0.9
        Fraction of every training class in its majority colour.
    n_colors : int in [2, 10], default=5
        Number of colours (groups).
    test_size : float, default=0.3
        Fraction of the digits held out (stratified by class); each is rendered in every
        colour.
    random_state : int, default=0
        Seed of the split and the colour assignment.

    Returns
    -------
    Bunch
        ``X_train`` (uint8, ``(n, 3, 8, 8)``), ``y_train``, ``sensitive_features_train``
        (colour names), ``X_test``, ``y_test``, ``sensitive_features_test``, ``palette``,
        ``color_names``, ``DESCR``.
    """
    if not 2 <= n_colors <= len(PALETTE):
        raise ValueError(f"n_colors must lie in [2, {len(PALETTE)}]; got {n_colors}.")
    digits = load_digits()
    d_train, d_test, y_train, y_test = train_test_split(
        digits.images,
        digits.target,
        test_size=test_size,
        stratify=digits.target,
        random_state=random_state,
    )
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
    bunch = colored_bunch(
        d_train,
        y_train,
        d_test,
        y_test,
        variant=variant,
        skew=skew,
        rng=rng,
        n_colors=n_colors,
        max_value=16.0,
        descr=DESCR.format(
            variant=variant,
            n_train=d_train.shape[0],
            skew=skew,
            n_colors=n_colors,
            n_minor=n_colors - 1,
            n_test=d_test.shape[0],
            n_test_images=d_test.shape[0] * n_colors,
        ),
    )
    return bunch
