"""Vanilla target: the class mean of a uniformly drawn class batch."""

from ._base import ClassMeanTarget


class VanillaTarget(ClassMeanTarget):
    """Match the class mean, ``Phi_{T_y} = sum_a pi_{a|y} Phi_{T_{a|y}}`` (group-size weighted).

    Trajectory methods (vanilla MTT) match the checkpoints of experts trained on all the data.
    """

    name = "vanilla"
    label = "vanilla"
    stratified = False
    trajectory_buffers = "all"
