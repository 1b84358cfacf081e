"""Barycenters of group statistics under the discrepancies of the COBRA paper (Appendix D).

``m* = argmin_m sum_a w_a d(p_a, m)`` for points ``p_a`` (one per group):

========  =====================================  =========================================
kind      d(p, m)                                solution
========  =====================================  =========================================
mean      ||p - m||_2^2                          weighted mean (closed form)
l1        ||p - m||_1                            coordinate-wise weighted median (closed form)
l2        ||p - m||_2                            geometric median (Weiszfeld iterations)
linf      ||p - m||_inf                          minimax centre (L-BFGS on a smoothed max,
                                                 initialised at the mean)
cosine    1 - cos(p, m)                          direction of sum_a w_a p_a / ||p_a|| (closed
                                                 form; d is scale-invariant, so the norm is that
                                                 of the mean projected on this direction)
huber     sum_i h_{t_i}((p - m)_i),              coordinate-wise M-estimate (exact: the first-
          t_i = delta * scale_i                  order condition is piecewise linear); the
                                                 midpoint of the minimising interval when it is
                                                 not a single point
========  =====================================  =========================================

The Huber threshold is relative: ``t_i = delta * scale_i`` with ``scale_i`` the normal-consistent
weighted MAD of coordinate ``i`` of the points, ``1.4826 * wmedian_a |p_ai - wmedian_b p_bi|``
(an estimate of the standard deviation for Gaussian data). ``delta`` is therefore unit-free, the
textbook Huber constant (1.345 gives 95% Gaussian efficiency): scaling the points by ``c``
scales the barycenter by ``c``, whatever the units of the statistic (tiny DC gradients or large
embeddings). ``delta -> inf`` gives the mean; a zero scale (at least half of the weight on one
value) gives threshold 0, whose limit is the weighted median (the ``l1`` answer).

Every solver works on a batch of point sets ``(B, G, d)`` with a mask of the groups present,
so one call serves all classes of an iteration.
"""

from __future__ import annotations

import numpy as np
import torch

KINDS = ("mean", "l1", "l2", "linf", "cosine", "huber")

MSG_KIND = "kind must be one of {kinds}; got {kind!r}."
MSG_POINTS = "points must be a (G, d) array of G group statistics; got shape {shape}."
MSG_WEIGHTS = "weights must hold {g} non-negative numbers with a positive sum; got {weights!r}."


def barycenter(points, kind="mean", weights=None, *, delta=1.0):
    """Barycenter of group statistics under a discrepancy of the COBRA paper.

    Parameters
    ----------
    points : array-like or Tensor of shape (G, d)
        One statistic per group (e.g. group mean embeddings of one class).
    kind : {"mean", "l1", "l2", "linf", "cosine", "huber"}, default="mean"
        The discrepancy ``d``; see the module docstring for each solution.
    weights : array-like of shape (G,), default=None
        Group importance ``w_a``; uniform when None (COBRA's choice).
    delta : float, default=1.0
        Huber threshold, relative to the spread of the points: coordinate ``i`` uses
        ``delta * scale_i`` with ``scale_i = 1.4826 * MAD_i``, the normal-consistent weighted
        median absolute deviation of the points from their weighted median (see the module
        docstring). Unit-free: ``barycenter(c * points) == c * barycenter(points)``. Large
        values give the mean, small ones approach the coordinate-wise median. A
        coordinate whose MAD is 0 takes the weighted median. When the minimiser is an interval
        (every term in its linear part, e.g. ``[[0], [10]]`` with ``delta=0.1``) its midpoint is
        returned, as ``l1`` does; the result is equivariant under reflections and affine maps
        of each coordinate.

    Returns
    -------
    ndarray or Tensor of shape (d,)
        The barycenter, in the container (and dtype) of ``points``.

    Examples
    --------
    >>> from skdistill.targets import barycenter
    >>> barycenter([[0.0], [1.0], [10.0]], kind="l2").round(6).tolist()
    [1.0]
    >>> barycenter([[0.0], [1.0], [10.0]], kind="mean").tolist()
    [3.6666666666666665]
    """
    if kind not in KINDS:
        raise ValueError(MSG_KIND.format(kinds=list(KINDS), kind=kind))
    is_tensor = torch.is_tensor(points)
    if is_tensor:
        pts = points.detach()
    else:  # a contiguous copy: torch cannot wrap negative strides (e.g. points[::-1])
        pts = torch.as_tensor(np.ascontiguousarray(points, dtype=np.float64))
    if pts.ndim != 2 or pts.shape[0] < 1:
        raise ValueError(MSG_POINTS.format(shape=tuple(pts.shape)))
    g = pts.shape[0]
    if weights is None:
        w = torch.ones(g, dtype=pts.dtype, device=pts.device)
    else:
        w = torch.as_tensor(np.asarray(weights, dtype=np.float64)).to(pts)
        if w.shape != (g,) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(MSG_WEIGHTS.format(g=g, weights=weights))
    out = batched_barycenter(pts[None], w[None], kind, delta=delta)[0]
    return out if is_tensor else out.numpy()


