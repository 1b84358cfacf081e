"""Gradient matching (dc, idc) and DSA: the identities that make every target one pass."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import TINY, tiny_fit

from skdistill import BarycentricDistiller
from skdistill.methods import (
    DC,
    DM,
    DSA,
    IDC,
    GradientMatching,
    InformationIntensiveMatching,
    reference_loops,
)
from skdistill.methods.dc import layerwise_distance
from skdistill.targets import TARGETS

CPU = torch.device("cpu")


def make_dc(norm=None, distance=None, n_classes=2):
    method = GradientMatching(
        (3, 8, 8),
        n_classes,
        ipc=2,
        net_width=4,
        net_depth=2,
        net_norm=norm,
        distance=distance,
        device=CPU,
    )
    method.begin_iteration(3)
    return method


def batch(n_per_class=(9, 7), n_groups=3, seed=0):
    rng = np.random.default_rng(seed)
    classes = np.repeat(np.arange(len(n_per_class)), n_per_class)
    groups = rng.integers(0, n_groups, classes.shape[0])
    groups[:n_groups] = np.arange(n_groups)  # every group present in class 0
    x = torch.as_tensor(rng.normal(size=(classes.shape[0], 3, 8, 8)), dtype=torch.float32)
    return x, classes, groups


def full_batch_gradient(method, x, labels, weights):
    """Reference: one autograd.grad call over the *whole* batch, with the given weights."""
    loss = (
        F.cross_entropy(method.network(x), torch.as_tensor(labels), reduction="none")
        * torch.as_tensor(weights, dtype=torch.float32)
    ).sum()
    grads = torch.autograd.grad(loss, method.params)
    return torch.cat([g.reshape(-1) for g in grads])


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_single_pass_cobra_gradient_is_the_mean_of_per_group_gradients(norm):
    method = make_dc(norm)
    x, classes, groups = batch()
    cobra = method.real_statistics(x, TARGETS["cobra"]().plan(classes, groups, 2, 3))
    for c in range(2):
        per_group = []
        for g in np.unique(groups[classes == c]):  # one group at a time, its own mean loss
            members = (classes == c) & (groups == g)
            w = members / members.sum()
            per_group.append(full_batch_gradient(method, x, classes, w))
        expected = torch.stack(per_group).mean(0)
        torch.testing.assert_close(cobra[c], expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_partitioned_fairdd_gradients_equal_full_batch_autograd_calls(norm):
    method = make_dc(norm)
    x, classes, groups = batch()
    plan = TARGETS["fairdd"]().plan(classes, groups, 2, 3)
    rows = method.real_statistics(x, plan)
    assert rows.shape[0] == plan.n_rows == len(set(zip(classes, groups)))
    for r in range(plan.n_rows):
        w = np.where(plan.row == r, plan.weight, 0.0)  # zero weight outside the row
        torch.testing.assert_close(
            rows[r], full_batch_gradient(method, x, classes, w), rtol=1e-4, atol=1e-6
        )


def test_vanilla_gradient_is_the_mean_loss_gradient_of_the_class():
    method = make_dc()
    x, classes, groups = batch()
    rows = method.real_statistics(x, TARGETS["vanilla"]().plan(classes, groups, 2, 3))
    for c in range(2):
        w = (classes == c) / (classes == c).sum()
        torch.testing.assert_close(
            rows[c], full_batch_gradient(method, x, classes, w), rtol=1e-4, atol=1e-6
        )


def test_layerwise_distance_ignores_1d_parameters_and_is_one_minus_cosine_per_row():
    shapes = [(2, 3), (2,)]
    real = torch.tensor([[1.0, 0, 0, 0, 1, 0, 5, 5]])
    syn = torch.tensor([[1.0, 0, 0, 0, -1, 0, -5, 9]])
    # row 1: cosine 1 -> 0; row 2: cosine -1 -> 2; the bias (last two) is ignored
    assert layerwise_distance(real, syn, shapes).item() == pytest.approx(2.0, abs=1e-5)


def test_reference_loop_schedule():
    assert [reference_loops(i) for i in (1, 10, 20, 30, 40, 50, 51)] == [
        (1, 1),
        (10, 50),
        (20, 25),
        (30, 20),
        (40, 15),
        (50, 10),
        (100, 10),
    ]
    assert reference_loops(5) == (10, 50)


# ---------------------------------------------------------------- DSA
@pytest.mark.parametrize("seed", range(12))  # covers every transform family
def test_dsa_shares_one_parameter_draw_across_a_class_real_and_synthetic(seed):
    from skdistill.methods import DistributionMatching

    method = DistributionMatching(
        (3, 16, 16), 2, net_width=4, net_depth=2, device=CPU, augment=DSA()
    )
    method.begin_iteration(seed)
    image = torch.rand(1, 3, 16, 16)
    real = image.repeat(11, 1, 1, 1)  # 6 samples of class 0, then 5 of class 1
    sample_class = np.array([0] * 6 + [1] * 5)
    out_real = method._augment_real(real, sample_class, n_classes=2, ipc=3)
    out_syn = method.views(image.repeat(6, 1, 1, 1), 3, [0, 1])
    for c, rows in ((0, slice(0, 6)), (1, slice(6, 11))):
        params = method._siamese[c]
        assert params.shared and all(v.shape[0] == 1 for v in params.values.values())
        # one image in, one view out: every real and synthetic sample of the class alike
        views = torch.cat([out_real[rows], out_syn[3 * c : 3 * c + 3]])
        torch.testing.assert_close(views, views[:1].expand_as(views), rtol=0, atol=0)
    assert repr(DSA()) == "DSA()" and DSA() != DSA(pairing="per_sample")


def test_dsa_shared_pairing_changes_the_view_between_calls():
    dsa = DSA()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 16, 16)
    views = [dsa.apply(x, dsa.draw_pair(4, 2, gen, (16, 16))) for _ in range(8)]
    assert any(not torch.equal(views[0], v) for v in views[1:])


@pytest.mark.parametrize("seed", range(12))  # covers every transform family
def test_dsa_per_sample_pairing_pairs_real_i_with_synthetic_i(seed):
    dsa = DSA(pairing="per_sample")
    assert dsa.draw_pair(6, 2, torch.Generator().manual_seed(seed), (16, 16)).values
    assert repr(dsa) == "DSA(pairing='per_sample')"
    real = torch.rand(6, 3, 16, 16)
    syn = real[:2].clone()  # the same images as the first real ones
    params = dsa.draw(6, torch.Generator().manual_seed(seed), (16, 16))
    out_real, out_syn = dsa.apply(real, params), dsa.apply(syn, params)
    torch.testing.assert_close(out_real[:2], out_syn)
    again = dsa.draw(6, torch.Generator().manual_seed(seed), (16, 16))
    assert again.family == params.family
    torch.testing.assert_close(dsa.apply(real, again), out_real)


@pytest.mark.parametrize("seed", range(12))
def test_dsa_is_differentiable_in_the_synthetic_images(seed):
    dsa = DSA()
    syn = torch.rand(3, 3, 16, 16, requires_grad=True)
    params = dsa.draw(3, torch.Generator().manual_seed(seed), (16, 16))
    out = dsa.apply(syn, params)
    (out * torch.linspace(0, 1, out.numel()).reshape(out.shape)).sum().backward()
    assert syn.grad is not None and syn.grad.abs().sum() > 0
    if params.family != "flip" or (params.values["flip"][:3] >= 0.5).all():
        return
    assert not torch.equal(out, syn)  # a flip happened


def test_dsa_families_and_no_flip_for_digits():
    families = {
        DSA(flip=False).draw(4, torch.Generator().manual_seed(s), (8, 8)).family for s in range(60)
    }
    assert families == {"color", "crop", "cutout", "scale", "rotate"}


def test_dsa_draws_come_from_random_state_only(images):
    X, y, groups = images
    a = tiny_fit(X, y, groups, method=DC(outer_loop=2, inner_loop=1), augment="dsa")
    torch.manual_seed(123)  # the global state must not matter
    b = tiny_fit(X, y, groups, method=DC(outer_loop=2, inner_loop=1), augment="dsa")
    np.testing.assert_array_equal(a.X_synthetic_, b.X_synthetic_)
    c = tiny_fit(X, y, groups, method=DC(outer_loop=2, inner_loop=1))
    assert not np.array_equal(a.X_synthetic_, c.X_synthetic_)


# ---------------------------------------------------------------- the estimator
@pytest.mark.parametrize("target", ["vanilla", "uniform", "fairdd", "cobra"])
def test_same_random_state_gives_identical_dc_output(images, target):
    X, y, groups = images
    fits = [
        tiny_fit(X, y, groups, method=DC(outer_loop=2, inner_loop=2), target=target)
        for _ in range(2)
    ]
    np.testing.assert_array_equal(fits[0].X_synthetic_, fits[1].X_synthetic_)
    other = tiny_fit(
        X, y, groups, method=DC(outer_loop=2, inner_loop=2), target=target, random_state=1
    )
    assert not np.array_equal(fits[0].X_synthetic_, other.X_synthetic_)


def test_dc_moves_the_synthetic_set(images):
    X, y, groups = images
    d = tiny_fit(X, y, groups, method=DC(outer_loop=15, inner_loop=0), n_iter=1, lr=0.5)
    start = tiny_fit(X, y, groups, method=DC(outer_loop=1, inner_loop=0), n_iter=1, lr=1e-12)
    assert np.abs(d.X_synthetic_.astype(int) - start.X_synthetic_.astype(int)).sum() > 0


def test_dc_on_tables_and_with_batch_norm(tabular, images):
    X, y, groups = tabular
    d = tiny_fit(X, y, groups, method=DC(outer_loop=2, inner_loop=1), target="fairdd")
    assert d.X_synthetic_.shape == (9, 5)
    Xi, yi, gi = images
    d = tiny_fit(Xi, yi, gi, method=DC(outer_loop=2, inner_loop=1), net_norm="batch")
    assert d.X_synthetic_.shape == (6, 8, 8, 3)


def test_idc_multi_formation_round_trip():
    method = InformationIntensiveMatching((3, 8, 8), 2, ipc=1, net_width=4, net_depth=2, device=CPU)
    real = torch.rand(8, 3, 8, 8)
    stored = method.encode_initial(real)
    assert stored.shape == (2, 3, 8, 8)
    decoded = method.decode(stored, 1)
    small = F.interpolate(real, size=(4, 4), mode="area")
    expected = F.interpolate(small, size=(8, 8), mode="bilinear", align_corners=False)
    torch.testing.assert_close(decoded, expected)  # tile k of image j is real image 4j + k


def test_idc_returns_factor_squared_images_per_slot_in_range(images):
    X, y, groups = images
    d = tiny_fit(
        X, y, groups, method=IDC(outer_loop=2, inner_loop=1), target="cobra", ipc=2, lr=50.0
    )
    assert d.X_synthetic_.shape == (16, 8, 8, 3) and d.X_synthetic_.dtype == np.float32
    assert d.X_synthetic_.min() >= -1e-3 and d.X_synthetic_.max() <= 255 + 1e-3
    assert d.y_synthetic_.tolist() == [0] * 8 + [1] * 8
    f = tiny_fit(
        X.astype(np.float32) / 255,
        y,
        groups,
        method=IDC(outer_loop=2, inner_loop=1),
        ipc=2,
        lr=50.0,
    )
    assert f.X_synthetic_.min() >= X.min() / 255 - 1e-6
    assert f.X_synthetic_.max() <= X.max() / 255 + 1e-6


def test_idc_resumed_run_equals_an_uninterrupted_run(images, tmp_path):
    X, y, groups = images
    kw = dict(method=IDC(outer_loop=2, inner_loop=1), n_iter=4)
    full = tiny_fit(X, y, groups, **kw)
    tiny_fit(X, y, groups, **{**kw, "n_iter": 2}, checkpoint_dir=tmp_path)
    resumed = BarycentricDistiller(**{**TINY, "ipc": 3, **kw}, checkpoint_dir=tmp_path).fit(
        X, y, sensitive_features=groups, resume=True
    )
    np.testing.assert_array_equal(resumed.X_synthetic_, full.X_synthetic_)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(method="dm", outer_loop=3), "outer_loop=3 does not apply to method='dm'.*dc, idc"),
        (dict(method="dm", factor=2), "factor=2 does not apply to method='dm'.*idc"),
        (dict(method="dc", distance="l1"), "'distance' parameter of DC must be a str among"),
        (dict(method="dm", augment="dsa"), "augment needs images"),
        (dict(method="idc"), "method='idc' needs images"),
    ],
)
def test_options_that_do_not_apply_are_refused(tabular, params, message):
    X, y, groups = tabular
    with pytest.raises(ValueError, match=message):
        tiny_fit(X, y, groups, **params)


def test_idc_refuses_image_sides_not_divisible_by_factor(images):
    X, y, groups = images
    with pytest.raises(ValueError, match="divisible by factor=3"):
        tiny_fit(X, y, groups, method="idc", factor=3)


def test_dsa_instance_parameter_resumes_and_clones(images, tmp_path):
    from sklearn.base import clone

    X, y, groups = images
    kw = dict(method="dm", augment=DSA(flip=False), n_iter=4)
    full = tiny_fit(X, y, groups, **kw)
    tiny_fit(X, y, groups, **{**kw, "n_iter": 2}, checkpoint_dir=tmp_path)
    est = BarycentricDistiller(**{**TINY, "ipc": 3, **kw}, checkpoint_dir=tmp_path)
    resumed = clone(est).fit(X, y, sensitive_features=groups, resume=True)
    np.testing.assert_array_equal(resumed.X_synthetic_, full.X_synthetic_)
    assert repr(DSA(flip=False)) == "DSA(flip=False)"


def test_dm_network_warmup_trains_the_fresh_network_on_the_synthetic_set(images):
    from skdistill.methods import DistributionMatching

    X, y, groups = images
    plain = tiny_fit(X, y, groups)
    zero = tiny_fit(X, y, groups, method=DM(warmup_epochs=0))
    warm = tiny_fit(X, y, groups, method=DM(warmup_epochs=2))
    again = tiny_fit(X, y, groups, method=DM(warmup_epochs=2))
    np.testing.assert_array_equal(plain.X_synthetic_, zero.X_synthetic_)
    assert not np.array_equal(plain.X_synthetic_, warm.X_synthetic_)
    np.testing.assert_array_equal(warm.X_synthetic_, again.X_synthetic_)
    # the warm-up lowers the network's loss on the synthetic set, and leaves it frozen
    method = DistributionMatching(
        (3, 8, 8), 2, net_width=8, net_depth=2, device=torch.device("cpu"), net_warmup_epochs=20
    )
    method.begin_iteration(0)
    syn = torch.randn(6, 3, 8, 8)
    labels = np.array([0, 0, 0, 1, 1, 1])
    before = F.cross_entropy(method.network(syn), torch.as_tensor(labels)).item()
    method.prepare(syn, labels)
    after = F.cross_entropy(method.network(syn), torch.as_tensor(labels)).item()
    assert after < before
    assert not any(p.requires_grad for p in method.network.parameters())
    with pytest.raises(ValueError, match="net_warmup_epochs"):
        tiny_fit(X, y, groups, method="dc", net_warmup_epochs=1)
