"""Loss-reweighting target (the COBRA paper's "DF" intervention): inverse group frequencies."""

from ._base import Target
from .cobra import CobraTarget


class ReweightedTarget(Target):
    """Reweight the samples of a *uniform* class batch by inverse group frequency.

    Each sample of group ``a`` in class ``y`` weighs ``1 / (G_y n_{a|y})`` where ``n_{a|y}``
    counts the group's samples in the batch and ``G_y`` the groups present in it: the weighted
    class mean is the mean of the group means *of the groups the batch happened to draw*. It is
    the data-level fairness intervention of the COBRA paper (subgroup-aware loss reweighting on
    top of vanilla sampling): in expectation COBRA's target, but a minority group absent from a
    batch has no say in that step, and a rare one is estimated from one or two samples.
    """

    name = "reweighted"
    label = "DF"
    stratified = False

    def plan(self, classes, groups, n_classes, n_groups):
        """Return the :class:`RowPlan` of a batch with the given class and group codes."""
        return CobraTarget().plan(classes, groups, n_classes, n_groups)
