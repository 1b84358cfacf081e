"""Baselines to compare distilled sets with."""

from ._random import random_subset

__all__ = ["random_subset"]
