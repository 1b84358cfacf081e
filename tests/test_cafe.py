"""CAFE (feature alignment): the loss against direct computations, targets, schedule, early stop."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import TINY, tiny_fit
from torch import nn

from skdistill import BarycentricDistiller
from skdistill._validation import MSG_METHOD_OPTION
from skdistill.methods import METHODS, FeatureAlignment
from skdistill.methods.cafe import (
    MSG_DISCRIMINATION_WEIGHT,
    MSG_LAYER_WEIGHTS,
    MSG_STOP_TOLERANCE,
    STOP_WINDOW,
    layer_names,
)
from skdistill.targets import TARGETS

CPU = torch.device("cpu")
SHAPE = (1, 10, 6)  # grey, not square
K, IPC = 3, 2


def make_cafe(**kw):
    method = FeatureAlignment(SHAPE, K, ipc=IPC, net_width=4, net_depth=2, device=CPU, **kw)
    method.begin_iteration(3)
    return method


def batch(seed=0, n_per_class=(9, 7, 8), n_groups=2):
    rng = np.random.default_rng(seed)
    classes = np.repeat(np.arange(K), n_per_class)
    groups = rng.integers(0, n_groups, classes.shape[0])
    groups[np.searchsorted(classes, np.arange(K))] = 0  # both groups in every class
    groups[np.searchsorted(classes, np.arange(K)) + 1] = 1
    x = torch.as_tensor(rng.normal(size=(classes.shape[0], *SHAPE)), dtype=torch.float32)
    syn = torch.as_tensor(rng.normal(size=(K * IPC, *SHAPE)), dtype=torch.float32)
    return x, classes, groups, syn


def hooked_features(network, x):
    """Every block's ReLU output and the last pooling's, captured by forward hooks."""
    outs = []
    taps = [m for m in network.features if isinstance(m, nn.ReLU)] + [network.features[-1]]
    handles = [m.register_forward_hook(lambda m, i, o: outs.append(o.flatten(1))) for m in taps]
    try:
        network(x)
    finally:
        for h in handles:
            h.remove()
    return outs


def direct_loss(method, x, classes, groups, syn, target, beta=0.01):
    """The CAFE loss of ``target`` written out class by class and group by group."""
    with torch.no_grad():
        real = hooked_features(method.network, x)
    fake = hooked_features(method.network, syn)
    w = method.layer_weights
    centres = torch.stack([fake[-1][c * IPC : (c + 1) * IPC].mean(0) for c in range(K)])
    ce = F.cross_entropy(real[-1] @ centres.T, torch.as_tensor(classes), reduction="none")
    align, disc = 0.0, 0.0
    for c in range(K):
        mine = classes == c
        cells = [torch.as_tensor(mine & (groups == a)) for a in np.unique(groups[mine])]
        if target == "vanilla":
            rows = [[f[torch.as_tensor(mine)].mean(0) for f in real]]
            disc_c = ce[torch.as_tensor(mine)].mean()
        elif target == "fairdd":
            rows = [[f[cell].mean(0) for f in real] for cell in cells]
            disc_c = sum(ce[cell].mean() for cell in cells)
        else:  # cobra: the mean of the group means
            rows = [[torch.stack([f[cell].mean(0) for cell in cells]).mean(0) for f in real]]
            disc_c = torch.stack([ce[cell].mean() for cell in cells]).mean()
        syn_means = [f[c * IPC : (c + 1) * IPC].mean(0) for f in fake]
        for row in rows:
            align = align + sum(wl * ((r - s) ** 2).sum() for wl, r, s in zip(w, row, syn_means))
        disc = disc + mine.sum() * disc_c
    return align + beta * disc


@pytest.mark.parametrize("target", ["vanilla", "fairdd", "cobra"])
@pytest.mark.parametrize("beta", [0.0, 0.01])
def test_loss_and_gradient_equal_a_direct_computation_with_hooks(target, beta):
    method = make_cafe(discrimination_weight=beta)
    method.chunk = 5  # the real batch goes through in chunks
    x, classes, groups, syn = batch()
    plan = TARGETS[target]().plan(classes, groups, K, 2)
    synthetic = syn.clone().requires_grad_(True)
    total = method.match(x, plan, synthetic, IPC)
    leaf = syn.clone().requires_grad_(True)
    expected = direct_loss(method, x, classes, groups, leaf, target, beta)
    (grad,) = torch.autograd.grad(expected, leaf)
    torch.testing.assert_close(total, expected.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(synthetic.grad, grad, rtol=1e-4, atol=1e-6)


def test_discrimination_loss_is_the_summed_cross_entropy_of_centre_logits():
    method = make_cafe()
    x, classes, _, syn = batch(seed=1)
    plan = TARGETS["vanilla"]().plan(classes, np.zeros_like(classes), K, 1)
    with torch.no_grad():
        real_emb = method.network.embed(x)
        syn_emb = method.network.embed(syn)
    weight = method.discrimination_weights(plan, np.arange(K)).float()
    np.testing.assert_allclose(weight.numpy(), 1.0)  # vanilla: the reference's plain sum
    value = method.discrimination(real_emb, plan, weight, syn_emb)
    centres = syn_emb.reshape(K, IPC, -1).mean(1)
    logits = torch.stack([torch.stack([e @ c for c in centres]) for e in real_emb])
    expected = 0.01 * sum(
        -torch.log_softmax(logits[i], 0)[classes[i]] for i in range(classes.shape[0])
    )
    torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-5)


def test_discrimination_weights_follow_the_target():
    method = make_cafe()
    classes = np.repeat([0, 1, 2], 6)
    groups = np.array([0, 0, 0, 0, 1, 1] * 3)  # 4 + 2 per class
    n_y = 6
    expected = {
        "vanilla": np.ones(18),
        "uniform": np.ones(18),
        # n_y / (G n_a): the mean over the groups of each group's mean
        "cobra": np.where(groups == 0, n_y / (2 * 4), n_y / (2 * 2)),
        # n_y / n_a: the sum over the groups of each group's mean (G times COBRA's)
        "fairdd": np.where(groups == 0, n_y / 4, n_y / 2),
    }
    for name, weights in expected.items():
        plan = TARGETS[name]().plan(classes, groups, K, 2)
        _, matched = plan.targets(torch.zeros(plan.n_rows, 1))
        np.testing.assert_allclose(method.discrimination_weights(plan, matched), weights)
    # a barycenter other than the mean: groups reduced to one target, the mean over groups
    plan = TARGETS["cobra"](barycenter="l1").plan(classes, groups, K, 2)
    _, matched = plan.targets(torch.zeros(plan.n_rows, 1))
    np.testing.assert_allclose(method.discrimination_weights(plan, matched), expected["cobra"])


def two_equal_groups():
    rng = np.random.default_rng(2)
    X = rng.integers(0, 256, size=(48, 10, 6), dtype=np.uint8)
    y = np.repeat([0, 1, 2], 16)
    groups = np.tile([0, 1], 24)  # 8 + 8 in every class
    return X, y, groups


def test_cobra_with_two_groups_of_equal_size_equals_uniform():
    X, y, groups = two_equal_groups()
    kw = dict(method="cafe", lr=0.1, ipc=2, outer_loop=2, inner_loop=1, batch_real=16)
    cobra = tiny_fit(X, y, groups, target="cobra", **kw)
    uniform = tiny_fit(X, y, groups, target="uniform", **kw)
    np.testing.assert_array_equal(cobra.X_synthetic_, uniform.X_synthetic_)
    np.testing.assert_array_equal(cobra.history_["loss"], uniform.history_["loss"])


@pytest.mark.parametrize("target", ["cobra", "fairdd", "mmd"])
def test_same_seed_gives_identical_output_on_cpu(target):
    X, y, groups = two_equal_groups()
    kw = dict(method="cafe", target=target, ipc=2, outer_loop=2, inner_loop=1)
    a, b = tiny_fit(X, y, groups, **kw), tiny_fit(X, y, groups, **kw)
    np.testing.assert_array_equal(a.X_synthetic_, b.X_synthetic_)
    np.testing.assert_array_equal(a.history_["loss"], b.history_["loss"])
    other = tiny_fit(X, y, groups, random_state=1, **kw)
    assert not np.array_equal(a.X_synthetic_, other.X_synthetic_)


def test_fit_on_non_square_grey_images_of_three_classes():
    X, y, groups = two_equal_groups()
    init = tiny_fit(X, y, groups, method="cafe", ipc=2, n_iter=1, lr=1e-12, outer_loop=1)
    d = tiny_fit(X, y, groups, method="cafe", ipc=2, outer_loop=2, inner_loop=1)
    assert d.X_synthetic_.shape == (6, 10, 6) and d.y_synthetic_.tolist() == [0, 0, 1, 1, 2, 2]
    assert np.isfinite(d.X_synthetic_).all() and (d.history_["loss"] > 0).all()
    assert np.abs(d.X_synthetic_ - init.X_synthetic_).max() > 1.0  # pixel values moved


def test_tables_align_the_hidden_layers_of_an_mlp(tabular):
    X, y, groups = tabular
    d = tiny_fit(X, y, groups, method="cafe", outer_loop=2, inner_loop=1)
    assert d.X_synthetic_.shape == (9, 5) and np.isfinite(d.X_synthetic_).all()
    method = FeatureAlignment((5,), 3, net_width=4, net_depth=2, device=CPU)
    assert layer_names(method.network) == ["block 1", "embedding"]
    assert method.layer_weights == (1.0, 2.0)


def test_reference_values():
    method = FeatureAlignment((3, 32, 32), 10, ipc=10, device=CPU)
    assert METHODS["cafe"] is FeatureAlignment and method.default_lr == 0.1
    assert method.default_augment is None and method.lr_net == 0.01
    assert (method.outer_loop, method.inner_loop) == (10, 50)
    assert layer_names(method.network) == ["block 1", "block 2", "block 3", "embedding"]
    assert method.layer_weights == (1.0, 1.0, 1.0, 2.0)
    assert method.discrimination_weight == 0.01 and method.stop_tolerance == 0.05
    big = FeatureAlignment((3, 8, 8), 10, ipc=50, net_width=4, device=CPU)
    assert (big.outer_loop, big.inner_loop) == (50, 10)
    factors = [method.lr_factor(it, 2000) for it in (0, 1199, 1200, 1599, 1600, 1800, 1999)]
    assert factors == [1.0, 1.0, 0.5, 0.5, 0.25, 0.125, 0.125]


def test_the_estimator_applies_the_learning_rate_schedule(monkeypatch):
    X, y, groups = two_equal_groups()
    kw = dict(method="cafe", ipc=2, outer_loop=1)
    init = tiny_fit(X, y, groups, n_iter=1, lr=1e-12, **kw)
    monkeypatch.setattr(FeatureAlignment, "lr_factor", lambda self, it, n: 0.0)
    frozen = tiny_fit(X, y, groups, **kw)
    np.testing.assert_array_equal(frozen.X_synthetic_, init.X_synthetic_)


def test_early_stop_ends_an_iteration_once_real_accuracy_stops_moving(monkeypatch):
    X, y, groups = two_equal_groups()
    calls = []
    match = FeatureAlignment.match
    monkeypatch.setattr(
        FeatureAlignment, "match", lambda self, *a: calls.append(1) or match(self, *a)
    )
    # inner_loop=0: the network does not move, so neither does its accuracy
    tiny_fit(X, y, groups, method="cafe", ipc=2, n_iter=2, outer_loop=12, inner_loop=0)
    assert len(calls) == 2 * STOP_WINDOW
    calls.clear()
    tiny_fit(X, y, groups, method="cafe", ipc=2, n_iter=2, outer_loop=STOP_WINDOW, inner_loop=0)
    assert len(calls) == 2 * STOP_WINDOW  # the window is never full before the last step


def test_early_stop_measures_only_when_it_can_shorten_the_iteration():
    drawn = []

    def sample_real_class(cls, n):
        drawn.append((cls, n))
        return torch.zeros(5, *SHAPE)

    short = make_cafe(outer_loop=STOP_WINDOW)
    short.sample_real_class = sample_real_class
    assert not any(short.iteration_converged() for _ in range(15)) and not drawn
    method = make_cafe(outer_loop=STOP_WINDOW + 5)
    method.sample_real_class = sample_real_class
    states = [method.iteration_converged() for _ in range(STOP_WINDOW)]
    assert states == [False] * (STOP_WINDOW - 1) + [True]
    assert drawn[:K] == [(c, 256) for c in range(K)]
    off = make_cafe(outer_loop=STOP_WINDOW + 5, stop_tolerance=None)
    off.sample_real_class = sample_real_class
    assert not any(off.iteration_converged() for _ in range(15))


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(layer_weights=(1, 1)), MSG_LAYER_WEIGHTS),
        (dict(layer_weights=(1, -1, 1)), MSG_LAYER_WEIGHTS),
        (dict(layer_weights=(0, 0, 0)), MSG_LAYER_WEIGHTS),
        (dict(layer_weights="abc"), MSG_LAYER_WEIGHTS),
        (dict(discrimination_weight=-0.1), MSG_DISCRIMINATION_WEIGHT),
        (dict(discrimination_weight=float("nan")), MSG_DISCRIMINATION_WEIGHT),
        (dict(stop_tolerance=-1), MSG_STOP_TOLERANCE),
    ],
)
def test_bad_method_arguments_are_refused(kw, message):
    with pytest.raises(ValueError) as info:
        make_cafe(**kw)
    got = next(iter(kw.values()))
    if message is MSG_LAYER_WEIGHTS:
        expected = message.format(n=3, layers="block 1, block 2, embedding", got=got)
    else:
        expected = message.format(got=got)
    assert str(info.value) == expected


@pytest.mark.parametrize(
    "param, value",
    [("net_norm", "batch"), ("distance", "l1"), ("factor", 2), ("net_warmup_epochs", 1)],
)
def test_estimator_options_that_do_not_apply_are_refused(images, param, value):
    X, y, groups = images
    takers = sorted(m for m, c in METHODS.items() if param in c.options)
    expected = MSG_METHOD_OPTION.format(
        param=param, value=value, method="cafe", methods=", ".join(takers)
    )
    with pytest.raises(ValueError) as info:
        BarycentricDistiller(method="cafe", **dict(TINY, **{param: value})).fit(X, y)
    assert str(info.value) == expected


def test_resumed_run_equals_an_uninterrupted_run(tmp_path):
    X, y, groups = two_equal_groups()
    # the rate halves at iteration 3 of 4; the first two iterations run at the full rate
    kw = dict(method="cafe", ipc=2, outer_loop=2, inner_loop=1, n_iter=4)
    full = tiny_fit(X, y, groups, **kw)
    tiny_fit(X, y, groups, **{**kw, "n_iter": 2}, checkpoint_dir=tmp_path)
    resumed = BarycentricDistiller(**{**TINY, **kw}, checkpoint_dir=tmp_path).fit(
        X, y, sensitive_features=groups, resume=True
    )
    np.testing.assert_array_equal(resumed.X_synthetic_, full.X_synthetic_)
