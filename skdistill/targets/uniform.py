"""Uniform target: group-balanced sampling, then the plain class mean of the batch."""

from ._base import ClassMeanTarget


class UniformTarget(ClassMeanTarget):
    """Match the mean of a group-stratified batch.

    Groups enter the batch in equal numbers, except those with fewer samples than their
    share, which contribute all they have: the mean is therefore still pulled toward groups
    larger than the per-group cap. This is the "uniform subgroup sampling" baseline of the
    COBRA paper.
    """

    name = "uniform"
    stratified = True
