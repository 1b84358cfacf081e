"""Uniform target: group-balanced sampling, then the plain class mean of the batch."""

from ._base import ClassMeanTarget


class UniformTarget(ClassMeanTarget):
    """Match the plain mean of a group-stratified class batch (skdistill's own baseline).

    Each class batch is drawn with its groups in equal numbers, except those with fewer
    samples than their share, which contribute all they have (the quotas of
    ``skdistill._sampling.ClassGroupIndex.quotas``); its plain, unweighted class mean is the
    target, which is therefore still pulled toward groups larger than the per-group cap.
    Beside ``vanilla`` (the same class mean of a uniformly drawn batch) and ``cobra`` (the
    barycenter of the group means of the same stratified batch), it isolates the effect of
    balanced batches from that of the barycenter.

    This sampling rule and target are skdistill's. The COBRA paper only mentions uniform
    sampling over demographic groups ("Uniform DD") in its introduction, as a partial remedy
    that motivates the barycenter (its Fig. 1); it neither specifies nor evaluates such a
    baseline, so numbers from this target are not the paper's.

    Trajectory methods (MTT) match the checkpoints of experts trained on group-balanced draws
    of the data (``buffers="balanced"`` of :func:`skdistill.methods.train_experts`): every
    epoch draws ``n`` samples with replacement, sample ``i`` of class ``y`` and group ``a``
    with probability proportional to ``n_y / (G_y n_{a|y})``, so classes keep their
    frequencies and the groups of a class are drawn equally often. It is the trajectory
    analogue of this target's balanced batches, and differs from COBRA-MTT, which averages
    the checkpoints of experts trained on each group alone (skdistill's choice; neither
    paper defines a uniform MTT).
    """

    name = "uniform"
    label = "uniform"
    stratified = True
    trajectory_buffers = "balanced"
