"""COBRA target: the barycenter of the group statistics of each class."""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions

from .._data import scalar
from .._transfer import to_device
from ._base import RowPlan, Target, TrajectoryPlan, cell_rows, segment_mean_weights
from .barycenter import KINDS, batched_barycenter

MSG_WEIGHTS = (
    "weights must give one non-negative weight per group {groups}, as a dict {{group: "
    "weight}} or a sequence in that order, with a positive sum; got {got!r}."
)


def group_weights(weights, groups):
    """``weights`` (a dict by group name, or a sequence in the order of ``groups``) as an array.

    Refuses anything but one non-negative weight per group with a positive sum.
    """
    if weights is None:
        return None
    names = [scalar(g) for g in groups]
    if isinstance(weights, dict):
        if set(weights) - set(names) or len(weights) != len(names):
            raise ValueError(MSG_WEIGHTS.format(groups=names, got=weights))
        weights = [weights[g] for g in names]
    try:
        arr = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(MSG_WEIGHTS.format(groups=names, got=weights)) from exc
    if arr.shape != (len(names),) or (arr < 0).any() or arr.sum() <= 0:
        raise ValueError(MSG_WEIGHTS.format(groups=names, got=weights))
    return arr


class CobraTarget(Target):
    """Match ``m*_y = argmin_m sum_a w_a d(Phi_{T_{a|y}}, m)``, a barycenter of group statistics.

    With the default squared-L2 discrepancy (``barycenter="mean"``) the barycenter is the
    weighted mean of the group means, which is a weighted mean of per-sample representations
    with weights ``w_a / (sum_{a'} w_{a'} n_{a|y})``: one pass over the batch computes it. Other
    discrepancies need the group statistics explicitly: they come from the same single pass
    (one row per present (class, group) cell), and are then reduced to one barycenter per class.

    Parameters
    ----------
    barycenter : {"mean", "l1", "l2", "linf", "cosine", "huber"}, default="mean"
        Discrepancy ``d``; see :func:`skdistill.targets.barycenter`.
    weights : dict, array-like of shape (n_groups,) or None, default=None
        Group weights ``w_a`` (uniform when None), renormalised over the groups present in
        each class's batch: ``{group: weight}`` for every group, or one weight per group in
        the order of the distiller's ``groups_`` (a dict needs a fit to know the groups: a
        target used on its own takes an array, indexed by group code).
    delta : float, default=1.0
        Huber threshold (``barycenter="huber"`` only), relative to the spread of the class's
        group statistics rather than in their raw units: coordinate ``i`` of class ``y`` uses
        ``delta * 1.4826 * MAD_{y,i}``, the normal-consistent weighted median absolute
        deviation of the present groups' statistics from their weighted median. The same
        ``delta`` thus means the same robustness for tiny DC gradients and for large
        embeddings (the barycenter of ``c * points`` is ``c`` times that of ``points``).
        Large values give the mean, small ones approach the coordinate-wise median
        (textbook choice: 1.345); a coordinate whose MAD is 0 takes the weighted median, and a
        flat minimiser the midpoint of its interval. See :func:`skdistill.targets.barycenter`.

    Notes
    -----
    Trajectory methods (COBRA-MTT, the COBRA paper's Appendix M) read one expert buffer per
    group and, at every step, one trajectory per group at the same start epoch ``t`` (the
    groups' experts of one index, which skdistill starts from the same network); the
    student starts from the barycenter of the groups' checkpoints at ``t`` and is matched to
    the barycenter of their checkpoints at ``t + M``. With ``barycenter="mean"`` and uniform
    weights these are the paper's ``(1/G) sum_g theta_{g,t}`` and
    ``(1/G) sum_g theta_{g,t+M}``; other discrepancies and weights give the corresponding
    barycenter of the checkpoints.
    """

    name = "cobra"
    label = "COBRA"
    stratified = True
    trajectory_buffers = "groups"

    _parameter_constraints = {
        "barycenter": [StrOptions(set(KINDS))],
        "weights": [dict, "array-like", None],
        "delta": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, barycenter="mean", weights=None, delta=1.0):
        self.barycenter = barycenter
        self.weights = weights
        self.delta = delta

    def resolve(self, groups):
        """A checked copy whose ``weights`` is an array in the order of ``groups``."""
        target = super().resolve(groups)
        target.weights = group_weights(self.weights, groups)
        return target

    def default_lr_scale(self, groups_per_class):
        """The mean number of groups per class: the step FairDD takes.

        Under squared L2 (DM), FairDD's gradient is ``G_y`` times COBRA's, so at the
        reference learning rate COBRA moves ``G_y`` times more slowly; from the references'
        random real start that leaves it unfair for thousands of iterations (the convergence
        study in the docs). COBRA's default step is therefore the method's reference rate
        times the mean ``G_y``; an explicit ``lr`` is used as given.
        """
        return float(np.mean(groups_per_class))

    def trajectory_plan(self, n_groups):
        """One term: the barycenter of the groups' checkpoints (their mean by default)."""
        w = self._group_weights(np.arange(n_groups))
        return TrajectoryPlan(
            buffers="groups",
            point_weights=(w / w.sum())[None],
            loss_weights=np.ones(1),
            barycenter=self.barycenter,
            delta=self.delta,
        )

    def _group_weights(self, groups):
        if self.weights is None:
            return np.ones(groups.shape[0])
        return np.asarray(self.weights, dtype=np.float64)[groups]

    def plan(self, classes, groups, n_classes, n_groups):
        """Return the :class:`RowPlan` of a batch with the given class and group codes."""
        row, row_class, row_group = cell_rows(classes, groups, n_groups)
        w_row = self._group_weights(row_group)
        if self.barycenter == "mean":
            # one row per class: sample weight w_a / (sum of w over present groups * n_{a|y})
            w_class = np.bincount(row_class, weights=w_row, minlength=n_classes)
            n_cell = np.bincount(row)
            weight = w_row[row] / (w_class[row_class[row]] * n_cell[row])
            return RowPlan(row=classes, weight=weight, row_class=np.arange(n_classes))

        def combine(stats):
            flat = stats.reshape(stats.shape[0], -1)
            cell = to_device(row_class, flat.device), to_device(row_group, flat.device)
            points = flat.new_zeros((n_classes, n_groups, flat.shape[1]))
            points[cell] = flat
            w = torch.zeros((n_classes, n_groups), dtype=flat.dtype, device=flat.device)
            w[cell] = to_device(w_row, flat.device, flat.dtype)
            centres = batched_barycenter(points, w, self.barycenter, delta=self.delta)
            return centres.reshape(n_classes, *stats.shape[1:]), np.arange(n_classes)

        weight = segment_mean_weights(row, row_class.shape[0])
        return RowPlan(row=row, weight=weight, row_class=row_class, combine=combine)
