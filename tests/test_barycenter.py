import numpy as np
import pytest
import torch
from scipy.optimize import linprog, minimize

from skdistill.targets import barycenter, batched_barycenter


def objective(kind, points, m, w=None, delta=1.0):
    w = np.ones(len(points)) if w is None else np.asarray(w)
    r = points - m
    if kind == "l1":
        per = np.abs(r).sum(axis=1)
    elif kind == "l2":
        per = np.linalg.norm(r, axis=1)
    elif kind == "linf":
        per = np.abs(r).max(axis=1)
    elif kind == "cosine":
        per = 1 - points @ m / (np.linalg.norm(points, axis=1) * np.linalg.norm(m))
    elif kind == "huber":
        a = np.abs(r)
        per = np.where(a <= delta, 0.5 * r**2, delta * a - 0.5 * delta**2).sum(axis=1)
    else:
        per = (r**2).sum(axis=1)
    return float((w * per).sum())


def huber_threshold(points, delta):
    """The threshold the Huber barycenter uses: delta times the normal-consistent MAD."""
    med = np.median(points, axis=0)
    return delta * 1.4826 * np.median(np.abs(points - med), axis=0)


def test_mean_is_the_weighted_mean():
    pts = np.array([[0.0, 0.0], [2.0, 4.0], [4.0, 2.0]])
    np.testing.assert_allclose(barycenter(pts), [2.0, 2.0])
    np.testing.assert_allclose(barycenter(pts, weights=[2, 1, 1]), [1.5, 1.5])
    np.testing.assert_allclose(barycenter(pts, weights=[1, 0, 0]), [0.0, 0.0])


def test_l1_is_the_coordinatewise_median():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(7, 5))
    np.testing.assert_allclose(barycenter(pts, "l1"), np.median(pts, axis=0))
    # even count: any point between the middle two minimises; the midpoint is returned
    np.testing.assert_allclose(barycenter([[0.0], [1.0], [3.0], [10.0]], "l1"), [2.0])
    # weighted: brute force over the data values of each coordinate
    w = rng.random(7)
    got = barycenter(pts, "l1", weights=w)
    for j in range(5):
        best = min(pts[:, j], key=lambda v: (w * np.abs(pts[:, j] - v)).sum())
        assert (w * np.abs(pts[:, j] - got[j])).sum() <= (
            w * np.abs(pts[:, j] - best)
        ).sum() + 1e-12


def test_l2_geometric_median_textbook_cases():
    # collinear points: the geometric median is the middle point
    line = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [7.0, 7.0], [50.0, 50.0]])
    np.testing.assert_allclose(barycenter(line, "l2"), [2.0, 2.0], atol=1e-6)
    # a triangle with an angle >= 120 degrees: the median is that vertex
    obtuse = np.array([[0.0, 0.0], [10.0, 0.0], [-10.0, 0.5]])
    np.testing.assert_allclose(barycenter(obtuse, "l2"), [0.0, 0.0], atol=1e-5)
    # an equilateral triangle: its centre
    tri = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])
    np.testing.assert_allclose(barycenter(tri, "l2"), [0.5, np.sqrt(3) / 6], atol=1e-7)


@pytest.mark.parametrize("seed", range(3))
def test_l2_matches_brute_force_minimisation(seed):
    pts = np.random.default_rng(seed).normal(size=(6, 4))
    ref = minimize(
        lambda m: objective("l2", pts, m),
        pts.mean(0),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000},
    ).x
    got = barycenter(pts, "l2")
    assert objective("l2", pts, got) <= objective("l2", pts, ref) + 1e-8


def test_linf_minimax_centre_of_a_simplex():
    for g in (2, 3, 5):
        vertices = np.eye(g)
        np.testing.assert_allclose(barycenter(vertices, "linf"), np.full(g, 0.5), atol=1e-3)
        assert g == 2 or not np.allclose(barycenter(vertices, "mean"), 0.5)


