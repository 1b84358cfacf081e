"""Per-row gradients from shared passes: equal to one autograd call per row, in fewer passes."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from skdistill.methods import GradientMatching
from skdistill.methods._rowgrad import PADDING_SLACK, RowGradients, subrow_size
from skdistill.nn import MLP, ConvNet
from skdistill.targets import TARGETS


def per_row_autograd(network, params, x, labels, weights, row, n_rows):
    """Reference: one autograd call per row, on that row's samples only."""
    out = []
    for r in range(n_rows):
        idx = torch.as_tensor(np.flatnonzero(row == r), dtype=torch.long)
        loss = (
            F.cross_entropy(network(x[idx]), labels[idx], reduction="none") * weights[idx]
        ).sum()
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        out.append(
            torch.cat(
                [
                    torch.zeros(p.numel()) if g is None else g.reshape(-1)
                    for p, g in zip(params, grads, strict=True)
                ]
            )
        )
    return torch.stack(out)


def network(kind):
    torch.manual_seed(0)
    if kind == "mlp":
        return MLP(5, 4, width=16, depth=2), (5,)
    net = ConvNet(3, 4, (8, 8), width=6, depth=2, norm=kind)
    if kind == "batch":  # running statistics from data, then frozen as gradient matching does
        net.train()
        with torch.no_grad():
            net(torch.randn(20, 3, 8, 8))
        net.eval()
    return net, (3, 8, 8)


@pytest.mark.parametrize("kind", ["instance", "batch", "none", "mlp"])
@pytest.mark.parametrize("all_params", [False, True])
def test_row_gradients_equal_one_autograd_call_per_row(kind, all_params):
    net, shape = network(kind)
    params = [p for p in net.parameters() if all_params or p.ndim >= 2]
    engine = RowGradients(net, params)
    assert engine.supported
    rng = np.random.default_rng(1)
    n = 41
    x = torch.randn(n, *shape)
    labels = torch.as_tensor(rng.integers(0, 4, n))
    weights = torch.rand(n)
    row = rng.choice(6, n, p=[0.4, 0.25, 0.15, 0.1, 0.05, 0.05])  # unequal rows; row 6 empty
    expected = per_row_autograd(net, params, x, labels, weights, row, 7)
    assert expected[6].abs().max() == 0
    for cap in (1, 3, 8, 64):  # one sample per pass ... every row in one pass
        got = engine(x, labels, weights, row, 7, cap)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


def test_rows_share_passes():
    net, shape = network("instance")
    engine = RowGradients(net, [p for p in net.parameters() if p.ndim >= 2])
    passes = []
    net.register_forward_pre_hook(lambda m, a: passes.append(a[0].shape[0]))
    x = torch.randn(60, *shape)
    row = np.arange(60) % 10  # ten rows of six
    engine(x, torch.zeros(60, dtype=torch.long), torch.ones(60), row, 10, 30)
    assert passes == [30, 30]  # five rows per pass, not one pass per row


def test_subrow_size_bounds_the_padding():
    assert subrow_size([64] * 10, 32) == 32  # equal rows: no padding, the largest size
    assert subrow_size([6, 7] * 50, 64) == 7
    for sizes, cap in [([250, 6], 256), ([3, 100, 41, 17], 32), ([1], 8)]:
        n = subrow_size(sizes, cap)
        assert 1 <= n <= cap
        assert (np.ceil(np.array(sizes) / n) * n).sum() <= PADDING_SLACK * sum(sizes)


def test_batch_norm_in_training_mode_falls_back_to_one_pass_per_row():
    net, _ = network("batch")
    net.train()
    engine = RowGradients(net, list(net.parameters()))
    assert not engine.supported
    net.eval()
    assert engine.supported


@pytest.mark.parametrize("target", ["vanilla", "fairdd", "cobra"])
def test_dc_statistics_do_not_depend_on_the_pass_size(target):
    method = GradientMatching(
        (3, 8, 8), 3, ipc=2, net_width=4, net_depth=2, device=torch.device("cpu")
    )
    method.begin_iteration(5)
    rng = np.random.default_rng(2)
    classes = np.repeat(np.arange(3), 20)
    groups = rng.integers(0, 4, 60)
    plan = TARGETS[target]().plan(classes, groups, 3, 4)
    x = torch.randn(60, 3, 8, 8)
    results = []
    for chunk in (2, 7, 64):
        method.chunk = chunk
        results.append(method.real_statistics(x, plan))
    for other in results[1:]:
        torch.testing.assert_close(other, results[0], rtol=1e-4, atol=1e-6)


def test_dc_falls_back_to_one_pass_per_row_with_the_same_statistics(monkeypatch):
    method = GradientMatching(
        (3, 8, 8), 2, ipc=2, net_width=4, net_depth=2, device=torch.device("cpu")
    )
    method.begin_iteration(0)
    classes = np.repeat(np.arange(2), 12)
    groups = np.arange(24) % 3
    plan = TARGETS["fairdd"]().plan(classes, groups, 2, 3)
    x = torch.randn(24, 3, 8, 8)
    shared = method.real_statistics(x, plan)
    monkeypatch.setattr(RowGradients, "supported", property(lambda self: False))
    passes = []
    method.network.register_forward_pre_hook(lambda m, a: passes.append(a[0].shape[0]))
    torch.testing.assert_close(method.real_statistics(x, plan), shared, rtol=1e-4, atol=1e-6)
    assert len(passes) == plan.n_rows == 6
