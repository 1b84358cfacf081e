"""Matching methods: which representation of the data is matched, and with what distance."""

from ._base import Method
from ._spec import CAFE, DC, DM, IDC, BuildContext, MethodSpec, RegisteredMethod
from .augment import DSA
from .cafe import FeatureAlignment
from .dc import GradientMatching, reference_loops
from .dm import DistributionMatching, weighted_row_sums
from .idc import InformationIntensiveMatching

METHODS = {
    "dm": DistributionMatching,
    "dc": GradientMatching,
    "idc": InformationIntensiveMatching,
    "cafe": FeatureAlignment,
}
#: The parameter object (:class:`MethodSpec`) of each method that has one, by name.
METHOD_SPECS = {spec.name: spec for spec in (DM, DC, IDC, CAFE)}

__all__ = [
    "CAFE",
    "DC",
    "DM",
    "DSA",
    "IDC",
    "METHODS",
    "METHOD_SPECS",
    "BuildContext",
    "MethodSpec",
    "RegisteredMethod",
    "DistributionMatching",
    "FeatureAlignment",
    "GradientMatching",
    "InformationIntensiveMatching",
    "Method",
    "reference_loops",
    "weighted_row_sums",
]