def batched_barycenter(points, weights, kind, *, delta=1.0):
    """Barycenters of ``B`` point sets at once.

    Parameters
    ----------
    points : Tensor of shape (B, G, d)
        Point sets; absent groups may hold anything.
    weights : Tensor of shape (B, G)
        Non-negative weights; a zero weight marks an absent group.
    kind : str
        One of :data:`KINDS`.
    delta : float, default=1.0
        Relative Huber threshold (positive, ``inf`` allowed): the threshold of coordinate
        ``i`` of point set ``b`` is ``delta * 1.4826 * MAD_bi``, the MAD taken over the
        present groups (see :func:`barycenter`).

    Returns
    -------
    Tensor of shape (B, d)
    """
    w = weights / weights.sum(dim=1, keepdim=True)
    mean = torch.einsum("bg,bgd->bd", w, points)
    if kind == "mean":
        return mean
    if kind == "l1":
        return _weighted_median(points, w)
    if kind == "l2":
        return _geometric_median(points, w, mean)
    if kind == "linf":
        return _minimax_centre(points, w, mean)
    if kind == "cosine":
        return _cosine_centre(points, w, mean)
    if kind == "huber":
        return _huber_centre(points, w, delta)
    raise ValueError(MSG_KIND.format(kinds=list(KINDS), kind=kind))


def _weighted_median(points, w):
    """Coordinate-wise weighted median: the smallest value whose cumulative weight reaches 1/2.

    When the cumulative weight hits exactly 1/2 every value between two neighbours is a
    minimiser; the midpoint of that interval is returned.
    """
    values, order = points.sort(dim=1)
    cum = torch.gather(w[:, :, None].expand_as(points), 1, order).cumsum(dim=1)
    tol = 8 * points.shape[1] * torch.finfo(points.dtype).eps  # rounding of the cumulative sum
    lower = (cum < 0.5 - tol).sum(dim=1, keepdim=True)  # first index reaching 1/2
    upper = (cum < 0.5 + tol).sum(dim=1, keepdim=True)  # first index passing 1/2
    g = points.shape[1] - 1
    lo = torch.gather(values, 1, lower.clamp(max=g))
    hi = torch.gather(values, 1, upper.clamp(max=g))
    return ((lo + hi) / 2)[:, 0]


def _geometric_median(points, w, start, n_iter=200, eps=1e-12):
    """Weiszfeld's algorithm with weights, started at the mean."""
    m = start.clone()
    for _ in range(n_iter):
        dist = (points - m[:, None]).norm(dim=2).clamp_min(eps)
        coef = w / dist
        new = torch.einsum("bg,bgd->bd", coef, points) / coef.sum(dim=1, keepdim=True)
        shift = (new - m).norm(dim=1).max()
        m = new
        if shift <= 1e-10 * (1 + m.norm(dim=1).max()):
            break
    return m


def _minimax_centre(points, w, start, n_outer=6):
    """Minimise ``sum_a w_a max_i |p_a - m|_i`` by L-BFGS on a smoothed max.

    The max is replaced by a log-sum-exp whose temperature rises over rounds, each round
    started where the last ended (the first at the mean).
    """
    present = (w > 0)[:, :, None]
    spread = ((points - start[:, None]).abs() * present).amax(dim=(1, 2))
    scale = spread.clamp_min(1e-12)[:, None, None]
    m = start.clone().requires_grad_(True)
    with torch.enable_grad():
        for round_ in range(n_outer):
            temperature = 10.0 ** (round_ + 1)
            opt = torch.optim.LBFGS([m], lr=1, max_iter=100, line_search_fn="strong_wolfe")

            def closure(opt=opt, temperature=temperature):
                opt.zero_grad()
                r = (points - m[:, None]).abs() / scale
                smooth = torch.logsumexp(temperature * r, dim=2) / temperature
                loss = (w * smooth).sum()
                loss.backward()
                return loss

            opt.step(closure)
    return m.detach()


