"""MMD target: match each class to the equal-weight mixture of its group distributions."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils._param_validation import StrOptions

from ._clouds import GroupCloudTarget

KERNELS = ("gaussian", "linear")

#: Squared bandwidths of the Gaussian mixture kernel, as multiples of the median heuristic.
BANDWIDTHS = (0.25, 1.0, 4.0)

MSG_KERNEL = "kernel must be one of {kernels}; got {kernel!r}."
MSG_BANDWIDTHS = "bandwidths must be a non-empty sequence of positive numbers; got {got!r}."


def squared_distances(a, b):
    """``(n, m)`` squared Euclidean distances, differentiable everywhere (also at 0)."""
    sq = (a * a).sum(dim=1)[:, None] + (b * b).sum(dim=1)[None, :] - 2 * a @ b.T
    return sq.clamp_min(0)


def mmd2(real, weight, synthetic, *, kernel="gaussian", bandwidths=BANDWIDTHS):
    """Squared MMD between a weighted real cloud and a uniform synthetic cloud.

    ``P = sum_i weight_i delta_{real_i}`` and ``Q = (1/m) sum_j delta_{synthetic_j}``; the
    value is the biased (V-statistic) estimate ``E_PP k - 2 E_PQ k + E_QQ k``, never negative.

    Parameters
    ----------
    real : Tensor of shape (n, d)
        Real representations (treated as constants).
    weight : Tensor of shape (n,)
        Their weights, summing to 1.
    synthetic : Tensor of shape (m, d)
        Synthetic representations (gradients flow to them).
    kernel : {"gaussian", "linear"}, default="gaussian"
        ``"linear"``: ``k(x, y) = x . y``, for which the value is exactly
        ``||sum_i weight_i real_i - mean_j synthetic_j||^2``, DM's squared L2 between means.
        ``"gaussian"``: the mixture ``k(x, y) = sum_b h_b / (2B) exp(-||x - y||^2 / h_b)``
        over the ``B`` squared bandwidths ``h_b = bandwidths[b] * median``, with ``median``
        the median squared distance between distinct points of the pooled (detached) real
        and synthetic clouds (the median heuristic). The factor ``h_b / 2`` puts the value
        in the units of DM's squared L2: scaling the representations by ``c`` scales it by
        ``c^2``, two Dirac masses ``||delta||`` apart cost about ``||delta||^2`` when
        ``||delta||^2 << h_b``, and the value tends to the linear kernel's as the bandwidths
        grow (first-order expansion of the kernel), so the method's learning rate keeps its
        meaning. Constant offsets of a kernel cancel in an MMD, so the kernel is evaluated
        as ``h_b / 2 * expm1(-||x - y||^2 / h_b)``, free of cancelling large terms.
    bandwidths : sequence of float, default=(0.25, 1.0, 4.0)
        Squared bandwidths as multiples of the median heuristic (Gaussian kernel only): a
        small fixed set around it, as in the MMD-GAN literature, rather than the median
        alone, so that differences at several scales are seen.

    Returns
    -------
    Tensor
        Scalar, differentiable with respect to ``synthetic``.

    Examples
    --------
    >>> import torch
    >>> from skdistill.targets.mmd import mmd2
    >>> real, w = torch.tensor([[0.0], [2.0]]), torch.tensor([0.5, 0.5])
    >>> float(mmd2(real, w, torch.tensor([[3.0]]), kernel="linear"))  # (1 - 3)^2
    4.0
    """
    if kernel not in KERNELS:
        raise ValueError(MSG_KERNEL.format(kernels=list(KERNELS), kernel=kernel))
    # every kernel here depends on differences only (the linear one through the means), so
    # centring on the real mean changes nothing but the rounding of large embeddings
    centre = (weight[:, None] * real).sum(dim=0).detach()
    real, synthetic = real.detach() - centre, synthetic - centre
    v = synthetic.new_full((synthetic.shape[0],), 1.0 / synthetic.shape[0])
    if kernel == "linear":
        return ((weight @ real) - (v @ synthetic)).pow(2).sum()
    d_rr = squared_distances(real, real)  # constant: real is detached
    d_rs = squared_distances(real, synthetic)
    d_ss = squared_distances(synthetic, synthetic)
    h = _median_heuristic(d_rr, d_rs.detach(), d_ss.detach())
    total = 0
    for factor in _check_bandwidths(bandwidths):
        hb = factor * h
        kern = lambda d, hb=hb: hb / 2 * torch.expm1(-d / hb)  # noqa: E731
        total = total + weight @ kern(d_rr) @ weight - 2 * weight @ kern(d_rs) @ v
        total = total + v @ kern(d_ss) @ v
    return (total / len(bandwidths)).clamp_min(0)


def _check_bandwidths(bandwidths):
    try:
        values = [float(b) for b in bandwidths]
    except (TypeError, ValueError) as exc:
        raise ValueError(MSG_BANDWIDTHS.format(got=bandwidths)) from exc
    if not values or not all(b > 0 and np.isfinite(b) for b in values):
        raise ValueError(MSG_BANDWIDTHS.format(got=bandwidths))
    return values


def _median_heuristic(d_rr, d_rs, d_ss):
    """Median squared distance between distinct points of the pooled cloud (1 when all coincide)."""
    n, m = d_rs.shape
    # the off-diagonal entries of a (k, k) matrix, in row-major order, without a boolean mask
    # (a mask's selection has a data-dependent size: the host would wait for the device)
    off = lambda d, k: d.reshape(-1)[1:].reshape(k - 1, k + 1)[:, :-1].reshape(-1)  # noqa: E731
    # each unordered pair once: the real-synthetic block holds every cross pair, and the
    # off-diagonal of the symmetric blocks every within pair twice
    pooled = torch.cat([off(d_rr, n), off(d_ss, m), d_rs.reshape(-1), d_rs.reshape(-1)])
    median = pooled.median() if pooled.numel() else pooled.new_ones(())
    return torch.where(median > 0, median, torch.ones_like(median))


class MMDTarget(GroupCloudTarget):
    """Match, per class, the equal-weight mixture of the group distributions by MMD.

    The real samples of class ``y`` are weighted ``1 / (G_y n_{a|y})`` (COBRA's weights: each
    present group weighs ``1 / G_y`` in total, spread evenly over its samples), which is the
    mixture ``(1/G_y) sum_a P_{a|y}`` of the group distributions of the batch; the synthetic
    embeddings of the class are matched to it by the squared maximum mean discrepancy
    (:func:`mmd2`). Where COBRA's mean barycenter matches the mean of that mixture, MMD with
    a characteristic kernel matches all of its moments; with ``kernel="linear"`` the loss is
    exactly COBRA-mean's squared L2 under DM, and the Gaussian kernel's value tends to it as
    the bandwidths grow.

    The method hands over per-sample representations (a ``"clouds"`` plan): DM's
    embeddings. Gradient-matching methods compute batch gradients, not per-sample clouds,
    and cannot serve this target. Cost per class and step: ``O(n_y^2 d)`` for the kernel
    matrices of ``n_y`` real samples in dimension ``d``, on top of the method's passes.

    Parameters
    ----------
    kernel : {"gaussian", "linear"}, default="gaussian"
        Kernel of the MMD; see :func:`mmd2`.
    bandwidths : sequence of float, default=(0.25, 1.0, 4.0)
        Squared bandwidths of the Gaussian mixture kernel as multiples of the median
        squared distance of each class's pooled real and synthetic embeddings (median
        heuristic, recomputed at every step, detached); see :func:`mmd2`.

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill import BarycentricDistiller
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(120, 4)); y = rng.integers(0, 2, 120); A = rng.integers(0, 2, 120)
    >>> d = BarycentricDistiller(target="mmd", ipc=3, n_iter=2, batch_real=16, random_state=0)
    >>> d.fit(X, y, sensitive_features=A).X_synthetic_.shape
    (6, 4)
    """

    name = "mmd"
    label = "MMD"
    _parameter_constraints = {
        "kernel": [StrOptions(set(KERNELS))],
        "bandwidths": ["array-like"],
    }

    def __init__(self, kernel="gaussian", bandwidths=BANDWIDTHS):
        self.kernel = kernel
        self.bandwidths = bandwidths

    def resolve(self, groups):
        """A checked copy (positive bandwidths)."""
        target = super().resolve(groups)
        target.bandwidths = tuple(_check_bandwidths(self.bandwidths))
        return target

    def discrepancy(self, real, weight, group, synthetic):
        """Squared MMD of one class (``group`` is already folded into ``weight``)."""
        return mmd2(real, weight, synthetic, kernel=self.kernel, bandwidths=self.bandwidths)
