"""Trajectory matching (MTT) and its targets: expert buffers, the unroll, COBRA- and FairDD-MTT."""

import gc
import json
import shutil
import tempfile

import numpy as np
import pytest
import torch

from skdistill import BarycentricDistiller
from skdistill.methods import MTT, TrajectoryMatching, load_experts, train_experts
from skdistill.methods._experts import ExpertData
from skdistill.targets import TARGETS, CobraTarget, TrajectoryPlan

CPU = torch.device("cpu")
#: A tiny MTT: 3 student steps, targets 1 epoch after starts in {0, 1}, 2 experts per buffer.
SMALL = dict(syn_steps=3, expert_epochs=1, max_start_epoch=2, n_experts=2, lr_init=1e-3)
TINY = dict(ipc=2, n_iter=2, net_width=4, net_depth=2, random_state=0)


def mtt(**params):
    """The tiny MTT parameter object, with overrides."""
    return MTT(**{**SMALL, **params})


def distiller(target="cobra", expert_dir=None, mtt_params=None, **params):
    """A tiny MTT distiller."""
    method = mtt(expert_dir=expert_dir, **(mtt_params or {}))
    return BarycentricDistiller(method=method, target=target, **{**TINY, **params})


@pytest.fixture
def images():
    """48 uint8 RGB images 8x8, 2 classes, 3 groups (every cell populated)."""
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, size=(48, 3, 8, 8), dtype=np.uint8)
    y = np.repeat([0, 1], 24)
    groups = np.tile([0, 0, 1, 2], 12)
    return X, y, groups


def make_method(unroll="recompute", shape=(2, 4, 4), **params):
    kw = dict(SMALL, unroll=unroll)
    kw.update(params)
    return TrajectoryMatching(shape, 2, net_width=2, net_depth=1, device=CPU, **kw)


def random_buffers(method, n_buffers, n_experts=1, epochs=2, seed=0, dtype=torch.float64):
    """Expert trajectories with small random steps between epochs."""
    gen = torch.Generator().manual_seed(seed)
    n_params = sum(p.numel() for p in method.network.parameters())
    out = []
    for _ in range(n_buffers):
        start = torch.randn(n_experts, 1, n_params, generator=gen, dtype=dtype) * 0.5
        steps = torch.randn(n_experts, epochs, n_params, generator=gen, dtype=dtype) * 0.05
        out.append(torch.cat([start, start + steps.cumsum(1)], dim=1))
    return out


def synthetic_set(shape=(2, 4, 4), ipc=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2 * ipc, *shape, generator=gen, dtype=torch.float64).requires_grad_(True)


def matched(method, plan, buffers, x, seed=3):
    """Loss and gradients (synthetic set, step size) of one matching step."""
    method.use_experts(plan, buffers)
    method.begin_iteration(seed)
    x = x.detach().clone().requires_grad_(True)
    loss = method.match(None, plan, x, 2)
    return loss.item(), x.grad.clone(), method.syn_lr.grad.clone()


# ---------------------------------------------------------------------------- targets


def tiny_experts(X, y, groups, folder, buffers="groups"):
    """One 2-epoch expert per buffer of a 4-wide, 2-deep ConvNet, saved in ``folder``."""
    return train_experts(
        X,
        y,
        groups,
        buffers=buffers,
        n_experts=1,
        epochs=2,
        net_width=4,
        net_depth=2,
        save_dir=folder,
        random_state=0,
        verbose=0,
    )


def test_cobra_start_and_target_points_are_the_mean_of_the_group_checkpoints():
    method = make_method()
    buffers = random_buffers(method, 3, n_experts=4)
    plan = CobraTarget().trajectory_plan(3)
    method.use_experts(plan, buffers)
    method.begin_iteration(7)
    t, experts = method._draw
    start, target = (plan.points(c) for c in method.checkpoints(torch.float64))
    expected_start = torch.stack([b[e, t] for b, e in zip(buffers, experts)]).mean(0)
    expected_target = torch.stack([b[e, t + 1] for b, e in zip(buffers, experts)]).mean(0)
    torch.testing.assert_close(start[0], expected_start)
    torch.testing.assert_close(target[0], expected_target)
    # the group weights of barycenter_weights, and other barycenters, apply to checkpoints too
    weighted = CobraTarget(weights=[2.0, 1.0, 1.0]).trajectory_plan(3)
    points = torch.stack([b[0, 0] for b in buffers])
    torch.testing.assert_close(weighted.points(points)[0], (2 * points[0] + points[1:].sum(0)) / 4)
    median = CobraTarget(barycenter="l1").trajectory_plan(3)
    torch.testing.assert_close(median.points(points)[0], points.median(dim=0).values)