def _cosine_centre(points, w, mean):
    """Direction ``sum_a w_a p_a / ||p_a||``; length: the mean's projection on it (at least 0)."""
    unit = points / points.norm(dim=2, keepdim=True).clamp_min(1e-12)
    direction = torch.einsum("bg,bgd->bd", w, unit)
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-12)
    length = (mean * direction).sum(dim=1, keepdim=True).clamp_min(0)
    return direction * length


def _huber_centre(points, w, delta):
    """Coordinate-wise Huber M-estimate with threshold ``delta * 1.4826 * MAD``, solved exactly.

    Per coordinate the first-order condition ``F(m) = sum_a w_a clip(p_a - m, -t, t) = 0`` is
    continuous, non-increasing and linear between the 2G breakpoints ``p_a -+ t``. F at the
    sorted breakpoints brackets the ends ``L = sup{F > 0}`` and ``U = inf{F < 0}`` of its zero
    set, each in one segment; on that segment F is linear with the active set of its midpoint
    (points above, inside or below the threshold), which gives the end in closed form: the
    root of that line, or, on a flat segment (no point inside) whose weights above and below
    balance, the segment's end. ``(L + U) / 2`` is returned: the unique root when ``L == U``,
    the midpoint of the flat minimising interval otherwise. A zero threshold (MAD 0) is the
    median problem: the weighted median is returned.
    """
    if not delta > 0:  # also rejects NaN
        raise ValueError(f"delta must be positive; got {delta!r}.")
    present = (w > 0)[:, :, None]
    med = _weighted_median(points, w)
    x = torch.where(present, points, med[:, None])  # absent groups: finite, weight 0
    mad = _weighted_median((x - med[:, None]).abs(), w)
    # a threshold above the spread of the points changes nothing (every residual of a point
    # of their range is then quadratic: the mean): capping it keeps delta=inf finite
    spread = x.amax(dim=1) - x.amin(dim=1)
    t = torch.where(mad > 0, torch.minimum(delta * 1.4826 * mad, spread), 0)  # (B, d)
    q = torch.cat([x - t[:, None], x + t[:, None]], dim=1).sort(dim=1).values  # (B, 2G, d)
    f = torch.zeros_like(q)  # F at the breakpoints
    for a in range(x.shape[1]):
        residual = x[:, a, None] - q
        f += w[:, a, None, None] * torch.minimum(torch.maximum(residual, -t[:, None]), t[:, None])
    eps = 8 * x.shape[1] * torch.finfo(x.dtype).eps  # rounding of sums of G weighted terms
    last = q.shape[1] - 1

    def segment(count, upper):
        """End of the zero set in segment ``[q_i, q_{i+1}]``, ``i = count - 1``."""
        i = (count - 1).clamp(0, last - 1)
        q0, q1 = torch.gather(q, 1, i)[:, 0], torch.gather(q, 1, i + 1)[:, 0]
        r = x - ((q0 + q1) / 2)[:, None]  # residuals at the segment's midpoint
        inside = r.abs() < t[:, None]
        w_in = (w[:, :, None] * inside).sum(dim=1)
        above = (w[:, :, None] * (r >= t[:, None])).sum(dim=1)
        balance = above - (w[:, :, None] * (r <= -t[:, None])).sum(dim=1)
        pull = (w[:, :, None] * inside * (x - q0[:, None])).sum(dim=1)
        root = q0 + (t * balance + pull) / w_in.clamp_min(torch.finfo(x.dtype).tiny)
        if upper:  # flat: F < 0 throughout -> q0, else (F = 0) the zero set reaches q1
            flat = torch.where(balance < -eps, q0, q1)
        else:  # flat: F > 0 throughout -> q1, else the zero set starts at q0
            flat = torch.where(balance > eps, q1, q0)
        return torch.where(w_in > 0, torch.minimum(torch.maximum(root, q0), q1), flat)

    tol = eps * t[:, None]
    lower = segment((f > tol).sum(dim=1, keepdim=True), upper=False)  # last F > 0 starts it
    upper = segment((f >= -tol).sum(dim=1, keepdim=True), upper=True)  # first F < 0 ends it
    return torch.where(mad > 0, (lower + upper) / 2, med)
