"""The class x group index of a training set, and the one place real batches are drawn."""

from __future__ import annotations

import numpy as np
import torch

from ._distributed import RankSlice
from ._transfer import to_device
from .targets._base import reweight_plan


class ClassGroupIndex:
    """Index of a labelled training set by class and protected group.

    Parameters
    ----------
    class_codes, group_codes : ndarray of int of shape (n_samples,)
        Integer-encoded class and group of every training sample.
    n_classes, n_groups : int
        Number of classes and groups.
    """

    def __init__(self, class_codes, group_codes, n_classes, n_groups):
        self.class_codes = np.asarray(class_codes, dtype=np.int64)
        self.group_codes = np.asarray(group_codes, dtype=np.int64)
        self.n_classes = n_classes
        self.n_groups = n_groups
        cell = self.class_codes * n_groups + self.group_codes
        self.counts = np.bincount(cell, minlength=n_classes * n_groups).reshape(n_classes, n_groups)
        self.groups_per_class = (self.counts > 0).sum(axis=1)
        self._quotas = {}

    def members(self, cls, grp=None):
        """Indices of the training samples of class ``cls`` (and group ``grp``)."""
        mask = self.class_codes == cls
        if grp is not None:
            mask &= self.group_codes == grp
        return np.flatnonzero(mask)

    def balanced_pick(self, cls, n, rng: np.random.Generator):
        """``n`` distinct samples of class ``cls``, cycling through its groups in random order."""
        present = np.flatnonzero(self.counts[cls] > 0)
        pools = [rng.permutation(self.members(cls, g)) for g in rng.permutation(present)]
        rounds = min(n, max(len(p) for p in pools))  # each round adds at least one sample
        cycled = [p[r] for r in range(rounds) for p in pools if r < len(p)]
        return np.asarray(cycled[:n])

    def quotas(self, batch_real: int):
        """Per-(class, group) sample counts of a stratified batch, before the remainder.

        Every class draws ``min(batch_real, n_y)`` samples, shared as evenly as possible among
        its groups: a group smaller than its share gives all of its samples and the rest is
        shared among the others. Returns ``(base, extra, eligible)``: ``base`` counts of shape
        (n_classes, n_groups), ``extra`` (n_classes,) samples still to hand out one each to
        ``extra[y]`` groups chosen at random among ``eligible[y]`` (a boolean mask).
        """
        cached = self._quotas.get(batch_real)
        if cached is not None:
            return cached
        base = np.zeros_like(self.counts)
        extra = np.zeros(self.n_classes, dtype=np.int64)
        eligible = np.zeros(self.counts.shape, dtype=bool)
        for cls, counts in enumerate(self.counts):
            present = np.flatnonzero(counts > 0)
            left = min(batch_real, int(counts.sum()))
            ordered = present[np.argsort(counts[present], kind="stable")]
            for k, grp in enumerate(ordered):
                share = left // (len(ordered) - k)
                if counts[grp] > share:
                    rest = ordered[k:]
                    base[cls, rest] = share
                    extra[cls] = left - share * len(rest)
                    eligible[cls, rest] = True
                    break
                base[cls, grp] = counts[grp]
                left -= counts[grp]
        self._quotas[batch_real] = base, extra, eligible
        return self._quotas[batch_real]

    def sample(self, rng: np.random.Generator, batch_real: int, stratified: bool):
        """Draw one real batch for every class.

        Every class contributes ``batch_real`` samples (all of them when it has fewer). Without
        stratification they are drawn uniformly without replacement. With stratification they
        are shared as evenly as possible among the groups present in the class (see
        :meth:`quotas`; the groups receiving the one-sample remainder are drawn at random), so
        a small minority group is never absent from a batch and every target draws batches of
        the same size.

        Returns
        -------
        index : ndarray of int
            Indices into the training set, ordered by class (then group when stratified).
        """
        if stratified:
            segment = self.class_codes * self.n_groups + self.group_codes
            seg_counts = self.counts.ravel()
        else:
            segment = self.class_codes
            cap = np.full(self.n_classes, batch_real)
            seg_counts = self.counts.sum(axis=1)
        # One random key per sample; sorting by segment + key shuffles within each segment.
        order = np.argsort(segment + rng.random(segment.shape[0]), kind="stable")
        if stratified:
            base, extra, eligible = self.quotas(batch_real)
            cap = base.copy()
            for cls in np.flatnonzero(extra):
                lucky = rng.permutation(np.flatnonzero(eligible[cls]))[: extra[cls]]
                cap[cls, lucky] += 1
            cap = cap.ravel()
        seg_sorted = segment[order]
        starts = np.concatenate([[0], np.cumsum(seg_counts)[:-1]])
        rank = np.arange(order.shape[0]) - starts[seg_sorted]
        return order[rank < cap[seg_sorted]]