def test_cobra_mtt_matches_a_single_expert_on_the_mean_trajectory():
    method = make_method()
    buffers = random_buffers(method, 3)  # one expert per group: the draws are fixed
    mean = [torch.stack(buffers).mean(0)]
    x = synthetic_set()
    cobra = matched(method, CobraTarget().trajectory_plan(3), buffers, x)
    vanilla = matched(method, TARGETS["vanilla"]().trajectory_plan(3), mean, x)
    assert cobra[0] == pytest.approx(vanilla[0], rel=1e-10)
    for a, b in zip(cobra[1:], vanilla[1:]):
        torch.testing.assert_close(a, b)


def test_fairdd_mtt_is_the_sum_of_the_per_group_losses():
    method = make_method()
    buffers = random_buffers(method, 2)
    x = synthetic_set()
    plan = TARGETS["fairdd"]().trajectory_plan(2)
    assert plan.buffers == "groups" and plan.n_terms == 2
    fairdd = matched(method, plan, buffers, x)
    vanilla = TARGETS["vanilla"]().trajectory_plan(2)
    per_group = [matched(method, vanilla, [b], x) for b in buffers]
    assert fairdd[0] == pytest.approx(sum(p[0] for p in per_group), rel=1e-10)
    torch.testing.assert_close(fairdd[1], per_group[0][1] + per_group[1][1])
    torch.testing.assert_close(fairdd[2], per_group[0][2] + per_group[1][2])


def test_every_target_says_which_buffers_it_reads():
    assert TARGETS["vanilla"]().trajectory_plan(3).buffers == "all"
    assert TARGETS["uniform"]().trajectory_plan(3).buffers == "balanced"
    assert TARGETS["cobra"]().trajectory_plan(3).buffers == "groups"
    for name in ("reweighted", "mmd"):
        assert "trajectories" not in TARGETS[name].plan_kinds()
        with pytest.raises(ValueError, match=f"target='{name}' has no trajectory target"):
            TARGETS[name]().trajectory_plan(3)


@pytest.mark.parametrize("target", ["reweighted", "mmd", "wasserstein"])
def test_targets_without_trajectories_are_refused_by_name(images, target):
    X, y, groups = images
    with pytest.raises(ValueError, match=f"target='{target}'.*method='mtt'"):
        distiller(target).fit(X, y, sensitive_features=groups)


def test_balanced_buffers_draw_the_groups_of_a_class_equally_often(images):
    X, y, groups = images
    data = ExpertData.from_inputs(X, y, groups)
    p = data._balanced_probabilities()
    cells = np.zeros((2, 3))
    np.add.at(cells, (data.y_codes, data.g_codes), p)
    np.testing.assert_allclose(cells, np.full((2, 3), 0.5 / 3))  # class 1/2, each group 1/3 of it


def test_epochs_of_group_buffers_can_span_as_many_steps_as_one_on_all_the_data(images):
    X, y, groups = images
    data = ExpertData.from_inputs(X, y, groups)
    rng = np.random.default_rng(0)
    own = data.training_order("group-1", rng)  # one pass over the group's 12 samples
    assert sorted(own) == list(np.flatnonzero(groups == 1))
    n = data.epoch_samples("group-1", "all", 256)
    order = data.training_order("group-1", rng, n)
    assert n == 48 and order.shape == (48,) and set(order) == set(own)
    assert (np.bincount(order, minlength=48)[own] == 4).all()  # four fresh passes
    assert data.epoch_samples("group-1", 3, 16) == 48  # 3 SGD steps of 16


