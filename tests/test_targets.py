import numpy as np
import pytest
import torch

from skdistill.methods import DistributionMatching
from skdistill.methods.dm import weighted_row_sums
from skdistill.targets import TARGETS


def stats(target, classes, groups, features, n_classes, n_groups):
    plan = TARGETS[target]().plan(classes, groups, n_classes, n_groups)
    return plan, weighted_row_sums(torch.as_tensor(features), plan)


def test_cobra_is_the_mean_of_group_means_on_a_hand_made_example():
    # class 0: three samples of group 0 at 0, one of group 1 at 4
    classes = np.array([0, 0, 0, 0, 1, 1])
    groups = np.array([0, 0, 0, 1, 0, 1])
    features = np.array([[0.0], [0.0], [0.0], [4.0], [1.0], [3.0]])
    _, vanilla = stats("vanilla", classes, groups, features, 2, 2)
    _, cobra = stats("cobra", classes, groups, features, 2, 2)
    plan, fairdd = stats("fairdd", classes, groups, features, 2, 2)
    np.testing.assert_allclose(vanilla.numpy()[:, 0], [1.0, 2.0])  # size-weighted
    np.testing.assert_allclose(cobra.numpy()[:, 0], [2.0, 2.0])  # (0 + 4) / 2, (1 + 3) / 2
    np.testing.assert_allclose(fairdd.numpy()[:, 0], [0.0, 4.0, 1.0, 3.0])
    np.testing.assert_array_equal(plan.row_class, [0, 0, 1, 1])


@pytest.mark.parametrize("target", sorted(t for t, c in TARGETS.items() if c.plan_kind == "rows"))
def test_with_one_group_every_row_target_is_the_class_mean(target):
    rng = np.random.default_rng(0)
    classes = np.repeat([0, 1, 2], [5, 7, 3])
    features = rng.normal(size=(15, 4))
    _, got = stats(target, classes, np.zeros(15, dtype=int), features, 3, 1)
    expected = [features[classes == c].mean(axis=0) for c in range(3)]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_uniform_is_the_plain_mean_of_the_stratified_batch():
    classes = np.array([0, 0, 0, 1, 1])
    groups = np.array([0, 0, 1, 0, 1])
    features = np.array([[1.0], [2.0], [6.0], [0.0], [2.0]])
    _, got = stats("uniform", classes, groups, features, 2, 2)
    np.testing.assert_allclose(got.numpy()[:, 0], [3.0, 1.0])


def test_reweighted_is_the_mean_of_the_group_means_of_a_uniform_batch():
    classes = np.array([0, 0, 0, 1, 1])
    groups = np.array([0, 0, 1, 0, 1])
    features = np.array([[1.0], [2.0], [6.0], [0.0], [2.0]])
    _, got = stats("reweighted", classes, groups, features, 2, 2)
    np.testing.assert_allclose(got.numpy()[:, 0], [(1.5 + 6.0) / 2, 1.0])
    assert not TARGETS["reweighted"].stratified and TARGETS["cobra"].stratified


def dm_gradient(target, x_real, classes, groups, synthetic, ipc, n_groups):
    method = DistributionMatching(
        (1, 8, 8), 2, net_width=4, net_depth=2, device=torch.device("cpu")
    )
    method.begin_iteration(7)
    plan = TARGETS[target]().plan(classes, groups, 2, n_groups)
    syn = synthetic.clone().requires_grad_(True)
    loss = method.match(x_real, plan, syn, ipc)
    return loss.item(), syn.grad


def test_fairdd_gradient_is_g_times_cobra_gradient_under_dm():
    torch.manual_seed(0)
    n_groups = 3
    classes = np.repeat([0, 1], 12)
    groups = np.array([0] * 6 + [1] * 4 + [2] * 2 + [0] * 2 + [1] * 3 + [2] * 7)
    x_real = torch.randn(24, 1, 8, 8)
    synthetic = torch.randn(4, 1, 8, 8)
    _, g_cobra = dm_gradient("cobra", x_real, classes, groups, synthetic, 2, n_groups)
    _, g_fairdd = dm_gradient("fairdd", x_real, classes, groups, synthetic, 2, n_groups)
    _, g_vanilla = dm_gradient("vanilla", x_real, classes, groups, synthetic, 2, n_groups)
    torch.testing.assert_close(g_fairdd, n_groups * g_cobra, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(g_vanilla, g_cobra, rtol=1e-3)  # unequal groups: targets differ


def test_class_blocks_give_the_same_gradient_as_one_pass():
    torch.manual_seed(0)
    classes = np.repeat([0, 1], 10)
    groups = np.tile([0, 1], 10)
    x_real, synthetic = torch.randn(20, 1, 8, 8), torch.randn(6, 1, 8, 8)
    method = DistributionMatching(
        (1, 8, 8), 2, net_width=4, net_depth=2, device=torch.device("cpu")
    )
    method.begin_iteration(1)
    plan = TARGETS["fairdd"]().plan(classes, groups, 2, 2)
    grads = []
    for chunk in (32, None):  # per-class blocks (CPU) and one block (other devices)
        method.chunk = chunk
        syn = synthetic.clone().requires_grad_(True)
        method.match(x_real, plan, syn, 3)
        grads.append(syn.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)


def test_cobra_with_lr_times_g_follows_fairdd_through_a_fit(images):
    # Every class holds all G groups, so FairDD's DM gradient is G x COBRA's at every step:
    # with SGD + momentum, COBRA at lr x G takes FairDD's steps (same batches, same DSA draws).
    from conftest import tiny_fit

    X, y, _ = images
    groups = np.tile([0, 1, 2], 20)
    kw = dict(method="dm", augment="dsa", n_iter=6, batch_real=12, init="random_real")
    fairdd = tiny_fit(X, y, groups, target="fairdd", lr=0.5, **kw).X_synthetic_
    cobra_g = tiny_fit(X, y, groups, target="cobra", lr=1.5, **kw).X_synthetic_
    cobra = tiny_fit(X, y, groups, target="cobra", lr=0.5, **kw).X_synthetic_
    np.testing.assert_allclose(cobra_g, fairdd, rtol=1e-4, atol=1e-3)  # 0..255 scale
    assert np.abs(cobra - fairdd).max() > 1.0  # at the same lr COBRA moves less


def test_cobra_default_lr_is_the_reference_times_the_groups_per_class(images):
    from conftest import tiny_fit

    X, y, _ = images
    groups = np.tile([0, 1, 2], 20)
    kw = dict(method="dm", augment="dsa", n_iter=3, batch_real=12)
    default = tiny_fit(X, y, groups, target="cobra", **kw)
    explicit = tiny_fit(X, y, groups, target="cobra", lr=3.0, **kw)
    np.testing.assert_array_equal(default.X_synthetic_, explicit.X_synthetic_)
    # other targets keep the reference rate
    vanilla = tiny_fit(X, y, groups, target="vanilla", **kw)
    vanilla_1 = tiny_fit(X, y, groups, target="vanilla", lr=1.0, **kw)
    np.testing.assert_array_equal(vanilla.X_synthetic_, vanilla_1.X_synthetic_)
    uneven = np.where(y == 0, groups, groups % 2)  # class 0: 3 groups, class 1: 2
    a = tiny_fit(X, y, uneven, target="cobra", **kw)
    b = tiny_fit(X, y, uneven, target="cobra", lr=2.5, **kw)
    np.testing.assert_array_equal(a.X_synthetic_, b.X_synthetic_)
