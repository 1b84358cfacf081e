"""Pinned synthetic sets: a refactoring of the fit must change no result.

Every case fixes every parameter and the seed. ``engine_pins.npz`` holds, per case, the
synthetic set and the loss history the fit gave when it was pinned; a fit must reproduce both
to within ``RTOL`` of the largest pinned value.

Why a tolerance rather than checksums of the bytes: the same code, seed and torch give other
float bits on another CPU (oneDNN and ATen pick their kernels by instruction set, and so sum in
another order). The cases were first pinned as SHA-256 checksums, recorded before the fit loop
moved into its engine; on the machine they were recorded on, the engine reproduced them bit for
bit. On an AMD EPYC machine with AVX2 the same commit gave other checksums for DC and IDC on
images. Its values are the ones stored here. On that machine, forcing ATen's default kernels or
oneDNN's SSE4.1 ones moves them by at most 1e-5 of the largest value (MTT, the deepest unroll;
DC and IDC about 1e-7). ``RTOL`` leaves ten times that. A real change of results moves them by
far more (one step fewer: 0.7 to 2.8 % of the largest value; another seed: 64 to 95 %), which
``test_the_tolerance_catches_a_change`` checks. A change beyond the tolerance is a change of
results, to be justified, never silently re-pinned: ``python tests/test_engine_pins.py --record``
rewrites the file, and the diff shows it.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from skdistill import BarycentricDistiller
from skdistill.methods import CAFE, DC, DM, IDC, MTT
from skdistill.targets import CobraTarget


def tabular():
    rng = np.random.default_rng(11)
    y = np.repeat([0, 1, 2], 40)
    groups = np.where(rng.random(120) < 0.7, "a", "b")
    X = rng.normal(size=(120, 4)) + y[:, None] + 1.5 * (groups == "b")[:, None]
    return X, y, groups


def images():
    rng = np.random.default_rng(12)
    X = rng.integers(0, 256, size=(48, 8, 8, 3), dtype=np.uint8)
    y = np.repeat([0, 1], 24)
    groups = np.tile([0, 0, 1], 16)
    return X, y, groups


#: Every parameter of the distiller, fixed (the method's own ones per case below).
BASE = dict(
    ipc=2,
    n_iter=3,
    batch_real=12,
    lr=0.3,
    init="random_real",
    net_width=4,
    net_depth=2,
    net_norm=None,
    augment=None,
    device="cpu",
    random_state=7,
    verbose=0,
    missing_groups="error",
    n_impute_clusters=None,
    checkpoint_dir=None,
    checkpoint_every=100,
    n_threads=1,
)
#: Every parameter of each method, fixed (``method`` is given as its spec object).
METHOD = {
    "dm": dict(distance="l2", warmup_epochs=0),
    "dc": dict(distance="layerwise", outer_loop=2, inner_loop=1),
    "idc": dict(
        distance="mse",
        outer_loop=2,
        inner_loop=1,
        factor=2,
        fix_iter=1,
        lr_img=5e-3,
        n_data=2000,
        mix_p=0.5,
        batch_syn_max=128,
    ),
    "cafe": dict(
        outer_loop=2,
        inner_loop=1,
        layer_weights=None,
        discrimination_weight=0.01,
        stop_tolerance=0.05,
    ),
    "mtt": dict(
        syn_steps=2,
        expert_epochs=1,
        max_start_epoch=2,
        lr_init=0.01,
        lr_lr=1e-5,
        batch_syn=None,
        expert_dir=None,
        n_experts=2,
        expert_lr=0.01,
        expert_batch_size=256,
        expert_epoch_length="buffer",
        unroll="recompute",
    ),
}
SPECS = {"dm": DM, "dc": DC, "idc": IDC, "cafe": CAFE, "mtt": MTT}
#: Every parameter of COBRA's target, fixed.
COBRA = dict(barycenter="mean", weights=None, delta=1.0)

CASES = {
    f"{method}-{target}-{data}": (data, dict(method=method, target=target))
    for method in ("dm", "dc", "idc")
    for target in ("vanilla", "fairdd", "cobra")
    for data in (("images",) if method == "idc" else ("tabular", "images"))
}
EXTRA = {
    "dm-cobra_l2-tabular": (
        "tabular",
        dict(method="dm", target="cobra", cobra={"barycenter": "l2"}),
    ),
    "dm-cobra-images-dsa": ("images", dict(method="dm", target="cobra", augment="dsa")),
    "dm-fairdd-images-warmup": (
        "images",
        dict(method="dm", target="fairdd", spec={"warmup_epochs": 1, "distance": "l1"}),
    ),
    "dc-cobra-images-batchnorm": ("images", dict(method="dc", target="cobra", net_norm="batch")),
    "dm-mmd-tabular": ("tabular", dict(method="dm", target="mmd")),
    "dm-uniform-tabular-noise": ("tabular", dict(method="dm", target="uniform", init="noise")),
    "dc-reweighted-tabular-balanced": (
        "tabular",
        dict(method="dc", target="reweighted", init="balanced"),
    ),
}
#: CAFE joined after the engine: its pins were recorded when it was merged into the engine.
CAFE_CASES = {
    f"cafe-{target}-{data}": (data, dict(method="cafe", target=target))
    for target, data in (
        ("vanilla", "images"),
        ("fairdd", "images"),
        ("cobra", "images"),
        ("cobra", "tabular"),
    )
}
#: MTT joined after the engine: its pins were recorded when it was merged into the engine.
MTT_CASES = {
    f"mtt-{target}-{data}": (data, dict(method="mtt", target=target))
    for target, data in (
        ("vanilla", "images"),
        ("uniform", "tabular"),
        ("fairdd", "images"),
        ("cobra", "images"),
        ("cobra", "tabular"),
    )
}
CASES.update(EXTRA)
CASES.update(CAFE_CASES)
CASES.update(MTT_CASES)


def params_of(case):
    """``(data kind, distiller parameters)`` of a case, every one of them explicit."""
    data, given = CASES[case]
    given = dict(given)
    method, target = given.pop("method"), given.pop("target")
    spec = SPECS[method](**{**METHOD[method], **given.pop("spec", {})})
    if target == "cobra":
        target = CobraTarget(**{**COBRA, **given.pop("cobra", {})})
    params = dict(BASE, lr=0.01 if method == "idc" else BASE["lr"])
    params.update(given, method=spec, target=target)
    return data, params


#: The pinned values: ``<case>/X`` (the synthetic set) and ``<case>/loss`` (the loss history).
PINS_FILE = Path(__file__).with_name("engine_pins.npz")
#: Largest deviation allowed, as a fraction of the largest pinned value of the array.
RTOL = 1e-4


def results(estimator):
    """``{"X": synthetic set, "loss": loss history}`` of a fitted distiller."""
    return {
        "X": np.asarray(estimator.X_synthetic_, dtype=np.float64),
        "loss": estimator.history_["loss"].to_numpy(dtype=np.float64),
    }


def fit_case(case, **override):
    data, params = params_of(case)
    X, y, groups = tabular() if data == "tabular" else images()
    return BarycentricDistiller(**{**params, **override}).fit(X, y, sensitive_features=groups)


def deviations(case, got):
    """Largest deviation of each result from its pin, as a fraction of the pin's largest value."""
    with np.load(PINS_FILE) as pins:
        out = {}
        for name, value in got.items():
            pinned = pins[f"{case}/{name}"]
            assert value.shape == pinned.shape, (case, name, value.shape, pinned.shape)
            scale = max(float(np.abs(pinned).max()), np.finfo(np.float32).tiny)
            out[name] = float(np.abs(value - pinned).max()) / scale
        return out