# ---------------------------------------------------------------------------- the gradient
@pytest.mark.parametrize("unroll", ["recompute", "full"])
def test_gradient_matches_finite_differences(unroll):
    method = make_method(unroll, lr_init=0.3)
    buffers = random_buffers(method, 1)
    plan = TARGETS["vanilla"]().trajectory_plan(1)
    x = synthetic_set()
    loss, grad_x, grad_lr = matched(method, plan, buffers, x)
    assert grad_x.abs().sum() > 0 and grad_lr.abs() > 0

    def value(x_, lr):
        with torch.no_grad():
            method.syn_lr.fill_(lr)
        return matched(method, plan, buffers, x_)[0]

    eps = 1e-6
    gen = torch.Generator().manual_seed(5)
    for _ in range(3):  # directional derivatives along random directions
        d = torch.randn(x.shape, generator=gen, dtype=torch.float64)
        numeric = (value(x + eps * d, 0.3) - value(x - eps * d, 0.3)) / (2 * eps)
        assert (grad_x * d).sum().item() == pytest.approx(numeric, rel=1e-5, abs=1e-9)
    numeric_lr = (value(x, 0.3 + eps) - value(x, 0.3 - eps)) / (2 * eps)
    assert grad_lr.item() == pytest.approx(numeric_lr, rel=1e-5)


def test_recomputed_unroll_gives_the_full_unroll_gradient_with_augmentation():
    from skdistill.methods import DSA

    x = synthetic_set(shape=(3, 8, 8))
    out = []
    for unroll in ("full", "recompute"):
        method = make_method(unroll, shape=(3, 8, 8), augment=DSA(), batch_syn=3)
        out.append(
            matched(method, TARGETS["vanilla"]().trajectory_plan(1), random_buffers(method, 1), x)
        )
    assert out[0][0] == pytest.approx(out[1][0], rel=1e-12)
    torch.testing.assert_close(out[0][1], out[1][1])
    torch.testing.assert_close(out[0][2], out[1][2])


# ---------------------------------------------------------------------------- the estimator
def test_same_seed_gives_the_same_synthetic_set_and_step_size(images):
    X, y, groups = images
    fits = [distiller("cobra").fit(X, y, sensitive_features=groups) for _ in range(2)]
    np.testing.assert_array_equal(fits[0].X_synthetic_, fits[1].X_synthetic_)
    assert fits[0].synthetic_lr_ == fits[1].synthetic_lr_
    assert fits[0].synthetic_lr_ != SMALL["lr_init"]  # the step size was learnt
    assert not np.array_equal(fits[0].X_synthetic_, X[np.r_[:2, 24:26]].astype(np.float32))


def test_fit_trains_experts_into_expert_dir_once_and_reuses_them(images, tmp_path, monkeypatch):
    X, y, groups = images
    first = distiller("fairdd", expert_dir=tmp_path)
    first.fit(X, y, sensitive_features=groups)
    names = sorted(p.name for p in tmp_path.glob("experts-*.pt"))
    assert names == ["experts-group-0.pt", "experts-group-1.pt", "experts-group-2.pt"]
    info = json.loads((tmp_path / "experts-group-1.pt.json").read_text())
    assert info["group"] == "1" and info["training"]["epochs"] == 2  # max_start - 1 + M
    assert info["data"]["n_trained_on"] == 12 and info["data"]["epoch_samples"] == 12

    import skdistill.methods._experts as experts

    monkeypatch.setattr(experts, "train_buffers", lambda *a, **k: pytest.fail("retrained"))
    second = distiller("fairdd", expert_dir=tmp_path)
    second.fit(X, y, sensitive_features=groups)
    np.testing.assert_array_equal(first.X_synthetic_, second.X_synthetic_)


def test_resume_restores_the_learnable_step_size(images, tmp_path):
    X, y, groups = images
    kw = dict(target="vanilla", expert_dir=tmp_path / "experts")
    whole = distiller(**kw, n_iter=4).fit(X, y)
    part = distiller(**kw, checkpoint_dir=tmp_path / "ckpt").fit(X, y)
    assert part.synthetic_lr_ != whole.synthetic_lr_
    part.set_params(n_iter=4).fit(X, y, resume=True)
    np.testing.assert_array_equal(part.X_synthetic_, whole.X_synthetic_)
    assert part.synthetic_lr_ == whole.synthetic_lr_


def test_partial_fit_continues_an_mtt_fit_bit_for_bit(images, tmp_path):
    X, y, groups = images
    kw = dict(target="cobra", expert_dir=tmp_path)
    whole = distiller(**kw, n_iter=3).fit(X, y, sensitive_features=groups)
    part = distiller(**kw, n_iter=2).fit(X, y, sensitive_features=groups)
    part.partial_fit(X, y, sensitive_features=groups, n_iter=1)
    np.testing.assert_array_equal(part.X_synthetic_, whole.X_synthetic_)
    assert part.synthetic_lr_ == whole.synthetic_lr_ and part.n_iter_ == 3


