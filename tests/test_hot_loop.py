"""The fit loop never waits for the device between log points; autocast; data placement."""

import numpy as np
import pytest
import torch
from conftest import TINY
from test_engine_pins import images, params_of, tabular

from skdistill import BarycentricDistiller
from skdistill.callbacks import Callback

#: Tensor methods that move values to the host (a device synchronisation on CUDA), and
#: ``__bool__``: Python branching on a tensor's value.
HOST_READS = ("item", "cpu", "numpy", "tolist", "__bool__")

CASES = [
    "dm-vanilla-tabular",
    "dm-fairdd-tabular",
    "dm-cobra-tabular",
    "dm-cobra-images-dsa",
    "dm-fairdd-images-warmup",
    "dm-mmd-tabular",
    "dc-vanilla-images",
    "dc-fairdd-tabular",
    "dc-cobra-images",
    "dc-cobra-images-batchnorm",
    "idc-vanilla-images",
    "idc-fairdd-images",
    "idc-cobra-images",
    "cafe-vanilla-images",
    "cafe-fairdd-images",
    "cafe-cobra-images",
    "cafe-cobra-tabular",
    "mtt-vanilla-images",
    "mtt-fairdd-images",
    "mtt-cobra-images",
    "mtt-cobra-tabular",
]


class Window(Callback):
    """Counts host reads of tensors from the first iteration to the end of the run."""

    def __init__(self, counts=None):
        self.counts = counts

    def on_fit_begin(self, engine):
        self.counts["on"] = True

    def on_fit_end(self, engine):
        self.counts["on"] = False


@pytest.fixture
def host_reads(monkeypatch):
    counts = {"on": False, **{name: 0 for name in HOST_READS}}
    for name in HOST_READS:
        original = getattr(torch.Tensor, name)

        def counting(self, *args, _name=name, _original=original, **kwargs):
            if counts["on"]:
                counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counting)
    return counts


@pytest.mark.parametrize("case", CASES)
def test_the_loop_reads_the_device_only_at_log_points(case, host_reads):
    data, params = params_of(case)
    X, y, groups = tabular() if data == "tabular" else images()
    params.update(n_iter=6, log_every=3, callbacks=[Window(host_reads)])
    d = BarycentricDistiller(**params).fit(X, y, sensitive_features=groups)
    # two log points (iterations 3 and 6), one transfer each; nothing else
    reads = {name: host_reads[name] for name in HOST_READS}
    assert reads == {"item": 0, "cpu": 0, "numpy": 0, "tolist": 2, "__bool__": 0}
    assert d.n_iter_ == 6 and len(d.history_) == 6


def test_log_every_changes_no_result(images):
    X, y, groups = images
    kw = dict(TINY, ipc=3, method="dc", n_iter=5)
    every = BarycentricDistiller(**kw, log_every=1).fit(X, y, sensitive_features=groups)
    rarely = BarycentricDistiller(**kw, log_every=4).fit(X, y, sensitive_features=groups)
    np.testing.assert_array_equal(every.X_synthetic_, rarely.X_synthetic_)
    np.testing.assert_array_equal(every.history_.loss, rarely.history_.loss)


def test_a_non_finite_loss_returns_to_the_last_log_point(tabular, monkeypatch):
    from skdistill.methods import DistributionMatching

    X, y, groups = tabular
    original = DistributionMatching.match
    calls = {"n": 0}

    def exploding(self, *args):
        calls["n"] += 1
        out = original(self, *args)
        return out * float("nan") if calls["n"] == 5 else out

    monkeypatch.setattr(DistributionMatching, "match", exploding)
    d = BarycentricDistiller(**dict(TINY, ipc=3, n_iter=8, log_every=3))
    with pytest.raises(FloatingPointError, match="iteration 4.*set of iteration 3.*log_every=3"):
        d.fit(X, y, sensitive_features=groups)
    monkeypatch.setattr(DistributionMatching, "match", original)
    assert d.n_iter_ == 3 and len(d.history_) == 3
    three = BarycentricDistiller(**dict(TINY, ipc=3, n_iter=3)).fit(X, y, sensitive_features=groups)
    np.testing.assert_array_equal(d.X_synthetic_, three.X_synthetic_)
    # the kept state continues as if nothing had happened
    d.partial_fit(X, y, sensitive_features=groups, n_iter=2)
    five = BarycentricDistiller(**dict(TINY, ipc=3, n_iter=5)).fit(X, y, sensitive_features=groups)
    np.testing.assert_array_equal(d.X_synthetic_, five.X_synthetic_)


