"""Matching methods: which representation of the data is matched, and with what distance."""

from ._base import Method
from .dm import DistributionMatching

METHODS = {
    "dm": DistributionMatching,
}

__all__ = ["METHODS", "DistributionMatching", "Method"]
