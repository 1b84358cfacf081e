"""FairDD target: one matching term per (class, group), summed."""

from ._base import RowPlan, Target, cell_rows, segment_mean_weights


class FairDDTarget(Target):
    """Match every group mean separately: ``L = sum_y sum_a D(Phi_{T_{a|y}}, Phi_{S_y})``.

    Rows are the (class, group) cells present in the batch; their means come from the same
    single pass over the batch as any other target.
    """

    name = "fairdd"
    label = "FairDD"
    stratified = True

    def plan(self, classes, groups, n_classes, n_groups):
        """Return the :class:`RowPlan` of a batch with the given class and group codes."""
        row, row_class, _ = cell_rows(classes, groups, n_groups)
        weight = segment_mean_weights(row, row_class.shape[0])
        return RowPlan(row=row, weight=weight, row_class=row_class)
