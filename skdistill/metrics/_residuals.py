"""The COBRA paper's worst-case residual diagnostic (Theorem 4.1, Section 5.6, Appendix G.2)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._data import check_lengths, encode_groups, encode_labels, scalar
from ..targets.barycenter import barycenter


def residual_diagnostics(features, y, sensitive_features, *, barycenter_kind="mean"):
    """Worst-case group residuals of the vanilla, FairDD and COBRA targets, class by class.

    For every class ``y`` with at least two groups, the group statistics are the mean
    representations ``Phi_{a|y}`` of the class's samples in group ``a``. The targets are

    - vanilla: the mixture ``m_van = sum_a pi_{a|y} Phi_{a|y}`` (group proportions);
    - FairDD: the minimiser of ``sum_a ||Phi_{a|y} - m||^2``, the plain mean of the groups;
    - COBRA: the barycenter ``m*`` of the groups (``barycenter_kind``; the plain mean, as
      FairDD's, for the default squared L2).

    For each, ``MaxRes = max_a ||Phi_{a|y} - m||_2^2``. Theorem 4.1's sufficient condition
    is ``<Delta_{a+}, s> <= 0`` where ``a+`` attains COBRA's largest residual,
    ``Delta_{a+} = Phi_{a+|y} - m*`` and ``s = m_van - m*``; when it holds,
    ``MaxRes(COBRA) <= MaxRes(vanilla)``.

    Parameters
    ----------
    features : array-like of shape (n_samples, n_dims)
        A representation of every real sample: embeddings of a network trained on the
        synthetic set (DM), or per-sample loss gradients (DC).
    y : array-like of shape (n_samples,)
        Class labels.
    sensitive_features : array-like of shape (n_samples,) or (n_samples, n_attrs)
        Groups (several columns give intersectional groups).
    barycenter_kind : str, default="mean"
        COBRA's discrepancy, as in :func:`skdistill.targets.barycenter`.

    Returns
    -------
    DataFrame
        One row per class: ``n_groups``, ``maxres_vanilla``, ``maxres_fairdd``,
        ``maxres_cobra``, ``worst_group`` (``a+``), ``condition`` (``<Delta_{a+}, s>``),
        ``condition_holds``, ``cobra_not_worse``. Classes with a single group are left out.

    Examples
    --------
    >>> import numpy as np
    >>> features = np.r_[np.zeros(8), np.ones(1), np.full(1, 10.0)][:, None]
    >>> table = residual_diagnostics(features, np.zeros(10), [0] * 8 + [1] + [2])
    >>> table[["maxres_vanilla", "maxres_cobra", "condition_holds"]].round(2)
           maxres_vanilla  maxres_cobra  condition_holds
    class
    0.0             79.21         40.11             True
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        features = features.reshape(features.shape[0], -1)
    check_lengths(features=features, y=y, sensitive_features=sensitive_features)
    classes, y_codes = encode_labels(y)
    groups, g_codes = encode_groups(sensitive_features, y_codes.shape[0])
    rows = []
    for c, cls in enumerate(classes):
        in_class = y_codes == c
        present = np.unique(g_codes[in_class])
        if present.shape[0] < 2:
            continue
        points = np.stack([features[in_class & (g_codes == g)].mean(0) for g in present])
        counts = np.array([np.sum(in_class & (g_codes == g)) for g in present], dtype=np.float64)
        vanilla = (counts / counts.sum()) @ points
        fairdd = points.mean(0)
        cobra = barycenter(points, barycenter_kind)
        res = {
            name: ((points - m) ** 2).sum(1)
            for name, m in (("vanilla", vanilla), ("fairdd", fairdd), ("cobra", cobra))
        }
        worst = int(np.argmax(res["cobra"]))
        condition = float((points[worst] - cobra) @ (vanilla - cobra))
        rows.append(
            {
                "class": scalar(cls),
                "n_groups": int(present.shape[0]),
                "maxres_vanilla": float(res["vanilla"].max()),
                "maxres_fairdd": float(res["fairdd"].max()),
                "maxres_cobra": float(res["cobra"].max()),
                "worst_group": scalar(groups[present[worst]]),
                "condition": condition,
                "condition_holds": condition <= 0,
                "cobra_not_worse": bool(res["cobra"].max() <= res["vanilla"].max() + 1e-12),
            }
        )
    return pd.DataFrame(rows).set_index("class") if rows else pd.DataFrame()
