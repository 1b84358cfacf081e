"""COBRA target: the barycenter of the group statistics of each class."""

import numpy as np

from ._base import RowPlan, Target


class CobraTarget(Target):
    """Match ``m*_y = (1 / G_y) sum_a Phi_{T_{a|y}}``, the mean of the per-group means.

    Under a squared (Q-)norm discrepancy the barycenter has this closed form, which is a
    weighted mean of per-sample representations with weights ``1 / (G_y n_{a|y})``: one pass
    over the batch computes it. ``G_y`` counts the groups present in class ``y``'s batch.
    """

    name = "cobra"
    stratified = True

    def plan(self, classes, groups, n_classes, n_groups):
        """Return the :class:`RowPlan` of a batch with the given class and group codes."""
        cell = classes * n_groups + groups
        cell_counts = np.bincount(cell, minlength=n_classes * n_groups).reshape(n_classes, n_groups)
        groups_present = (cell_counts > 0).sum(axis=1)
        weight = 1.0 / (groups_present[classes] * cell_counts[classes, groups])
        return RowPlan(row=classes, weight=weight, row_class=np.arange(n_classes))
