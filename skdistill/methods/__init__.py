"""Matching methods: which representation of the data is matched, and with what distance."""

from ._base import Method
from .augment import DSA
from .cafe import FeatureAlignment
from .dc import GradientMatching, reference_loops
from .dm import DistributionMatching
from .idc import InformationIntensiveMatching

METHODS = {
    "dm": DistributionMatching,
    "dc": GradientMatching,
    "idc": InformationIntensiveMatching,
    "cafe": FeatureAlignment,
}

__all__ = [
    "DSA",
    "METHODS",
    "DistributionMatching",
    "FeatureAlignment",
    "GradientMatching",
    "InformationIntensiveMatching",
    "Method",
    "reference_loops",
]
