"""IDC follows the official code's defaults: a new network every iteration, its image schedule."""

import numpy as np
import pytest
import torch

from skdistill.methods import InformationIntensiveMatching
from skdistill.methods import idc as idc_module
from skdistill.targets import TARGETS

CPU = torch.device("cpu")


def make_idc(**kw):
    kw = {"ipc": 1, "net_width": 4, "net_depth": 2, "device": CPU, **kw}
    return InformationIntensiveMatching((3, 8, 8), 2, **kw)


def parameters(method):
    return [p.detach().clone() for p in method.network.parameters()]


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


def real_sampler(seed=0):
    gen = torch.Generator().manual_seed(seed)

    def sample_real(n):
        return torch.randn(n, 3, 8, 8, generator=gen), torch.randint(2, (n,), generator=gen)

    return sample_real


def test_default_draws_a_new_network_every_iteration():
    method = make_idc()
    method.begin_iteration(11)
    method.inner_update(None, None, real_sampler())  # trained between the matching steps
    end_of_first = parameters(method)
    method.begin_iteration(12)
    assert not same(end_of_first, parameters(method))
    # a fresh draw, not the trained network: it equals a network drawn from seed 12 alone
    other = make_idc()
    other.begin_iteration(12)
    assert same(parameters(other), parameters(method))
    assert method.fix_iter == 1


def test_fix_iter_keeps_training_one_network():
    method = make_idc(fix_iter=50)
    method.begin_iteration(11)
    optimizer = method.optimizer
    method.inner_update(None, None, real_sampler())
    trained = parameters(method)
    method.begin_iteration(12)
    assert same(trained, parameters(method)) and method.optimizer is optimizer
    with pytest.raises(ValueError, match="fix_iter"):
        make_idc(fix_iter=0)


def test_official_defaults():
    method = make_idc(ipc=10)
    assert (method.outer_loop, method.inner_loop) == (100, 32)  # 2000 real samples, batches of 64
    assert method.distance_name == "mse" and method.mix_p == 0.5 and method.batch_syn_max == 128
    assert method.default_lr == pytest.approx(5e-3)  # lr_img at IPC 10
    assert make_idc(ipc=50).default_lr == pytest.approx(2.5e-2)  # scaled by ipc / 10
    assert make_idc(ipc=10, lr_img=1e-4).default_lr == pytest.approx(1e-4)  # e.g. MNIST
    assert make_idc(n_data=500).inner_loop == 8  # the official plain default


def test_network_trains_on_batches_of_64_real_samples_with_cutmix():
    sizes = []
    sample = real_sampler()

    def recording(n):
        sizes.append(n)
        return sample(n)

    plain = make_idc(inner_loop=3, mix_p=0.0)
    mixed = make_idc(inner_loop=3, mix_p=1.0)
    for m in (plain, mixed):
        m.begin_iteration(4)
        m.inner_update(None, None, recording if m is plain else real_sampler())
    assert sizes == [64, 64, 64]
    assert not same(parameters(plain), parameters(mixed))


def test_cutmix_pastes_one_box_and_weighs_labels_by_area():
    x = torch.arange(4.0).reshape(4, 1, 1, 1).expand(4, 1, 8, 8).contiguous()
    labels = torch.arange(4)
    for seed in range(20):
        mixed, partner_labels, keep = idc_module.cutmix(
            x, labels, torch.Generator().manual_seed(seed)
        )
        pasted = (mixed != x).float().mean(dim=(1, 2, 3))
        moved = partner_labels != labels
        assert torch.allclose(pasted[moved], torch.full_like(pasted[moved], 1 - keep))
        assert torch.equal(mixed[~moved], x[~moved])


def batch_and_plan():
    classes = np.repeat([0, 1], 6)
    groups = np.tile([0, 1], 6)
    x = torch.randn(12, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    return x, TARGETS["cobra"]().plan(classes, groups, 2, 2)


def test_gradient_is_in_pixel_units_of_the_value_range():
    low = torch.tensor([-1.0, -2.0, -0.5]).reshape(1, 3, 1, 1)
    high = torch.tensor([3.0, 2.0, 0.5]).reshape(1, 3, 1, 1)
    x, plan = batch_and_plan()
    grads = []
    for bounds in (None, (low, high)):
        method = make_idc(bounds=bounds)
        method.begin_iteration(7)
        synthetic = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
        synthetic.requires_grad_(True)
        method.match(x, plan, synthetic, ipc=1)
        grads.append(synthetic.grad)
    torch.testing.assert_close(grads[1], grads[0] * (high - low) ** 2)


def test_with_the_estimators_step_the_images_are_stepped_class_by_class():
    x, plan = batch_and_plan()
    reference = make_idc()
    reference.begin_iteration(7)
    synthetic = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    synthetic.requires_grad_(True)
    total = reference.match(x, plan, synthetic, ipc=1)
    expected_grad = synthetic.grad.clone()

    method = make_idc()
    method.begin_iteration(7)
    stepped = synthetic.detach().clone().requires_grad_(True)
    optimizer = torch.optim.SGD([stepped], lr=0.1, momentum=0.5)
    seen = []

    def step_images():
        seen.append(stepped.grad.clone())
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    method.step_images = step_images
    loss = method.match(x, plan, stepped, ipc=1)
    assert len(seen) == 2 and stepped.grad is None  # one step per class, nothing left over
    # class 0's step sees class 0's gradient only (its block), at the starting images
    torch.testing.assert_close(seen[0][0], expected_grad[0])
    assert not seen[0][1].any() and not seen[1][0].any()
    # class 1's block had moved by momentum only before its own gradient (none: fresh buffer)
    torch.testing.assert_close(seen[1][1], expected_grad[1])
    assert loss.item() == pytest.approx(total.item(), rel=1e-5)


def test_at_most_batch_syn_max_decoded_images_per_class():
    method = make_idc(ipc=40, batch_syn_max=128)
    method.begin_iteration(0)
    block = torch.randn(40, 3, 8, 8)
    assert method.views(block, 40, [0]).shape[0] == 128  # of 160 decoded
    assert make_idc(ipc=40, batch_syn_max=None).views(block, 40, [0]).shape[0] == 160
