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
    """

    name = "uniform"
    label = "uniform"
    stratified = True