class RealBatches:
    """The real data of a fit and every draw from it, with one random generator.

    Samples are gathered where ``real`` lives (on the device when the data were moved there)
    and sent to ``device`` without making the host wait.

    Parameters
    ----------
    real : Tensor, skdistill._data.LazySamples or skdistill._distributed.RankSlice
        The training samples in internal units, indexable by an array of positions (a
        rank's slice: its batches hold only its own samples, see :meth:`batch`).
    index : ClassGroupIndex
        Their classes and groups.
    target : Target
        Decides whether class batches are stratified by group, and forms their plans.
    batch_real : int
        Real samples per class and batch.
    device : torch.device
        Where the drawn samples go.
    rng : numpy.random.Generator
        The generator of every draw (the engine's).
    sample_weight : ndarray or None
        Importance of every sample, folded into the plans.
    """

    def __init__(self, real, index, target, batch_real, device, rng, sample_weight=None):
        self.real = real
        self.index = index
        self.target = target
        self.batch_real = batch_real
        self.device = device
        self.rng = rng
        self.sample_weight = sample_weight
        self._members = [index.members(c) for c in range(index.n_classes)]

    def batch(self):
        """One real batch of every class and its plan: ``(x_real, plan)``.

        Under a process group every rank draws the same batch and keeps its own samples; the
        plan then sums the row statistics over the ranks.
        """
        index = self.index
        batch = index.sample(self.rng, self.batch_real, self.target.stratified)
        plan = self.target.plan(
            index.class_codes[batch], index.group_codes[batch], index.n_classes, index.n_groups
        )
        if self.sample_weight is not None:
            plan = reweight_plan(plan, self.sample_weight[batch])
        if isinstance(self.real, RankSlice):  # data-parallel: this rank's part of the batch
            x, plan = self.real.local_batch(batch, plan)
            return to_device(x, self.device), plan
        return self.take(batch), plan

    def take(self, positions):
        """The samples at ``positions`` (an integer array), on the device."""
        real = self.real
        if torch.is_tensor(real) and real.device.type != "cpu":
            return real.index_select(0, to_device(positions, real.device))
        return to_device(real[positions], self.device)

    def sample_real(self, n):
        """``n`` real samples drawn uniformly, and their classes (methods training on data)."""
        codes = self.index.class_codes
        pick = self.rng.choice(codes.shape[0], min(n, codes.shape[0]), replace=False)
        return self.take(pick), to_device(codes[pick], self.device)

    def sample_real_class(self, cls, n):
        """``min(n, n_cls)`` real samples of class ``cls``, drawn at random, not augmented."""
        members = self._members[cls]
        pick = self.rng.choice(members, min(n, members.shape[0]), replace=False)
        return self.take(pick)


class TrajectoryBatches:
    """The draws of a trajectory method's fit: no real batch, the target's trajectory plan.

    The experts stand for the real data, so every step gets ``(None, plan)``; everything
    else (the data, its index, the generator, the draws of methods that train on data) is
    that of the wrapped :class:`RealBatches`.
    """

    def __init__(self, batches, plan):
        self.batches = batches
        self.plan = plan

    def __getattr__(self, name):
        return getattr(self.batches, name)

    def batch(self):
        """``(None, plan)``: a trajectory method reads its expert buffers, not real batches."""
        return None, self.plan