def test_without_experts_the_method_and_the_loader_say_what_to_do(tmp_path):
    method = make_method()
    with pytest.raises(RuntimeError, match="no expert trajectories yet; call prepare_experts"):
        method.begin_iteration(0)
    with pytest.raises(FileNotFoundError, match="holds no expert buffer"):
        load_experts(tmp_path)


def test_a_grid_search_reaches_the_parameters_of_mtt():
    d = BarycentricDistiller(method=MTT())
    d.set_params(method__syn_steps=5, method__expert_epoch_length="all")
    assert d.method.syn_steps == 5 and d.get_params()["method__expert_epoch_length"] == "all"
    defaults = MTT().get_params()  # the reference's values
    assert (defaults["syn_steps"], defaults["expert_epochs"], defaults["max_start_epoch"]) == (
        30,
        2,
        20,
    )
    assert defaults["lr_init"] == 0.01 and defaults["expert_epoch_length"] == "buffer"
    assert TrajectoryMatching.default_lr == 1000.0


def test_tables_use_an_mlp_student():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = np.repeat([0, 1], 20)
    d = distiller("vanilla").fit(X, y)
    assert d.X_synthetic_.shape == (4, 3) and np.isfinite(d.X_synthetic_).all()


# ---------------------------------------------------------------------------- expert buffers
def test_buffers_round_trip_and_are_reproducible(images, tmp_path):
    X, y, groups = images
    kw = dict(buffers=["all", "groups"], n_experts=2, epochs=2, net_width=4, net_depth=2)
    saved = train_experts(X, y, groups, save_dir=tmp_path, random_state=3, verbose=0, **kw)
    in_memory = train_experts(X, y, groups, random_state=3, verbose=0, **kw)
    loaded = load_experts(tmp_path)
    assert sorted(loaded.keys()) == ["all", "group-0", "group-1", "group-2"]
    for key in loaded.keys():
        assert loaded[key].shape == (2, 3, in_memory[key].shape[-1])
        torch.testing.assert_close(loaded[key], in_memory[key], rtol=0, atol=0)
        torch.testing.assert_close(saved[key], in_memory[key], rtol=0, atol=0)
    assert not torch.equal(loaded["group-0"][0], loaded["group-0"][1])  # distinct experts
    # expert e of every buffer starts from the same network, then follows its own data
    for key in ("all", "group-1", "group-2"):
        torch.testing.assert_close(loaded[key][:, 0], loaded["group-0"][:, 0], rtol=0, atol=0)
        assert not torch.equal(loaded[key][:, 1], loaded["group-0"][:, 1])
    info = loaded.info["group-2"]
    assert info["data"]["n_samples"] == 48 and info["training"]["random_state"] == 3
    assert info["network"]["net_width"] == 4 and info["sha256"]
    # "all" experts do not depend on the groups: one seed, one key, the same experts
    alone = train_experts(
        X,
        y,
        buffers="all",
        n_experts=2,
        epochs=2,
        net_width=4,
        net_depth=2,
        random_state=3,
        verbose=0,
    )
    torch.testing.assert_close(alone["all"], in_memory["all"], rtol=0, atol=0)


def test_tampered_buffers_are_refused(images, tmp_path):
    X, y, groups = images
    tiny_experts(X, y, None, tmp_path, buffers="all")
    path = tmp_path / "experts-all.pt"
    data = bytearray(path.read_bytes())
    data[-200] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupted or was modified"):
        load_experts(tmp_path)
    with pytest.raises(ValueError, match="corrupted or was modified"):
        distiller("vanilla", expert_dir=tmp_path).fit(X, y)


def test_experts_of_other_data_or_another_network_are_refused(images, tmp_path):
    X, y, groups = images
    tiny_experts(X, y, groups, tmp_path, buffers="groups")
    other = X.copy()
    other[0, 0, 0, 0] ^= 1
    with pytest.raises(ValueError, match="trained on other data"):
        distiller(expert_dir=tmp_path).fit(other, y, sensitive_features=groups)
    with pytest.raises(ValueError, match="trained on other data"):  # same images, other groups
        distiller(expert_dir=tmp_path).fit(X, y, sensitive_features=np.roll(groups, 1))
    with pytest.raises(ValueError, match="for another network.*net_width"):
        distiller(expert_dir=tmp_path, net_width=5).fit(X, y, sensitive_features=groups)


