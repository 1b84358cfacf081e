"""Batch norm in gradient matching: statistics from fresh, un-augmented real samples per class."""

import numpy as np
import pytest
import torch

from skdistill.methods import DSA, GradientMatching
from skdistill.methods.dc import BN_SAMPLES_PER_CLASS
from skdistill.targets import TARGETS

CPU = torch.device("cpu")
N_PER_GROUP = 20  # per class: 20 of group 0, then 20 of group 1


def make_bn_dc(augment=None):
    method = GradientMatching(
        (3, 8, 8),
        2,
        ipc=2,
        net_width=4,
        net_depth=2,
        net_norm="batch",
        device=CPU,
        augment=augment,
    )
    method.begin_iteration(3)
    return method


def sorted_batch(seed=0):
    """A group-sorted matching batch: in every class group 0 first, then group 1 (+5)."""
    gen = torch.Generator().manual_seed(seed)
    classes = np.repeat([0, 1], 2 * N_PER_GROUP)
    groups = np.tile(np.repeat([0, 1], N_PER_GROUP), 2)
    x = torch.randn(classes.shape[0], 3, 8, 8, generator=gen)
    x[torch.as_tensor(groups == 1)] += 5.0
    return x, classes, groups


class ClassSampler:
    """Fresh real samples of a class, half of each group (group 1 at +5), recording every draw."""

    def __init__(self, seed=1):
        self.gen = torch.Generator().manual_seed(seed)
        self.calls, self.drawn = [], []

    def __call__(self, cls, n):
        x = torch.randn(n, 3, 8, 8, generator=self.gen) + 0.1 * cls
        x[n // 2 :] += 5.0
        self.calls.append((cls, n))
        self.drawn.append(x)
        return x.clone()


def first_layer_expectation(method, samples, before):
    """The first batch norm's running mean after one training pass over ``samples``."""
    conv, bn = method.network.features[0], method.network.features[1]
    with torch.no_grad():
        batch_mean = conv(samples).mean(dim=(0, 2, 3))
    return (1 - bn.momentum) * before + bn.momentum * batch_mean


@pytest.mark.parametrize("target", ["vanilla", "fairdd", "cobra"])
def test_bn_statistics_come_from_fresh_unaugmented_samples_of_every_class(target):
    method = make_bn_dc(augment=DSA(flip=False))  # the matching batch is augmented
    sampler = ClassSampler()
    method.sample_real_class = sampler
    x, classes, groups = sorted_batch()
    plan = TARGETS[target]().plan(classes, groups, 2, 2)
    synthetic = torch.randn(4, 3, 8, 8, requires_grad=True)
    bn = method.network.features[1]
    before = bn.running_mean.clone()

    method.match(x, plan, synthetic, ipc=2)

    assert sampler.calls == [(0, BN_SAMPLES_PER_CLASS), (1, BN_SAMPLES_PER_CLASS)]
    expected = first_layer_expectation(method, torch.cat(sampler.drawn), before)
    torch.testing.assert_close(bn.running_mean, expected, rtol=1e-5, atol=1e-6)
    assert not any(m.training for m in method.batch_norms)  # frozen for the matching step
    # not the statistics of the first 16 of each class of the (group-0-first) batch
    first = np.concatenate([np.flatnonzero(classes == c)[:BN_SAMPLES_PER_CLASS] for c in (0, 1)])
    assert set(groups[first]) == {0}
    stale = first_layer_expectation(method, x[torch.as_tensor(first)], before)
    assert not torch.allclose(bn.running_mean, stale, rtol=1e-3, atol=1e-3)


def test_bn_statistics_are_refreshed_at_every_matching_step():
    method = make_bn_dc()
    sampler = ClassSampler()
    method.sample_real_class = sampler
    x, classes, groups = sorted_batch()
    plan = TARGETS["cobra"]().plan(classes, groups, 2, 2)
    synthetic = torch.randn(4, 3, 8, 8, requires_grad=True)
    method.match(x, plan, synthetic, ipc=2)
    method.inner_update(synthetic.detach(), np.repeat([0, 1], 2), None)  # trains: BN in train
    bn = method.network.features[1]
    before = bn.running_mean.clone()
    method.match(x, plan, synthetic, ipc=2)
    assert len(sampler.calls) == 4
    expected = first_layer_expectation(method, torch.cat(sampler.drawn[2:]), before)
    torch.testing.assert_close(bn.running_mean, expected, rtol=1e-5, atol=1e-6)


def test_without_a_sampler_bn_samples_come_from_the_whole_unaugmented_batch():
    method = make_bn_dc(augment=DSA(flip=False))
    x, classes, groups = sorted_batch()
    plan = TARGETS["cobra"]().plan(classes, groups, 2, 2)
    seen = []
    handle = method.network.register_forward_pre_hook(
        lambda m, a: seen.append(a[0].clone()) if m.training else None
    )
    method.match(x, plan, torch.randn(4, 3, 8, 8, requires_grad=True), ipc=2)
    handle.remove()
    bn_pass = seen[0]  # the first pass of the step: the batch-norm one
    assert bn_pass.shape[0] == 2 * BN_SAMPLES_PER_CLASS
    # every image is one of the batch's real images, unchanged (not augmented) ...
    match = (bn_pass[:, None] == x[None]).flatten(2).all(-1)
    assert match.any(1).all()
    rows = match.float().argmax(1).numpy()
    assert (classes[rows] == np.repeat([0, 1], BN_SAMPLES_PER_CLASS)).all()
    # ... drawn at random from the class, so both groups of the sorted batch are present
    for c in (0, 1):
        assert set(groups[rows[classes[rows] == c]]) == {0, 1}
