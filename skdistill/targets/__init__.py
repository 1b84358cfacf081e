"""Distillation targets: how the group statistics of a class combine into what is matched."""

from ._base import PLAN_KINDS, TRAJECTORY_BUFFERS, CloudPlan, RowPlan, Target, TrajectoryPlan
from .barycenter import KINDS as BARYCENTERS
from .barycenter import barycenter, batched_barycenter
from .cobra import CobraTarget
from .fairdd import FairDDTarget
from .mmd import MMDTarget
from .reweighted import ReweightedTarget
from .uniform import UniformTarget
from .vanilla import VanillaTarget
from .wasserstein import WassersteinTarget

TARGETS = {
    "vanilla": VanillaTarget,
    "uniform": UniformTarget,
    "fairdd": FairDDTarget,
    "cobra": CobraTarget,
    "reweighted": ReweightedTarget,
    "wasserstein": WassersteinTarget,
    "mmd": MMDTarget,
}

__all__ = [
    "BARYCENTERS",
    "PLAN_KINDS",
    "TARGETS",
    "TRAJECTORY_BUFFERS",
    "barycenter",
    "batched_barycenter",
    "CloudPlan",
    "CobraTarget",
    "FairDDTarget",
    "MMDTarget",
    "ReweightedTarget",
    "RowPlan",
    "Target",
    "TrajectoryPlan",
    "UniformTarget",
    "VanillaTarget",
    "WassersteinTarget",
]
