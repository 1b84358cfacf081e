"""FairDD target: one matching term per (class, group), summed."""

import numpy as np

from ._base import RowPlan, Target, segment_mean_weights


class FairDDTarget(Target):
    """Match every group mean separately: ``L = sum_y sum_a D(Phi_{T_{a|y}}, Phi_{S_y})``.

    Rows are the (class, group) cells present in the batch; their means come from the same
    single pass over the batch as any other target.
    """

    name = "fairdd"
    stratified = True

    def plan(self, classes, groups, n_classes, n_groups):
        """Return the :class:`RowPlan` of a batch with the given class and group codes."""
        cells, row = np.unique(classes * n_groups + groups, return_inverse=True)
        weight = segment_mean_weights(row, cells.shape[0])
        return RowPlan(row=row, weight=weight, row_class=cells // n_groups)