@pytest.mark.parametrize("seed", range(3))
def test_linf_matches_the_linear_programme(seed):
    rng = np.random.default_rng(seed)
    g, d = 5, 4
    pts, w = rng.normal(size=(g, d)), rng.random(g) + 0.1
    # variables: m (d), t (g); minimise sum w t  s.t.  -t_a <= p_a - m <= t_a
    c = np.r_[np.zeros(d), w]
    rows, rhs = [], []
    for a in range(g):
        for i in range(d):
            e = np.zeros(d + g)
            e[i], e[d + a] = -1.0, -1.0
            rows.append(e.copy()), rhs.append(-pts[a, i])  # p - m <= t
            e[i] = 1.0
            rows.append(e), rhs.append(pts[a, i])  # m - p <= t
    lp = linprog(c, A_ub=np.array(rows), b_ub=np.array(rhs), bounds=[(None, None)] * (d + g))
    got = barycenter(pts, "linf", weights=w)
    assert objective("linf", pts, got, w) <= lp.fun * (1 + 2e-3) + 1e-9


def test_cosine_aligns_with_the_sum_of_unit_vectors():
    pts = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    got = barycenter(pts, "cosine")
    unit = (pts / np.linalg.norm(pts, axis=1, keepdims=True)).sum(0)
    np.testing.assert_allclose(got / np.linalg.norm(got), unit / np.linalg.norm(unit))
    rng = np.random.default_rng(0)
    for _ in range(50):  # no nearby direction does better
        other = got + 0.1 * rng.normal(size=2)
        assert objective("cosine", pts, got) <= objective("cosine", pts, other) + 1e-12


def test_huber_between_mean_and_median():
    pts = np.array([[0.0], [1.0], [2.0], [100.0]])
    np.testing.assert_allclose(barycenter(pts, "huber", delta=1e6), pts.mean(0), rtol=1e-9)
    small = barycenter(pts, "huber", delta=0.5)
    assert 1.0 <= small[0] <= 2.0  # a robust estimate near the median
    t = huber_threshold(pts, 0.5)[0]  # delta is relative: the threshold is 0.5 * 1.4826 * MAD
    ref = minimize(
        lambda m: objective("huber", pts, m, delta=t),
        [1.5],
        method="Nelder-Mead",
        options={"xatol": 1e-12, "fatol": 1e-14},
    ).x
    assert objective("huber", pts, small, delta=t) <= objective("huber", pts, ref, delta=t) + 1e-9


@pytest.mark.parametrize("kind", ["mean", "l1", "l2", "linf", "cosine", "huber"])
def test_batched_solver_ignores_absent_groups(kind):
    rng = np.random.default_rng(1)
    pts = torch.as_tensor(rng.normal(size=(2, 4, 3)) + 3.0)
    w = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 1.0, 1.0]], dtype=torch.float64)
    noisy = pts.clone()
    noisy[0, 3], noisy[1, 1] = 1e3, -1e3  # absent groups hold anything
    got = batched_barycenter(noisy, w, kind)
    for b, keep in ((0, [0, 1, 2]), (1, [0, 2, 3])):
        sub_pts = pts[b, keep].numpy()
        alone = barycenter(sub_pts, kind)
        if kind == "linf":  # minimisers need not be unique: compare the objective
            assert objective(kind, sub_pts, got[b].numpy()) == pytest.approx(
                objective(kind, sub_pts, alone), rel=1e-3
            )
        else:
            torch.testing.assert_close(got[b], torch.as_tensor(alone), rtol=1e-4, atol=1e-4)


def test_tensor_in_tensor_out_and_errors():
    pts = torch.randn(3, 4)
    assert torch.is_tensor(barycenter(pts, "l2"))
    with pytest.raises(ValueError, match="kind must be one of"):
        barycenter(pts, "median")
    with pytest.raises(ValueError, match=r"\(G, d\) array"):
        barycenter(np.zeros(3), "mean")
    with pytest.raises(ValueError, match="weights must hold 3"):
        barycenter(pts, "mean", weights=[1, -1, 1])


def test_l1_tie_is_the_midpoint_in_float32():
    pts = torch.tensor([[1.0, 5.0], [3.0, 2.0]], dtype=torch.float32)
    torch.testing.assert_close(barycenter(pts, "l1"), torch.tensor([2.0, 3.5]))


