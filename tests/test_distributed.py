"""Data-parallel fits: two gloo processes on the CPU give the single-process synthetic set."""

import numpy as np
import pytest
import torch
import torch.distributed as dist

from skdistill import BarycentricDistiller
from skdistill._distributed import (
    MSG_METHOD,
    MSG_SEEDS,
    MSG_TARGET,
    MSG_WORLD_SIZE,
    check_components,
    is_main_process,
    slice_bounds,
)
from skdistill.methods import CAFE, DC, TrajectoryMatching
from skdistill.targets import TARGETS

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()),
    reason="torch.distributed with the gloo backend is not available",
)

WORLD = 2
BASE = dict(ipc=2, n_iter=3, batch_real=12, lr=0.3, net_width=4, net_depth=2, device="cpu")
BASE.update(random_state=5, n_threads=1, init="random_real")


def tabular():
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1, 2], 30)
    groups = np.where(rng.random(90) < 0.7, "a", "b")
    X = rng.normal(size=(90, 4)) + y[:, None] + 1.5 * (groups == "b")[:, None]
    return X, y, groups


def images():
    rng = np.random.default_rng(4)
    X = rng.integers(0, 256, size=(40, 8, 8, 3), dtype=np.uint8)
    return X, np.repeat([0, 1], 20), np.tile([0, 0, 1, 1, 1], 8)


#: name -> (data, distiller parameters); every case is fitted once per rank.
CASES = {
    "dm-vanilla": (tabular, dict(method="dm", target="vanilla")),
    "dm-fairdd": (tabular, dict(method="dm", target="fairdd")),
    "dm-cobra": (tabular, dict(method="dm", target="cobra")),
    "dm-cobra-dsa": (images, dict(method="dm", target="cobra", augment="dsa")),
    "dc-vanilla": (tabular, dict(method=DC(outer_loop=2, inner_loop=1), target="vanilla")),
    "dc-fairdd": (tabular, dict(method=DC(outer_loop=2, inner_loop=1), target="fairdd")),
    "dc-cobra": (tabular, dict(method=DC(outer_loop=2, inner_loop=1), target="cobra")),
    "cafe-align": (
        tabular,
        dict(method=CAFE(outer_loop=2, inner_loop=1, discrimination_weight=0), target="cobra"),
    ),
}
#: Cases that every rank must refuse with the same message.
REFUSED = {
    "seed-per-rank": (tabular, dict(method="dm", target="cobra"), "rank-seed"),
    "cafe-discrimination": (tabular, dict(method=CAFE(outer_loop=2), target="cobra"), None),
    "wasserstein": (tabular, dict(method="dm", target="wasserstein"), None),
}


def _fit(make_data, params, out=None, **extra):
    X, y, groups = make_data()
    kwargs = {**BASE, **params, **extra}
    if out is not None:
        kwargs["checkpoint_dir"] = str(out / "checkpoint")
    distiller = BarycentricDistiller(**kwargs).fit(X, y, sensitive_features=groups)
    if out is not None:
        distiller.save_synthetic(out / "synthetic.npz")
    return distiller


def _worker(rank, store, outputs, results):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    try:
        found = {"main": is_main_process()}
        for name, (make_data, params) in CASES.items():
            out = outputs / f"rank{rank}" / name
            found[name] = _fit(make_data, params, out).X_synthetic_
        for name, (make_data, params, seed) in REFUSED.items():
            extra = {"random_state": rank} if seed else {}
            try:
                _fit(make_data, params, **extra)
                found[name] = "fitted"
            except ValueError as exc:
                found[name] = str(exc)
        torch.save(found, results / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    root = tmp_path_factory.mktemp("ranks")
    outputs, results = root / "outputs", root / "results"
    outputs.mkdir()
    results.mkdir()
    torch.multiprocessing.spawn(
        _worker, args=(root / "store", outputs, results), nprocs=WORLD, join=True
    )
    found = [torch.load(results / f"rank{r}.pt", weights_only=False) for r in range(WORLD)]
    return found, outputs


@pytest.mark.parametrize("name", list(CASES))
def test_two_ranks_give_the_single_process_set(two_ranks, name):
    found, _ = two_ranks
    make_data, params = CASES[name]
    single = _fit(make_data, params).X_synthetic_
    for rank in range(WORLD):
        np.testing.assert_allclose(found[rank][name], single, rtol=1e-4, atol=1e-4)
    # the ranks hold the same set (the synthetic set is replicated)
    np.testing.assert_array_equal(found[0][name], found[1][name])


def test_two_ranks_move_the_set(two_ranks):
    # the equality above is not that of an unchanged initial set (random real rows)
    found, _ = two_ranks
    X, _, _ = tabular()
    synthetic = found[0]["dm-cobra"]
    gaps = np.abs(synthetic[:, None, :] - X[None]).max(axis=2).min(axis=1)
    assert gaps.min() > 1e-3


def test_only_rank_zero_writes(two_ranks):
    found, outputs = two_ranks
    assert [f["main"] for f in found] == [True, False]
    written = {p.relative_to(outputs).parts[0] for p in outputs.rglob("*") if p.is_file()}
    assert written == {"rank0"}
    for name in CASES:
        assert (outputs / "rank0" / name / "synthetic.npz").is_file()
        assert any((outputs / "rank0" / name / "checkpoint").iterdir())


def test_ranks_refuse_what_needs_more_than_row_sums(two_ranks):
    found, _ = two_ranks
    for rank in range(WORLD):
        assert found[rank]["seed-per-rank"] == MSG_SEEDS.format(values=[0, 1])
        assert found[rank]["cafe-discrimination"] == MSG_METHOD.format(method="cafe")
        assert found[rank]["wasserstein"] == MSG_TARGET.format(target="wasserstein")


def test_slice_bounds_cover_the_data_and_refuse_too_many_ranks():
    bounds = [slice_bounds(10, r, 3) for r in range(3)]
    assert bounds[0][0] == 0 and bounds[-1][1] == 10
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    with pytest.raises(ValueError) as info:
        slice_bounds(2, 0, 3)
    assert str(info.value) == MSG_WORLD_SIZE.format(world=3, n=2)


def test_single_process_is_main_and_accepts_row_components():
    assert is_main_process()
    from skdistill.methods import DistributionMatching

    method = DistributionMatching((4,), 2, device=torch.device("cpu"))
    check_components(method, TARGETS["cobra"]())
    with pytest.raises(ValueError) as info:
        check_components(method, TARGETS["mmd"]())
    assert str(info.value) == MSG_TARGET.format(target="mmd")
    trajectories = TrajectoryMatching((4,), 2, device=torch.device("cpu"))
    with pytest.raises(ValueError) as info:  # experts are trained on whole data
        check_components(trajectories, TARGETS["cobra"]())
    assert str(info.value) == MSG_METHOD.format(method="mtt")