def test_every_case_is_pinned():
    with np.load(PINS_FILE) as pins:
        assert set(pins.files) == {f"{case}/{name}" for case in CASES for name in ("X", "loss")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_pinned_synthetic_sets(case):
    off = deviations(case, results(fit_case(case)))
    assert max(off.values()) <= RTOL, off


@pytest.mark.parametrize("case", ["dm-cobra-images", "dc-cobra-images", "idc-vanilla-images"])
def test_the_tolerance_catches_a_change(case):
    """One step fewer, or another seed, lands at least ten times the tolerance away."""
    for override in (dict(n_iter=BASE["n_iter"] - 1), dict(random_state=BASE["random_state"] + 1)):
        off = deviations(case, {"X": results(fit_case(case, **override))["X"]})["X"]
        assert off > 10 * RTOL, (case, override, off)


def record():
    """Fit every case and write its results to ``PINS_FILE`` (a deliberate re-pin)."""
    values = {}
    for case in sorted(CASES):
        for name, value in results(fit_case(case)).items():
            values[f"{case}/{name}"] = value
    np.savez_compressed(PINS_FILE, **values)
    print(f"recorded {len(CASES)} cases in {PINS_FILE.name}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        sys.exit("usage: python tests/test_engine_pins.py --record  (re-pins every case)")
    record()
