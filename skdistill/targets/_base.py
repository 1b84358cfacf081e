"""What a target is: how a class's real batch is drawn and weighted into matching rows.

Trajectory methods (MTT) match no real batch: their targets say which expert buffers to read
and how to combine their checkpoints (a :class:`TrajectoryPlan`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone

from .barycenter import batched_barycenter

#: The kinds of plan a target may hand a method, and what each asks the method for.
PLAN_KINDS = {
    "rows": "weighted sums of per-sample representations",
    "clouds": "distributions of per-sample representations",
    "trajectories": "parameter trajectories of expert networks",
}

#: The expert buffers a trajectory target may ask for: one buffer trained on all the data,
#: one trained on group-balanced draws of it, or one buffer per protected group.
TRAJECTORY_BUFFERS = ("all", "balanced", "groups")

MSG_NO_TRAJECTORIES = (
    "target={target!r} has no trajectory target, so trajectory methods (method='mtt') cannot "
    "serve it; use target='vanilla', 'uniform', 'fairdd' or 'cobra' with method='mtt'."
)


@dataclass
class RowPlan:
    """How the samples of one real batch form the real statistics to be matched.

    Every sample ``i`` contributes ``weight[i] * phi(x_i)`` to the statistic of row ``row[i]``;
    row ``r`` is matched against the synthetic statistic of class ``row_class[r]``. A target
    with one row per class (vanilla, uniform, COBRA) is a weighted mean; FairDD has one row per
    (class, group) present in the batch.
    """

    kind: ClassVar[str] = "rows"

    row: np.ndarray
    weight: np.ndarray
    row_class: np.ndarray
    #: Optional map from the row statistics to the matched targets and their classes (e.g.
    #: per-group statistics to one barycenter per class); ``None`` matches the rows as they are.
    combine: Callable | None = None

    @property
    def n_rows(self) -> int:
        """Number of real statistics computed from the batch."""
        return int(self.row_class.shape[0])

    @property
    def sample_class(self) -> np.ndarray:
        """Class of every sample of the batch."""
        return self.row_class[self.row]

    def targets(self, statistics):
        """The matched targets and their classes, from the row statistics."""
        if self.combine is None:
            return statistics, self.row_class
        return self.combine(statistics)


@dataclass
class CloudPlan:
    """How the samples of one real batch are matched as distributions, class by class.

    Where a :class:`RowPlan` reduces the batch to weighted sums, a cloud plan keeps every
    sample: for each class ``y``, the method hands :attr:`discrepancy` the per-sample
    representations of the class's real samples with their weights and groups, and those of
    the class's synthetic samples; the loss is the sum of these terms over the classes of the
    batch. Targets that match more than a mean (a Wasserstein barycenter, an MMD) use it.

    ``discrepancy(real, weight, group, synthetic)`` receives ``real`` of shape ``(n_y, d)``
    (detached), ``weight`` a tensor ``(n_y,)`` summing to 1 on the device of ``real``, ``group``
    the ndarray ``(n_y,)`` of group codes, and ``synthetic`` ``(m, d)`` (differentiable, ``m``
    training views of the class's synthetic samples, each of weight ``1 / m``); it returns a
    scalar tensor.
    """

    kind: ClassVar[str] = "clouds"

    sample_class: np.ndarray
    weight: np.ndarray
    group: np.ndarray
    discrepancy: Callable


@dataclass
class TrajectoryPlan:
    """How the expert buffers of a dataset form the start and target points of MTT.

    A trajectory method reads, at one start epoch ``t``, one expert checkpoint per buffer
    (``buffers="all"`` or ``"balanced"``: one buffer; ``"groups"``: one per protected group,
    in the order of the groups), stacks them into ``points`` of shape ``(n_buffers, P)`` and
    asks :meth:`points` for the ``n_terms`` start points (from the checkpoints at ``t``) and
    target points (at ``t + M``) it matches. Its loss is ``sum_k loss_weight[k] * L_k``, where
    ``L_k`` is the normalised parameter distance of a student started from start point ``k``.
    COBRA has one term whose points are the (weighted) mean of the group checkpoints; FairDD
    one term per group, summed; vanilla and uniform one term, one buffer.

    Parameters
    ----------
    buffers : {"all", "balanced", "groups"}
        Which expert buffers the points come from.
    point_weights : ndarray of shape (n_terms, n_buffers)
        Row ``k``: the weights of the buffers in term ``k``'s points (each row sums to 1).
    loss_weights : ndarray of shape (n_terms,)
        Weight of every term's loss.
    barycenter : str, default="mean"
        How a row of weights combines the checkpoints: ``"mean"``, their weighted mean;
        another kind of :func:`skdistill.targets.barycenter` (COBRA's discrepancies), the
        barycenter of the checkpoints under it.
    delta : float, default=1.0
        Relative Huber threshold of ``barycenter="huber"``.
    """

    kind: ClassVar[str] = "trajectories"

    buffers: str
    point_weights: np.ndarray
    loss_weights: np.ndarray
    barycenter: str = "mean"
    delta: float = 1.0

    @property
    def n_terms(self) -> int:
        """Number of matched (start, target) pairs, i.e. of student unrolls per step."""
        return int(self.point_weights.shape[0])

    def points(self, checkpoints):
        """``(n_terms, P)`` points from ``(n_buffers, P)`` checkpoints (one per buffer)."""
        w = torch.as_tensor(self.point_weights, dtype=checkpoints.dtype, device=checkpoints.device)
        if self.barycenter == "mean":
            return w @ checkpoints
        stacked = checkpoints.expand(self.n_terms, *checkpoints.shape)
        return batched_barycenter(stacked, w, self.barycenter, delta=self.delta)


def reweight_plan(plan, sample_weight):
    """``plan`` with every sample's weight times ``sample_weight``, each row renormalised.

    A row (of a :class:`RowPlan`; a class of a :class:`CloudPlan`) keeps its total weight;
    a row whose samples all weigh zero in this batch keeps its weights unchanged.
    """
    segment = plan.row if isinstance(plan, RowPlan) else plan.sample_class
    before = np.bincount(segment, weights=plan.weight)
    weight = plan.weight * sample_weight
    after = np.bincount(segment, weights=weight, minlength=before.shape[0])
    scale = np.divide(before, after, out=np.zeros_like(before), where=after > 0)
    weight = np.where(after[segment] > 0, weight * scale[segment], plan.weight)
    return dataclasses.replace(plan, weight=weight)


def cell_rows(classes, groups, n_groups):
    """One row per (class, group) cell present.

    Returns the row of each sample, and the class and group of each row.
    """
    cells, row = np.unique(classes * n_groups + groups, return_inverse=True)
    return row, cells // n_groups, cells % n_groups


def segment_mean_weights(segment, n_segments):
    """Weights ``1 / |segment|`` so that each segment's weighted sum is its plain mean."""
    counts = np.bincount(segment, minlength=n_segments)
    return 1.0 / counts[segment]


class Target(BaseEstimator):
    """Base class of distillation targets.

    A target never knows which method computes the per-sample representation: it only
    decides how real batches are sampled (``stratified``) and how their samples are
    grouped and weighted into matching rows, or into weighted clouds matched as
    distributions (:meth:`plan`, of kind :attr:`plan_kind`). A target with
    :attr:`trajectory_buffers` also serves trajectory methods: :meth:`trajectory_plan` says
    which expert buffers they read and how the checkpoints combine.

    Targets are scikit-learn-style parameter objects: their settings are keyword arguments
    stored unchanged, declared in ``_parameter_constraints`` and checked when a fit resolves
    the target (:meth:`resolve`); ``get_params``/``set_params`` reach them, so a grid search
    over the distiller sees ``target__<name>``.
    """

    name = "base"
    #: Display name in reports (tables, figures); the registry name when None.
    label = None
    _parameter_constraints: dict = {}
    stratified = True
    #: Kind of plan returned by :meth:`plan` (a key of :data:`PLAN_KINDS`); a method takes
    #: the kinds in its ``plan_kinds``.
    plan_kind = "rows"
    #: The expert buffers of :meth:`trajectory_plan` (one of :data:`TRAJECTORY_BUFFERS`), or
    #: None for a target without a trajectory target.
    trajectory_buffers = None

    @classmethod
    def plan_kinds(cls) -> frozenset:
        """Every kind of plan the target hands out: :attr:`plan_kind`, and ``"trajectories"``."""
        extra = {"trajectories"} if cls.trajectory_buffers is not None else set()
        return frozenset({cls.plan_kind, *extra})

    def trajectory_plan(self, n_groups) -> TrajectoryPlan:
        """The :class:`TrajectoryPlan` of a dataset with ``n_groups`` groups.

        One term, the one buffer's checkpoints as they are; targets reading per-group buffers
        override it.
        """
        if self.trajectory_buffers is None:
            raise ValueError(MSG_NO_TRAJECTORIES.format(target=self.name))
        return TrajectoryPlan(
            buffers=self.trajectory_buffers, point_weights=np.ones((1, 1)), loss_weights=np.ones(1)
        )

    def resolve(self, groups):
        """A checked copy of the target for a fit whose group names are ``groups``.

        The distiller calls it before any work; the object the user passed is left alone.
        Subclasses whose settings depend on the groups (COBRA's weights) bind them here.
        """
        self._validate_params()
        return clone(self)

    def default_lr_scale(self, groups_per_class) -> float:
        """Factor on the method's reference learning rate when the estimator's ``lr`` is None.

        ``groups_per_class`` holds the number of groups present in every class.
        """
        return 1.0

    def plan(self, classes, groups, n_classes, n_groups) -> RowPlan | CloudPlan:
        """Return the plan (:class:`RowPlan` or :class:`CloudPlan`) of a batch."""
        raise NotImplementedError


class ClassMeanTarget(Target):
    """One row per class: the plain mean of the class's batch."""

    def plan(self, classes, groups, n_classes, n_groups):
        weight = segment_mean_weights(classes, n_classes)
        return RowPlan(row=classes, weight=weight, row_class=np.arange(n_classes))
