"""Distillation targets: how the group statistics of a class combine into what is matched."""

from ._base import RowPlan, Target
from .cobra import CobraTarget
from .fairdd import FairDDTarget
from .uniform import UniformTarget
from .vanilla import VanillaTarget

TARGETS = {
    "vanilla": VanillaTarget,
    "uniform": UniformTarget,
    "fairdd": FairDDTarget,
    "cobra": CobraTarget,
}

__all__ = [
    "TARGETS",
    "CobraTarget",
    "FairDDTarget",
    "RowPlan",
    "Target",
    "UniformTarget",
    "VanillaTarget",
]
