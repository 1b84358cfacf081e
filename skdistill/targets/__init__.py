"""Distillation targets: how the group statistics of a class combine into what is matched."""

from ._base import RowPlan, Target
from .barycenter import KINDS as BARYCENTERS
from .barycenter import barycenter, batched_barycenter
from .cobra import CobraTarget
from .fairdd import FairDDTarget
from .reweighted import ReweightedTarget
from .uniform import UniformTarget
from .vanilla import VanillaTarget

TARGETS = {
    "vanilla": VanillaTarget,
    "uniform": UniformTarget,
    "fairdd": FairDDTarget,
    "cobra": CobraTarget,
    "reweighted": ReweightedTarget,
}

__all__ = [
    "BARYCENTERS",
    "TARGETS",
    "barycenter",
    "batched_barycenter",
    "CobraTarget",
    "FairDDTarget",
    "ReweightedTarget",
    "RowPlan",
    "Target",
    "UniformTarget",
    "VanillaTarget",
]
