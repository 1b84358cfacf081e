"""Datasets that ship with skdistill and work offline."""

from ._adult import adult_preprocessor, load_adult
from ._colored_mnist import COLOR_NAMES, PALETTE, colorize, load_colored_mnist

__all__ = [
    "COLOR_NAMES",
    "PALETTE",
    "adult_preprocessor",
    "colorize",
    "load_adult",
    "load_colored_mnist",
]
