"""Pinned synthetic sets: a refactoring of the fit must change no result.

Every case fixes every parameter and the seed; the SHA-256 of the synthetic set's float bytes
and of the loss history were recorded before the fit loop moved into its engine. A change of
these checksums is a change of results, to be justified, never silently re-pinned.
"""

import hashlib

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

PINS = {
    "dc-cobra-images": ("50a756b045fc03344b1c08db", "646544758b00c3223dc9d176"),
    "dc-cobra-images-batchnorm": ("5cfa62b2b5b50af9e6555ae9", "68f295309c95e28847ecd3ac"),
    "dc-cobra-tabular": ("132dd87f96fcbbf8527acb81", "f67d4db92c17b9b97abcbd7a"),
    "dc-fairdd-images": ("02a63b255923a1b08842bfd7", "e777a675a8977c2c870546bd"),
    "dc-fairdd-tabular": ("ab124a59d7f666f94ad58e8a", "caf51a9a611ebf1437475ab1"),
    "dc-vanilla-images": ("fd97b11bdb8ba6a1479d4c84", "13ea73c8bffbb646c76f0e45"),
    "dc-vanilla-tabular": ("f91658447af5f84e021a861e", "46b7b276aac1c7bfd9e3dd59"),
    "dm-cobra-images": ("eddbd9b982f21adc45fde2ec", "0b34a81c6c65da230e71f974"),
    "dm-cobra-images-dsa": ("1375554cd6dac1bc44e768df", "36b4871dc0b49f9a318b4773"),
    "dm-cobra-tabular": ("80663222ed52a50bfc01ef2e", "9358a2da4334ce15db0ac5d0"),
    "dm-cobra_l2-tabular": ("71ad719bf4f9ab6692165b5b", "476acabcc20415c96dd6915a"),
    "dm-fairdd-images": ("5ddaefd8aab72cdd28185ca0", "39c9776dfe5e71b64036bc0b"),
    "dm-fairdd-images-warmup": ("17490c264fde860dc6f687e3", "a58ed3eea445d6c461ce361f"),
    "dm-fairdd-tabular": ("3ca53f7e25536f66c0c34d52", "1bcc897489969d2b6ac35f3e"),
    "dm-vanilla-images": ("157d82c46990373c23dc763e", "d10dc4fb8405f89a045c0de9"),
    "dm-vanilla-tabular": ("7907e4da27c41e50cf76eace", "b918b2b293580e8c8dde0544"),
    "idc-cobra-images": ("46acb255fb235d4040f14228", "e594153eb83bf4840a6d3926"),
    "idc-fairdd-images": ("529e3518bc597ddc1a3a5e9c", "a2224e69fc5215e8f642f134"),
    "dm-mmd-tabular": ("6318e20148c9ff7c9a9e0544", "b55f94e820ff6b687692ed86"),
    "dm-uniform-tabular-noise": ("243caf8db61ce3ab8af522e6", "bc0e4b54e31a82e25637c8d2"),
    "dc-reweighted-tabular-balanced": ("98a6664c738de142c9ac570b", "ec5a26e50f36b7d90fad5e0b"),
    "idc-vanilla-images": ("a6b89feca6236c0b8e10565e", "896bc6b14d50d8846bce60c7"),
    "cafe-vanilla-images": ("7cd0b06de5f7dccbcf9c0f17", "515e374c6d609499541bad4e"),
    "cafe-fairdd-images": ("c36e961d88ac9e8e342f0719", "0e555090420a04ae245c7d81"),
    "cafe-cobra-images": ("a57d3b94d836847660e8159c", "a9506bd3b5c8917554befd07"),
    "cafe-cobra-tabular": ("1e7effc93eb0e2b564e251d5", "8ea3e6c1b527ceb30cd052e8"),
    "mtt-vanilla-images": ("9d135c5b3918cdf679eca310", "311df5e06e742a3e719e24d9"),
    "mtt-uniform-tabular": ("5d1a386cb7dac5bf613064a3", "d0f6e27ec38d1e38278d31d2"),
    "mtt-fairdd-images": ("dc38c035765514976e6ec15b", "f085ec9947c3ad48a9519cf2"),
    "mtt-cobra-images": ("8722648323b90518b1c3a6ad", "7a6eb5f6a20ed60b2be50a47"),
    "mtt-cobra-tabular": ("b6320859545f95650acbceec", "cf4a51cb86a030775fe12b2a"),
}


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


def checksums(estimator):
    X = np.ascontiguousarray(np.asarray(estimator.X_synthetic_))
    loss = np.ascontiguousarray(estimator.history_["loss"].to_numpy(dtype=np.float64))
    return (
        hashlib.sha256(X.tobytes()).hexdigest()[:24],
        hashlib.sha256(loss.tobytes()).hexdigest()[:24],
    )


def fit_case(case):
    data, params = params_of(case)
    X, y, groups = tabular() if data == "tabular" else images()
    return BarycentricDistiller(**params).fit(X, y, sensitive_features=groups)


@pytest.mark.parametrize("case", sorted(CASES))
def test_pinned_synthetic_sets(case):
    assert checksums(fit_case(case)) == PINS[case]
