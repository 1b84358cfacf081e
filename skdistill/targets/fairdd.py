"""FairDD target: one matching term per (class, group), summed."""

import numpy as np

from ._base import RowPlan, Target, TrajectoryPlan, cell_rows, segment_mean_weights


class FairDDTarget(Target):
    """Match every group mean separately: ``L = sum_y sum_a D(Phi_{T_{a|y}}, Phi_{S_y})``.

    Rows are the (class, group) cells present in the batch; their means come from the same
    single pass over the batch as any other target.

    Trajectory methods (FairDD-MTT) match every group's own expert trajectory, one student
    unroll per group, and sum the ``G`` normalised parameter distances. FairDD never defined
    a trajectory-matching variant; a sum of per-group MTT losses is skdistill's natural
    reading of its one-term-per-group loss. Its gradient is therefore of the order of ``G``
    times that of a single MTT loss, and each step costs ``G`` unrolls.
    """

    name = "fairdd"
    label = "FairDD"
    stratified = True
    trajectory_buffers = "groups"

    def plan(self, classes, groups, n_classes, n_groups):
        """Return the :class:`RowPlan` of a batch with the given class and group codes."""
        row, row_class, _ = cell_rows(classes, groups, n_groups)
        weight = segment_mean_weights(row, row_class.shape[0])
        return RowPlan(row=row, weight=weight, row_class=row_class)

    def trajectory_plan(self, n_groups):
        """One term per group: each group's checkpoints, the losses summed."""
        return TrajectoryPlan(
            buffers="groups", point_weights=np.eye(n_groups), loss_weights=np.ones(n_groups)
        )