def test_missing_group_experts_are_refused(images, tmp_path):
    X, y, groups = images
    tiny_experts(X, y, groups, tmp_path, buffers="groups")
    for path in tmp_path.glob("experts-group-1.pt*"):
        path.unlink()
    with pytest.raises(ValueError, match=r"none for group\(s\) \['1'\]"):
        distiller("cobra", expert_dir=tmp_path).fit(X, y, sensitive_features=groups)


def test_group_buffers_trained_separately_are_refused(images, tmp_path):
    X, y, groups = images
    kw = dict(buffers="groups", n_experts=1, epochs=2, net_width=4, net_depth=2, verbose=0)
    train_experts(X, y, groups, save_dir=tmp_path / "a", random_state=0, **kw)
    train_experts(X, y, groups, save_dir=tmp_path / "b", random_state=1, **kw)
    for path in (tmp_path / "b").glob("experts-group-1.pt*"):
        shutil.copy(path, tmp_path / "a" / path.name)
    with pytest.raises(ValueError, match="trained separately"):
        distiller(expert_dir=tmp_path / "a").fit(X, y, sensitive_features=groups)


def test_trajectories_longer_than_the_buffers_are_refused(images, tmp_path):
    X, y, _ = images
    tiny_experts(X, y, None, tmp_path, buffers="all")
    long = dict(max_start_epoch=2, expert_epochs=2)
    with pytest.raises(
        ValueError, match="hold 2 epoch.*max_start_epoch=2 and expert_epochs=2 need 3"
    ):
        distiller("vanilla", expert_dir=tmp_path, mtt_params=long).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(method=MTT(syn_steps=0)), "'syn_steps' parameter of MTT must be"),
        (dict(method=MTT(unroll="partial")), "'unroll' parameter of MTT must be"),
        (dict(net_norm="batch"), "net_norm='batch' does not apply to method='mtt'"),
        (dict(method="mtt", outer_loop=2), "outer_loop=2 does not apply to method='mtt'"),
        (dict(syn_steps=3), "syn_steps"),  # no flat estimator option: MTT(syn_steps=...)
    ],
)
def test_bad_options_are_refused_by_name(images, params, match):
    X, y, groups = images
    kw = dict(TINY, method=mtt())
    kw.update(params)
    with pytest.raises((ValueError, TypeError), match=match):
        BarycentricDistiller(**kw).fit(X, y, sensitive_features=groups)


def test_sample_weight_is_refused(images):
    X, y, _ = images
    with pytest.raises(ValueError, match="sample_weight does not apply to method='mtt'"):
        distiller().fit(X, y, sample_weight=np.ones(48))


def test_a_plan_of_another_kind_is_refused():
    method = make_method()
    method.use_experts(TARGETS["vanilla"]().trajectory_plan(1), random_buffers(method, 1))
    method.begin_iteration(0)
    row_plan = TARGETS["vanilla"]().plan(np.array([0, 1]), np.array([0, 0]), 2, 1)
    with pytest.raises(ValueError, match="method='mtt' takes plans of kind"):
        method.match(None, row_plan, synthetic_set(), 2)
    assert isinstance(TARGETS["cobra"]().trajectory_plan(2), TrajectoryPlan)


def test_experts_of_a_fit_without_expert_dir_are_removed(images, tmp_path, monkeypatch):
    X, y, _ = images
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    d = distiller("vanilla").fit(X, y)
    gc.collect()
    assert list(tmp_path.iterdir()) == [] and d.n_iter_ == 2


def test_a_fitted_mtt_distiller_saves_and_loads_with_path_parameters(images, tmp_path):
    from skdistill import load

    X, y, _ = images
    d = distiller("vanilla", expert_dir=tmp_path / "e").fit(X, y)
    back = load(d.save(tmp_path / "d.skd"))
    assert back.get_params()["method__expert_dir"] == tmp_path / "e"
    assert back.method.get_params() == d.method.get_params()
    assert back.synthetic_lr_ == d.synthetic_lr_
    np.testing.assert_array_equal(back.X_synthetic_, d.X_synthetic_)


