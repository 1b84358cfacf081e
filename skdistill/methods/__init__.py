"""Matching methods: which representation of the data is matched, and with what distance."""

from ._base import Method
from ._experts import ExpertBuffers, load_experts, train_experts
from ._spec import CAFE, DC, DM, IDC, MTT, BuildContext, MethodSpec, RegisteredMethod
from .augment import DSA
from .cafe import FeatureAlignment
from .dc import GradientMatching, reference_loops
from .dm import DistributionMatching, weighted_row_sums
from .idc import InformationIntensiveMatching
from .mtt import TrajectoryMatching

METHODS = {
    "dm": DistributionMatching,
    "dc": GradientMatching,
    "idc": InformationIntensiveMatching,
    "cafe": FeatureAlignment,
    "mtt": TrajectoryMatching,
}
#: The parameter object (:class:`MethodSpec`) of each method that has one, by name.
METHOD_SPECS = {spec.name: spec for spec in (DM, DC, IDC, CAFE, MTT)}

__all__ = [
    "CAFE",
    "DC",
    "DM",
    "DSA",
    "IDC",
    "MTT",
    "METHODS",
    "METHOD_SPECS",
    "BuildContext",
    "MethodSpec",
    "RegisteredMethod",
    "DistributionMatching",
    "ExpertBuffers",
    "FeatureAlignment",
    "GradientMatching",
    "InformationIntensiveMatching",
    "Method",
    "TrajectoryMatching",
    "load_experts",
    "reference_loops",
    "train_experts",
    "weighted_row_sums",
]
