"""Distribution-level targets (Wasserstein barycenter, MMD) served by DM's per-sample clouds."""

import importlib.util
import sys

import numpy as np
import pytest
import torch
from conftest import tiny_fit

from skdistill import BarycentricDistiller
from skdistill._validation import MSG_TARGET_METHOD
from skdistill.methods import CAFE, DistributionMatching
from skdistill.targets import PLAN_KINDS, TARGETS, CobraTarget, MMDTarget, VanillaTarget
from skdistill.targets.wasserstein import MSG_NO_POT

CPU = torch.device("cpu")
NEEDS_OT = pytest.mark.skipif(importlib.util.find_spec("ot") is None, reason="POT not installed")
DISTRIBUTION_TARGETS = ["mmd", pytest.param("wasserstein", marks=NEEDS_OT)]


def needs_ot():
    pytest.importorskip("ot", reason="POT is installed by the test extra")


def dm(n_features=5, seed=3):
    method = DistributionMatching((n_features,), 2, net_width=16, net_depth=2, device=CPU)
    method.begin_iteration(seed)
    return method


def grouped_batch(seed=0):
    """2 classes, 3 groups of unequal sizes in each, 5 features."""
    rng = np.random.default_rng(seed)
    classes = np.repeat([0, 1], 12)
    groups = np.array([0] * 6 + [1] * 4 + [2] * 2 + [0] * 2 + [1] * 3 + [2] * 7)
    x = torch.as_tensor(rng.normal(size=(24, 5)) + groups[:, None], dtype=torch.float32)
    return x, classes, groups


def match(method, target, x, classes, groups, synthetic, ipc, n_groups=3):
    plan = target.plan(classes, groups, 2, n_groups)
    syn = synthetic.clone().requires_grad_(True)
    loss = method.match(x, plan, syn, ipc)
    return loss, syn.grad


# ---------------------------------------------------------------- Wasserstein barycenter
def test_barycenter_of_two_identical_clouds_is_that_cloud():
    needs_ot()
    from skdistill.targets.wasserstein import wasserstein_barycenter

    cloud = np.random.default_rng(0).normal(size=(8, 3))
    support = wasserstein_barycenter([cloud, cloud], 8)
    order = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731 - compare as sets of points
    np.testing.assert_allclose(order(support), order(cloud), atol=1e-9)


def test_barycenter_of_two_dirac_groups_is_their_midpoint():
    needs_ot()
    from skdistill.targets.wasserstein import wasserstein_barycenter

    p, q = np.array([1.0, -2.0, 0.5]), np.array([3.0, 4.0, -1.5])
    a, b = np.tile(p, (5, 1)), np.tile(q, (9, 1))  # unequal sizes: groups weigh equally
    start = np.random.default_rng(1).normal(size=(4, 3))
    midpoint = wasserstein_barycenter([a, b], 4, init=start)
    np.testing.assert_allclose(midpoint, [(p + q) / 2] * 4, atol=1e-12)
    weighted = wasserstein_barycenter([a, b], 4, weights=[3, 1], init=start)
    np.testing.assert_allclose(weighted, [0.75 * p + 0.25 * q] * 4, atol=1e-12)


def test_wasserstein_loss_is_zero_at_the_barycenter_and_a_shift_costs_its_square():
    needs_ot()
    target = TARGETS["wasserstein"]()
    rng = np.random.default_rng(2)
    cloud = torch.as_tensor(rng.normal(size=(6, 4)))
    real = torch.cat([cloud, cloud])
    weight = torch.full((12,), 1 / 12, dtype=real.dtype)
    group = np.repeat([0, 1], 6)
    shift = torch.tensor([0.3, -0.1, 0.0, 0.2], dtype=real.dtype)
    assert target.discrepancy(real, weight, group, cloud).item() == pytest.approx(0, abs=1e-12)
    shifted = target.discrepancy(real, weight, group, cloud + shift)
    assert shifted.item() == pytest.approx(shift.pow(2).sum().item(), rel=1e-9)


# ---------------------------------------------------------------- MMD
def reference_mmd2(real, synthetic, factors):
    """Plain (unweighted) V-statistic MMD^2, Gaussian mixture kernel, median heuristic."""
    pooled = torch.cat([real, synthetic])
    d = torch.cdist(pooled, pooled) ** 2
    n = pooled.shape[0]
    h = d[~torch.eye(n, dtype=torch.bool)].median()
    k = sum(f * h / (2 * len(factors)) * torch.exp(-d / (f * h)) for f in factors)
    r = real.shape[0]
    return k[:r, :r].mean() - 2 * k[:r, r:].mean() + k[r:, r:].mean()


def test_mmd_with_one_group_is_the_plain_mmd_of_the_class():
    x, classes, _ = grouped_batch()
    one_group = np.zeros_like(classes)
    target = MMDTarget()
    plan = target.plan(classes, one_group, 2, 1)
    # with one group the importance weights are vanilla's: 1 / n_y
    np.testing.assert_allclose(plan.weight, VanillaTarget().plan(classes, one_group, 2, 1).weight)
    method = dm()
    synthetic = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    loss, _ = match(method, target, x, classes, one_group, synthetic, 3, n_groups=1)
    with torch.no_grad():
        real, syn = method.network.embed(x), method.network.embed(synthetic)
    expected = sum(
        reference_mmd2(real[classes == c], syn[3 * c : 3 * c + 3], target.bandwidths)
        for c in range(2)
    )
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)