@pytest.mark.parametrize("case", ["dm-cobra-tabular", "dm-mmd-tabular", "dc-fairdd-tabular"])
def test_bf16_autocast_runs_and_changes_the_result_slightly(case):
    data, params = params_of(case)
    X, y, groups = tabular()
    exact = BarycentricDistiller(**params).fit(X, y, sensitive_features=groups)
    mixed = BarycentricDistiller(**params, autocast="bf16").fit(X, y, sensitive_features=groups)
    start = BarycentricDistiller(**{**params, "n_iter": 1, "lr": 1e-30})
    start = np.asarray(start.fit(X, y, sensitive_features=groups).X_synthetic_)
    A, B = np.asarray(exact.X_synthetic_), np.asarray(mixed.X_synthetic_)
    assert not np.array_equal(A, B)  # the passes did run in bfloat16
    assert np.abs(A - B).max() < 0.05 * np.abs(A - start).max()
    np.testing.assert_allclose(mixed.history_.loss, exact.history_.loss, rtol=0.02)
    assert B.dtype == A.dtype and mixed._synthetic_internal.dtype == torch.float32


def test_autocast_is_checked(tabular):
    X, y, _ = tabular
    with pytest.raises(ValueError, match="'autocast' parameter"):
        BarycentricDistiller(**TINY, autocast="fp8").fit(X, y)
    with pytest.raises(ValueError, match="'log_every' parameter"):
        BarycentricDistiller(**TINY, log_every=0).fit(X, y)


# ---------------------------------------------------------------- CUDA (skipped without it)
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


class NoSync(Callback):
    """Makes every device synchronisation an error from the second iteration to the last."""

    def __init__(self, n_iter=6):
        self.n_iter = n_iter

    def on_iteration_end(self, engine):
        if engine.iteration == 1:
            self.device_data_ = engine.sampler.real.device.type
            torch.cuda.set_sync_debug_mode("error")
        elif engine.iteration == self.n_iter:
            torch.cuda.set_sync_debug_mode("default")

    def on_fit_end(self, engine):
        torch.cuda.set_sync_debug_mode("default")


@CUDA
@pytest.mark.parametrize("case", [c for c in CASES if "mmd" not in c])
def test_no_device_synchronisation_between_log_points_on_cuda(case):
    data, params = params_of(case)
    X, y, groups = tabular() if data == "tabular" else images()
    probe = NoSync(6)
    params.update(n_iter=6, log_every=100, device="cuda", callbacks=[probe])
    d = BarycentricDistiller(**params).fit(X, y, sensitive_features=groups)
    assert d.n_iter_ == 6 and probe.device_data_ == "cuda"  # the data moved to the device


@CUDA
def test_cuda_and_cpu_runs_agree(tabular):
    X, y, groups = tabular
    kw = dict(TINY, ipc=3, n_iter=3)
    cpu = BarycentricDistiller(**kw, device="cpu").fit(X, y, sensitive_features=groups)
    gpu = BarycentricDistiller(**kw, device="cuda").fit(X, y, sensitive_features=groups)
    np.testing.assert_allclose(gpu.X_synthetic_, cpu.X_synthetic_, rtol=1e-3, atol=1e-4)