def test_a_method_refuses_trajectories_too_short_for_its_reach():
    method = make_method(max_start_epoch=2, expert_epochs=2)
    short = random_buffers(method, 1, epochs=2)  # 3 snapshots, 4 needed
    with pytest.raises(ValueError, match=r"max_start_epoch \+ expert_epochs = 4 snapshots"):
        method.use_experts(TARGETS["vanilla"]().trajectory_plan(1), short)
    with pytest.raises(ValueError, match="the plan reads 2 buffer"):
        method.use_experts(TARGETS["fairdd"]().trajectory_plan(2), short)


# ---------------------------------------------------------------------------- benchmark
def test_the_benchmark_runs_mtt_from_the_command_line_and_caches_its_experts(tmp_path):
    from skdistill.benchmark import BUDGETS
    from skdistill.cli import main

    tiny = dict(n_iter=2, net_width=8, syn_steps=2, expert_epochs=1, max_start_epoch=2)
    config = tmp_path / "mtt.json"
    config.write_text(
        json.dumps(
            {
                "datasets": ["german"],
                "ipc": [2],
                "seeds": 1,
                "eval_runs": 1,
                "budgets": {"tabular": dict(tiny, n_experts=1)},
            }
        )
    )
    out = tmp_path / "out"
    args = ["benchmark", "--config", str(config), "--methods", "mtt", "--targets", "vanilla"]
    args += ["cobra", "fairdd", "--baselines", "random", "df", "--out", str(out), "--quiet"]
    assert main(args) == 0
    records = json.loads((out / "results.json").read_text())["records"]
    # no loss-reweighting row: MTT has no trajectory plan for it
    assert [r["entry"] for r in records] == [
        "RANDOM",
        "MTT · vanilla",
        "MTT · COBRA",
        "MTT · FairDD",
    ]
    assert all(0 <= r["accuracy"] <= 1 for r in records)
    # one expert folder for the dataset and seed, shared by the targets: trained once each
    (folder,) = (out / "cache" / "experts").iterdir()
    names = sorted(p.name for p in folder.glob("experts-*.pt"))
    assert names == ["experts-all.pt", "experts-group-0.pt", "experts-group-1.pt"]
    assert BUDGETS[("cmnist", "mtt")]["syn_steps"] == 10  # the CPU budget of the tables


def test_benchmark_cells_give_mtt_its_parameter_object():
    from skdistill.benchmark.config import distiller_params

    params = distiller_params("mtt", {"n_iter": 3, "syn_steps": 4, "n_experts": 2})
    assert params["n_iter"] == 3 and isinstance(params["method"], MTT)
    assert params["method"].get_params()["syn_steps"] == 4
    assert params["method"].get_params()["n_experts"] == 2


def test_an_interrupted_expert_training_resumes(images, tmp_path):
    X, y, groups = images
    distiller("cobra", expert_dir=tmp_path).fit(X, y, sensitive_features=groups)
    files = sorted(tmp_path.glob("experts-group-*.pt"))
    assert len(files) == 3
    whole = {p.name: p.read_bytes() for p in files}
    for path in tmp_path.glob("experts-group-2.pt*"):  # as if stopped before the last group
        path.unlink()
    again = distiller("cobra", expert_dir=tmp_path).fit(X, y, sensitive_features=groups)
    # the missing buffer is trained as the uninterrupted training made it
    assert {p.name: p.read_bytes() for p in sorted(tmp_path.glob("experts-group-*.pt"))} == whole
    fresh = distiller("cobra", expert_dir=tmp_path / "other").fit(X, y, sensitive_features=groups)
    np.testing.assert_array_equal(again.X_synthetic_, fresh.X_synthetic_)
    # buffers of another training (other seed) are still not completed behind the user's back
    for path in tmp_path.glob("experts-group-2.pt*"):
        path.unlink()
    with pytest.raises(ValueError, match=r"none for group\(s\) \['2'\]"):
        distiller("cobra", tmp_path, random_state=1).fit(X, y, sensitive_features=groups)
    other = X.copy()  # nor are buffers of other data: nothing is trained into the folder
    other[0, 0, 0, 0] ^= 1
    with pytest.raises(ValueError, match=r"none for group\(s\) \['2'\]"):
        distiller("cobra", tmp_path).fit(other, y, sensitive_features=groups)
    assert not list(tmp_path.glob("experts-group-2.pt*"))
