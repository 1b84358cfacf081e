"""Targets that match whole group distributions: the part they share."""

from __future__ import annotations

from ._base import CloudPlan, Target
from .cobra import CobraTarget


class GroupCloudTarget(Target):
    """Base of targets matching per-sample clouds, each sample weighted as COBRA weighs it.

    The plan keeps every sample of a group-stratified batch with the weight
    ``1 / (G_y n_{a|y})`` (every group present in the class weighs the same) and hands the
    method :meth:`discrepancy`, which subclasses define. Their losses are in the units of
    COBRA-mean's, so they take COBRA's default step.
    """

    stratified = True
    plan_kind = "clouds"

    def default_lr_scale(self, groups_per_class):
        """COBRA's: the mean number of groups per class."""
        return CobraTarget().default_lr_scale(groups_per_class)

    def plan(self, classes, groups, n_classes, n_groups):
        """Return the :class:`CloudPlan` of a batch with the given class and group codes."""
        weight = CobraTarget().plan(classes, groups, n_classes, n_groups).weight
        return CloudPlan(
            sample_class=classes, weight=weight, group=groups, discrepancy=self.discrepancy
        )

    def discrepancy(self, real, weight, group, synthetic):
        """The loss of one class (see :class:`CloudPlan`)."""
        raise NotImplementedError
