"""The class x group index of a training set, and the one place real batches are drawn."""

from __future__ import annotations

import math

import numpy as np


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

    def sample(self, rng: np.random.Generator, batch_real: int, stratified: bool):
        """Draw one real batch for every class.

        Without stratification, each class contributes ``batch_real`` samples drawn uniformly
        without replacement (all of them when it has fewer). With stratification, every group
        present in class ``y`` contributes ``ceil(batch_real / G_y)`` samples, or all of its
        samples when it has fewer, so a small minority group is never absent from a batch.

        Returns
        -------
        index : ndarray of int
            Indices into the training set, ordered by class (then group when stratified).
        """
        if stratified:
            segment = self.class_codes * self.n_groups + self.group_codes
            cap = np.repeat(
                [math.ceil(batch_real / max(g, 1)) for g in self.groups_per_class],
                self.n_groups,
            )
            seg_counts = self.counts.ravel()
        else:
            segment = self.class_codes
            cap = np.full(self.n_classes, batch_real)
            seg_counts = self.counts.sum(axis=1)
        # One random key per sample; sorting by segment + key shuffles within each segment.
        order = np.argsort(segment + rng.random(segment.shape[0]), kind="stable")
        seg_sorted = segment[order]
        starts = np.concatenate([[0], np.cumsum(seg_counts)[:-1]])
        rank = np.arange(order.shape[0]) - starts[seg_sorted]
        return order[rank < cap[seg_sorted]]