@pytest.mark.parametrize("delta", [1.0, 0.1, 0.01])
def test_huber_flat_minimiser_returns_the_midpoint(delta):
    # delta=1: the threshold (1.4826 * MAD = 7.4) exceeds the half-gap and 5 is the unique
    # minimiser; below 5 / 7.4 both terms are linear on a whole interval around 5, whose
    # midpoint is returned, not its lower end
    got = barycenter([[0.0], [10.0]], "huber", delta=delta)
    np.testing.assert_allclose(got, [5.0], atol=1e-4)
    # two points on each side: symmetric, so 5; when t < 4 the minimising interval is
    # [1 + t, 9 - t], and 5 stays its midpoint with unequal weights that balance the sides
    pts = [[0.0], [1.0], [9.0], [10.0]]
    np.testing.assert_allclose(barycenter(pts, "huber", delta=delta), [5.0], atol=1e-4)
    if delta <= 0.1:
        w = [0.3, 0.2, 0.4, 0.1]
        np.testing.assert_allclose(barycenter(pts, "huber", w, delta=delta), [5.0], atol=1e-4)
    if delta < 0.1:  # a tiny threshold: the l1 answer, with the same midpoint convention
        np.testing.assert_allclose(barycenter(pts, "huber", delta=delta), barycenter(pts, "l1"))


def test_huber_delta_must_be_positive():
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="delta must be positive"):
            barycenter([[0.0], [1.0]], "huber", delta=bad)
    # inf is the mean
    np.testing.assert_allclose(barycenter([[0.0], [1.0], [5.0]], "huber", delta=np.inf), [2.0])


@pytest.mark.parametrize("seed", range(3))
def test_huber_reflects_with_the_points(seed):
    rng = np.random.default_rng(seed)
    # two clusters per coordinate, a small delta: the minimiser of every coordinate is a
    # non-degenerate interval between them
    pts = np.r_[rng.normal(-5.0, 1.0, size=(3, 2)), rng.normal(5.0, 1.0, size=(3, 2))]
    pts += rng.normal(size=2)
    got = barycenter(pts, "huber", delta=0.05)
    np.testing.assert_allclose(barycenter(-pts, "huber", delta=0.05), -got, atol=1e-9)
    np.testing.assert_allclose(barycenter(pts[::-1], "huber", delta=0.05), got, atol=1e-9)
    # it is a minimiser of the objective with the threshold actually used
    t = huber_threshold(pts, 0.05)
    for col, tj, gj in zip(pts.T[:, :, None], t, got):
        ref = minimize(lambda m, col=col, tj=tj: objective("huber", col, m, delta=tj), [0.0]).x
        assert (
            objective("huber", col, [gj], delta=tj) <= objective("huber", col, ref, delta=tj) + 1e-9
        )


@pytest.mark.parametrize("c", [1e-4, 1e3])
def test_huber_delta_is_relative_to_the_scale_of_the_points(c):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(6, 3))
    pts[0] += 25.0  # an outlier group
    for delta in (0.5, 1.0, 3.0):
        got = barycenter(pts, "huber", delta=delta)
        np.testing.assert_allclose(barycenter(c * pts, "huber", delta=delta), c * got, rtol=1e-9)
        t = huber_threshold(pts, delta)
        for j in range(3):  # and it minimises the objective with threshold delta * scale
            col = pts[:, [j]]
            ref = minimize(
                lambda m, col=col, tj=t[j]: objective("huber", col, m, delta=tj),
                [np.median(col)],
                method="Nelder-Mead",
                options={"xatol": 1e-12, "fatol": 1e-14},
            ).x
            assert (
                objective("huber", col, got[[j]], delta=t[j])
                <= objective("huber", col, ref, delta=t[j]) + 1e-9
            )


def test_huber_is_robust_on_tiny_statistics():
    # DC-gradient-sized values: a raw threshold of 1 would make Huber the plain mean
    pts = 1e-4 * np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 3.0], [3.0, 2.0], [100.0, -80.0]])
    med, mean = np.median(pts, axis=0), pts.mean(axis=0)
    got = barycenter(pts, "huber", delta=1.0)
    assert (np.abs(got - med) < 0.25 * np.abs(mean - med)).all()
    assert np.abs(got - mean).min() > 1e-4