def test_linear_kernel_mmd_is_cobra_mean_squared_distance_under_dm():
    # MMD^2 with k(x, y) = x.y is ||sum_i w_i phi(x_i) - mean_j phi(s_j)||^2: with COBRA's
    # weights 1 / (G_y n_{a|y}) it is COBRA-mean's DM loss, with factor 1
    x, classes, groups = grouped_batch()
    synthetic = torch.randn(6, 5, generator=torch.Generator().manual_seed(1))
    method = dm()
    linear, g_linear = match(method, MMDTarget(kernel="linear"), x, classes, groups, synthetic, 3)
    cobra, g_cobra = match(method, CobraTarget(), x, classes, groups, synthetic, 3)
    assert linear.item() == pytest.approx(cobra.item(), rel=1e-5)
    torch.testing.assert_close(g_linear, g_cobra, rtol=1e-4, atol=1e-7)
    # the Gaussian kernel's value tends to it as the bandwidths grow
    wide, _ = match(method, MMDTarget(bandwidths=(1e4,)), x, classes, groups, synthetic, 3)
    assert wide.item() == pytest.approx(cobra.item(), rel=1e-2)
    narrow, _ = match(method, MMDTarget(), x, classes, groups, synthetic, 3)
    assert narrow.item() != pytest.approx(cobra.item(), rel=1e-2)


def test_mmd_matches_more_than_the_mean():
    # same mean, different spread: invisible to COBRA-mean, seen by the Gaussian MMD
    rng = np.random.default_rng(3)
    real = torch.as_tensor(rng.normal(size=(200, 2)))
    weight = torch.full((200,), 1 / 200, dtype=real.dtype)
    group = np.zeros(200, dtype=int)
    tight = real[:10] * 0.05 - (real[:10] * 0.05).mean(0) + real.mean(0)
    assert MMDTarget(kernel="linear").discrepancy(real, weight, group, tight).item() < 1e-20
    assert MMDTarget().discrepancy(real, weight, group, tight).item() > 0.1


# ---------------------------------------------------------------- both targets
@pytest.mark.parametrize("name", DISTRIBUTION_TARGETS)
def test_gradients_flow_and_the_loss_falls_on_a_toy_problem(name):
    target = TARGETS[name]()
    x, classes, groups = grouped_batch()
    method = dm()  # one fixed network: the problem is then a plain minimisation
    synthetic = torch.randn(6, 5, generator=torch.Generator().manual_seed(2)).requires_grad_(True)
    optimizer = torch.optim.SGD([synthetic], lr=5.0)
    losses = []
    for _ in range(15):
        optimizer.zero_grad()
        losses.append(method.match(x, target.plan(classes, groups, 2, 3), synthetic, 3).item())
        assert synthetic.grad is not None and synthetic.grad.abs().sum() > 0
        optimizer.step()
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("name", DISTRIBUTION_TARGETS)
def test_class_blocks_give_the_same_gradient_as_one_pass(name):
    x, classes, groups = grouped_batch()
    synthetic = torch.randn(6, 5, generator=torch.Generator().manual_seed(4))
    method = dm()
    grads = []
    for chunk in (32, None):  # per-class blocks (CPU) and one block (other devices)
        method.chunk = chunk
        grads.append(match(method, TARGETS[name](), x, classes, groups, synthetic, 3)[1])
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", DISTRIBUTION_TARGETS)
def test_fits_tables_and_images_repeatably(name, tabular, images):
    for X, y, groups in (tabular, images):
        a = tiny_fit(X, y, groups, method="dm", target=name)
        b = tiny_fit(X, y, groups, method="dm", target=name)
        assert a.X_synthetic_.shape == (3 * len(np.unique(y)), *np.shape(X)[1:])
        assert np.isfinite(a.history_["loss"]).all() and a.history_["loss"].gt(0).all()
        np.testing.assert_array_equal(a.X_synthetic_, b.X_synthetic_)


@pytest.mark.parametrize("method", ["dc", "idc"])
@pytest.mark.parametrize("name", ["wasserstein", "mmd"])
def test_methods_without_per_sample_clouds_are_refused_before_any_work(method, name):
    expected = MSG_TARGET_METHOD.format(
        target=name,
        what=PLAN_KINDS["clouds"],
        method=method,
        methods="cafe, dm",
        targets="cobra, fairdd, reweighted, uniform, vanilla",
    )
    # refused before the data are looked at: these inputs would fail validation
    with pytest.raises(ValueError) as info:
        BarycentricDistiller(method=method, target=name).fit(np.zeros((2, 1)), [0, 0])
    assert str(info.value) == expected


def test_wasserstein_without_pot_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ot", None)  # makes `import ot` fail
    with pytest.raises(ImportError) as info:
        TARGETS["wasserstein"]()
    assert str(info.value) == MSG_NO_POT and "pip install skdistill[ot]" in MSG_NO_POT


@pytest.mark.parametrize("name", DISTRIBUTION_TARGETS)
def test_compose_with_cafe_on_images(name, images):
    X, y, groups = images
    a, b = (
        tiny_fit(X, y, groups, method=CAFE(outer_loop=2, inner_loop=1), target=name) for _ in "ab"
    )
    assert np.isfinite(a.history_["loss"]).all() and a.history_["loss"].gt(0).all()
    start = tiny_fit(X, y, groups, method=CAFE(outer_loop=1), target=name, n_iter=1, lr=1e-12)
    assert np.abs(a.X_synthetic_ - start.X_synthetic_).max() > 1e-3  # the images moved
    np.testing.assert_array_equal(a.X_synthetic_, b.X_synthetic_)
