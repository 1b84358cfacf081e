import importlib
import json

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_german_config
from matplotlib.image import imread

from skdistill.benchmark import (
    BUDGETS,
    FALLBACK_BUDGETS,
    Row,
    load_benchmark_dataset,
    make_config,
    method_label,
    plan,
    run_benchmark,
    target_label,
)
from skdistill.benchmark.config import FULL_EPOCHS, cell_budget
from skdistill.benchmark.figures import grid_title
from skdistill.benchmark.plan import task_key
from skdistill.cli import main
from skdistill.methods import METHODS, DistributionMatching
from skdistill.targets import TARGETS, FairDDTarget

TINY_BUDGETS = {
    "digits": dict(n_iter=2, batch_real=8, net_width=8, eval_epochs=1, full_epochs=1),
    "tabular": dict(n_iter=2, batch_real=16, net_width=8),
}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A whole (tiny) benchmark run through the command line, from a YAML configuration."""
    out = tmp_path_factory.mktemp("bench")
    config = out / "config.yaml"
    config.write_text(
        "preset: smoke\n"
        "ipc: [2, 3]\n"
        "seeds: 1\n"
        "budgets:\n"
        + "".join(f"  {size}: {json.dumps(budget)}\n" for size, budget in TINY_BUDGETS.items())
    )
    assert main(["benchmark", "--config", str(config), "--out", str(out), "--quiet"]) == 0
    return out


def test_benchmark_writes_every_planned_record(finished):
    saved = json.loads((finished / "results.json").read_text())
    config = saved["config"]
    n_tasks = sum(len(tasks) for tasks in plan(config).values())
    assert len(saved["records"]) == n_tasks
    assert saved["machine"]["torch"] and saved["wall_seconds"] > 0
    entries = {r["entry"] for r in saved["records"]}
    for expected in (
        "FULL",
        "RANDOM",
        "RANDOM (group-balanced)",
        "ThresholdOptimizer (equalized odds)",
        "ExponentiatedGradient (EqualizedOdds)",
        "CorrelationRemover",
        "DM · vanilla",
        "DM · COBRA",
        "DM · DF (loss reweighting)",
        "DM · MF (fair downstream)",
        "DM · RF (fair extractor)",
    ):
        assert expected in entries
    german = [r for r in saved["records"] if r["dataset"] == "german"]
    assert all(0 <= r["accuracy"] <= 1 for r in german)
    digits_fairlearn = [
        r for r in saved["records"] if r["dataset"] == "digits-bg" and "Optimizer" in r["entry"]
    ]
    assert all(r["accuracy"] is None and r["note"] == "tabular data only" for r in digits_fairlearn)


def test_sets_are_scored_as_learnt_by_several_models_and_full_records_its_curve(finished):
    saved = json.loads((finished / "results.json").read_text())
    for record in saved["records"]:
        if record["entry"] == "FULL" and record["dataset"] == "digits-bg":
            # one model per seed, trained full_epochs, with its training curve
            assert len(record["runs"]) == 1
            assert len(record["curve"]["epoch"]) == TINY_BUDGETS["digits"]["full_epochs"]
        elif record["entry"].startswith("DM · ") and record["dataset"] == "digits-bg":
            assert len(record["runs"]) == 2  # the smoke preset's eval_runs
            mean = np.mean([run["accuracy"] for run in record["runs"]])
            assert record["accuracy"] == pytest.approx(mean)
            assert record["protocol"] == 2
    cached = [np.load(path) for path in (finished / "cache").glob("*.npz")]
    images = [c["X"] for c in cached if c["X"].ndim == 4]
    assert images and all(x.dtype == np.float32 for x in images)  # as learnt, not uint8
    assert any(not np.array_equal(x, np.rint(x)) for x in images)
    text = (finished / "results.md").read_text()
    assert "CPU-sized" in text and "2 evaluation run(s)" in text


def test_summary_pools_seeds_and_evaluation_runs():
    from skdistill.benchmark import summarise

    runs = [[{"accuracy": a, "eod_max": 0.1, "eod_mean": 0.05} for a in (0.5, 0.7)]] * 2
    records = pd.DataFrame(
        {
            "dataset": ["d", "d"],
            "sweep": [None, None],
            "sweep_value": [None, None],
            "ipc": [10, 10],
            "arch": ["convnet"] * 2,
            "entry": ["DM · COBRA"] * 2,
            "seed": [0, 1],
            "accuracy": [0.6, 0.6],
            "eod_max": [0.1, 0.1],
            "eod_mean": [0.05, 0.05],
            "runs": runs,
        }
    )
    row = summarise(records).iloc[0]
    assert row["n_seeds"] == 2 and row["n_models"] == 4
    assert row["accuracy_mean"] == pytest.approx(0.6)
    assert row["accuracy_std"] == pytest.approx(np.std([0.5, 0.7, 0.5, 0.7], ddof=1))


def test_adult_with_intersectional_groups():
    data = load_benchmark_dataset("adult-sexrace")
    groups = set(data.A_train)
    assert "sex=Female, race=Black" in groups and len(groups) == 10
    assert len(data.A_test) == len(data.y_test) and data.X_train.shape[1] == 104


def test_every_distinct_cell_has_its_own_cached_synthetic_set(finished):
    # per dataset: 2 IPC x 2 targets, and DF at the first IPC (one seed); MF reuses vanilla's
    # set; the GAP sweep (2 severities x 2 targets) distils its own data
    assert len(list((finished / "cache").glob("*.npz"))) == 2 * (4 + 1) + 4


def test_benchmark_markdown_in_eod_acc_layout(finished):
    text = (finished / "results.md").read_text()
    assert "## IPC 2" in text and "## IPC 3" in text and "## GAP sweep: digits-bg" in text
    header = next(line for line in text.splitlines() if line.startswith("| entry"))
    assert "digits-bg · convnet" in header and "german · logreg" in header
    cobra = next(line for line in text.splitlines() if line.startswith("| DM · COBRA"))
    assert cobra.count("±") == 4  # EOD ± and accuracy ± for both datasets
    assert "n/a (tabular data only)" in text
    assert "Command: `skdistill benchmark --config" in text


def test_benchmark_figures_are_real_pngs(finished):
    expected = {
        "digits-bg_fairness_accuracy.png": (4.5, 6),
        "german_fairness_accuracy.png": (4.5, 6),
        "digits-bg_ipc.png": (4, 10),
        "german_ipc.png": (4, 10),
        "digits-bg_gap.png": (4, 10),
        "digits-bg_dm_synthetic.png": (4.6, 8.4),
        "digits-bg_dm_tsne.png": (8.4, 9),
        "digits-bg_full_training.png": (3.2, 8),
    }
    for name, (h, w) in expected.items():
        img = imread(finished / name)
        assert img.shape[:2] == (round(h * 110), round(w * 110)), name
        assert img[..., :3].std() > 0.01, name
    assert "![digits-bg_dm_tsne](digits-bg_dm_tsne.png)" in (finished / "results.md").read_text()


def test_benchmark_resumes_without_redoing_work(finished):
    before = json.loads((finished / "results.json").read_text())["records"]
    config = make_config("smoke", ipc=[2, 3], seeds=1, budgets=TINY_BUDGETS)
    lines = []
    result = run_benchmark(config, finished, log=lines.append, progress=False)
    assert lines == []  # nothing evaluated again
    assert len(result.records) == len(before)


def test_a_changed_budget_redoes_its_cells_and_replaces_their_records(tmp_path):
    out = tmp_path / "out"
    for n_iter in (2, 2, 3):
        config = tiny_german_config(
            tmp_path / "german.json",
            n_iter,
            methods=["dm"],
            targets=["cobra"],
            baselines=["random"],
        )
        assert main(["benchmark", "--config", str(config), "--out", str(out), "--quiet"]) == 0
        records = json.loads((out / "results.json").read_text())["records"]
        if n_iter == 2:
            first = {r["entry"]: r for r in records}
    again = {r["entry"]: r for r in records}
    assert sorted(again) == sorted(first) == ["DM · COBRA", "RANDOM"]  # replaced, not added
    # the distilled cell was redone under the new budget (a new set, a new distillation time);
    # RANDOM does not depend on the distillation budget and was kept
    assert again["DM · COBRA"]["budget"] != first["DM · COBRA"]["budget"]
    assert again["DM · COBRA"]["distil_seconds"] != first["DM · COBRA"]["distil_seconds"]
    assert again["RANDOM"] == first["RANDOM"]
    text = (out / "results.md").read_text()
    assert '"n_iter": 3' in text
    # the settings list the budget the run's cells ran with, not every method's and size's
    assert '"tabular/dm"' in text and '"tabular/dc"' not in text and '"digits/dm"' not in text


def test_benchmark_configuration_is_checked(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        make_config(datasets=["mnist"])
    with pytest.raises(ValueError, match="preset must be one of"):
        make_config("papers")
    with pytest.raises(ValueError, match="unknown configuration key"):
        make_config(epochs=3)
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"targets": ["magic"]}))
    assert main(["benchmark", "--config", str(bad), "--out", str(tmp_path)]) == 2


def test_gap_sweep_corrupts_all_but_the_majority_colour():
    clean = load_benchmark_dataset("digits-bg")
    gapped = load_benchmark_dataset("digits-bg", gap=1)
    changed = np.any(clean.X_train != gapped.X_train, axis=(1, 2, 3))
    names, counts = np.unique(clean.A_train, return_counts=True)
    majority = names[np.argmax(counts)]
    assert not changed[clean.A_train == majority].any()
    assert changed[clean.A_train != majority].mean() > 0.5
    changed_test = np.any(clean.X_test != gapped.X_test, axis=(1, 2, 3))
    assert not changed_test[clean.A_test == majority].any()  # GAP corrupts the test split too
    assert changed_test[clean.A_test != majority].all()
    with pytest.raises(ValueError, match="image datasets"):
        load_benchmark_dataset("german", gap=1)


class ToyMatching(DistributionMatching):
    """A method that no table of the benchmark lists."""

    name = "toy"


class ToyTarget(FairDDTarget):
    """A target that no table of the benchmark lists."""

    name = "toy"
    label = "Toy"


@pytest.fixture
def toy_registry(monkeypatch):
    """A toy method and a toy target registered as a plugin would register them."""
    monkeypatch.setitem(METHODS, "toy", ToyMatching)
    monkeypatch.setitem(TARGETS, "toy", ToyTarget)


def test_a_registered_method_and_target_run_through_the_benchmark(toy_registry, tmp_path):
    config = tiny_german_config(tmp_path / "toy.json")
    out = tmp_path / "out"
    args = ["benchmark", "--config", str(config), "--methods", "toy", "--targets", "vanilla"]
    args += ["toy", "--baselines", "random", "--out", str(out), "--quiet"]
    assert main(args) == 0
    records = json.loads((out / "results.json").read_text())["records"]
    assert [r["entry"] for r in records] == ["RANDOM", "TOY · vanilla", "TOY · Toy"]
    assert all(0 <= r["accuracy"] <= 1 for r in records)
    text = (out / "results.md").read_text()
    assert "| TOY · Toy |" in text
    assert '"tabular/toy"' in text  # its fallback budget is stated with the others


def test_a_method_without_a_budget_gets_the_fallback_of_its_data_size(toy_registry):
    config = make_config(datasets=["german", "digits-bg"], methods=["toy"], targets=["toy"])
    assert cell_budget(config, "german", "toy") == FALLBACK_BUDGETS["tabular"]
    assert cell_budget(config, "digits-bg", "toy") == FALLBACK_BUDGETS["digits"]
    assert cell_budget(config, "c-mnist-bg", "toy") == dict(
        FALLBACK_BUDGETS["paper"], full_epochs=FULL_EPOCHS
    )
    assert cell_budget(config, "german", "dm") == BUDGETS[("tabular", "dm")]
    assert target_label("toy") == "Toy" and method_label("toy") == "TOY"
    with pytest.raises(ValueError, match="unknown method"):
        make_config(methods=["imaginary"])


def test_demo_takes_any_registered_method_and_target(toy_registry, tmp_path):
    args = ["demo", "--method", "toy", "--targets", "toy", "--n-iter", "2", "--seeds", "1"]
    assert main([*args, "--out", str(tmp_path), "--quiet"]) == 0
    table = pd.read_csv(tmp_path / "adult_toy_results.csv", index_col=0)
    assert list(table.index) == ["full", "random", "toy"]
    assert (
        "method=toy, ipc=10, n_iter=2, batch_real=256"
        in (tmp_path / "adult_toy_report.md").read_text()
    )


def test_the_plan_is_the_table_of_rows(monkeypatch):
    config = make_config(datasets=["german"], methods=["dm"], targets=["cobra"], ipc=[2, 3])
    config["baselines"] = ["random", "df"]
    entries = [t["entry"] for tasks in plan(config).values() for t in tasks]
    # per seed: RANDOM and DM at both IPC, DF at the first IPC only
    assert (
        entries
        == ["RANDOM", "DM · COBRA", "DM · DF (loss reweighting)", "RANDOM", "DM · COBRA"] * 3
    )
    plan_module = importlib.import_module("skdistill.benchmark.plan")  # `plan` is the function
    extra = Row("random", "RANDOM (twice)", first_seed=True)
    monkeypatch.setattr(plan_module, "ROWS", (*plan_module.ROWS, extra))
    entries = [t["entry"] for tasks in plan(config).values() for t in tasks]
    assert entries.count("RANDOM (twice)") == 2  # the first seed, both IPC


def test_skip_leaves_method_target_pairs_out_of_the_plan():
    config = make_config("cafe-mtt", seeds=1)
    entries = {t["entry"] for tasks in plan(config).values() for t in tasks}
    assert {"CAFE · vanilla", "CAFE · FairDD", "CAFE · COBRA", "MTT · vanilla", "MTT · COBRA"} <= (
        entries
    )
    assert "MTT · FairDD" not in entries
    with pytest.raises(ValueError, match="'method/target' pairs"):
        make_config(skip=["mtt-fairdd"])


def test_gradient_matching_preset_shares_the_embedded_presets_dc_cells(tmp_path):
    # same keys and same cached-set digests: a folder holding one preset's DC sets and
    # records lets the other skip them
    from skdistill.benchmark.runner import Runner

    def dc_cells(preset):
        config = make_config(preset)
        runner = Runner(config, tmp_path / preset, log=lambda line: None)
        cells = {}
        for (name, _, _), tasks in plan(config).items():
            for t in tasks:
                if name == "cmnist-bg" and t["kind"] == "distilled" and t["method"] == "dc":
                    args = t["method"], t["target"], t["ipc"], t["seed"], t.get("params", {})
                    cells[task_key(t)] = runner.distiller_kwargs(name, *args)[1]
        return cells

    shared = dc_cells("gradient-matching")
    assert len(shared) == 9  # 3 targets x 3 seeds
    assert shared == dc_cells("embedded")
    methods = {
        t.get("method") for tasks in plan(make_config("gradient-matching")).values() for t in tasks
    }
    assert methods == {None, "dc", "idc"}  # with FULL and RANDOM


def test_a_list_of_seeds_runs_just_those_cells_of_the_full_plan():
    def keys(config, seed):
        tasks = [t for cells in plan(config).values() for t in cells]
        assert {t["seed"] for t in tasks} >= {seed}
        return [task_key(t) for t in tasks if t["seed"] == seed]

    part = make_config("cafe-mtt", seeds=[2])
    assert {t["seed"] for cells in plan(part).values() for t in cells} == {2}
    # the same cells, keyed as in the full run, so that records of both runs merge
    assert keys(part, 2) == keys(make_config("cafe-mtt", seeds=3), 2)
    for bad in ([], [1, 1], [-1], [1.5], [True]):
        with pytest.raises(ValueError, match="seeds"):
            make_config(seeds=bad)


def test_figures_draw_the_runs_own_sets_and_distil_nothing_else(tmp_path):
    # a run of seed 1 only, FairDD skipped: its synthetic grid is drawn from the sets its
    # plan cached, never from a seed-0 or a skipped set distilled only for the figure
    config = make_config(
        datasets=["digits-bg"],
        targets=["vanilla", "fairdd", "cobra"],
        ipc=[2],
        seeds=[1],
        baselines=[],
        skip=["dm/fairdd"],
        eval_runs=1,
        budgets=TINY_BUDGETS,
    )
    out = tmp_path / "out"
    run_benchmark(config, out, log=lambda line: None, progress=False)
    assert len(list((out / "cache").glob("*.npz"))) == 2  # vanilla and COBRA at seed 1
    assert imread(out / "digits-bg_dm_synthetic.png")[..., :3].std() > 0.01


class DivergingMatching(DistributionMatching):
    """DM whose loss 'becomes non-finite' while ``fail`` is set."""

    name = "diverging"
    fail = True

    def match(self, *args, **kwargs):
        if DivergingMatching.fail:
            raise FloatingPointError("the matching loss became non-finite")
        return super().match(*args, **kwargs)


def test_a_failing_cell_is_reported_and_the_rest_of_the_plan_runs(monkeypatch, tmp_path):
    monkeypatch.setitem(METHODS, "diverging", DivergingMatching)
    monkeypatch.setattr(DivergingMatching, "fail", True)
    config = tiny_german_config(tmp_path / "c.json", methods=["diverging", "dm"])
    out = tmp_path / "out"
    args = ["benchmark", "--config", str(config), "--targets", "vanilla", "--baselines"]
    args += ["random", "--out", str(out), "--quiet"]
    assert main(args) == 1
    records = json.loads((out / "results.json").read_text())["records"]
    assert [r["entry"] for r in records] == ["RANDOM", "DM · vanilla"]  # after the failure
    text = (out / "results.md").read_text()
    assert "## Cells that failed" in text
    assert "DIVERGING · vanilla, IPC 2, seed 0: FloatingPointError" in text
    monkeypatch.setattr(DivergingMatching, "fail", False)
    assert main(args) == 0  # the rerun retries the failed cell only
    records = json.loads((out / "results.json").read_text())["records"]
    assert [r["entry"] for r in records] == ["RANDOM", "DM · vanilla", "DIVERGING · vanilla"]
    assert "Cells that failed" not in (out / "results.md").read_text()


def test_synthetic_grid_titles_name_the_variant_drawn():
    # In a run of variants (e.g. the two starts of `inits`) the grids show the first one: the
    # panel says which, so the figure is not read as the other start's sets.
    assert grid_title("dm", "cobra", "random real init") == "DM · COBRA (random real init)"
    assert grid_title("dc", "vanilla") == "DC · vanilla"


def test_a_rerun_that_computes_nothing_keeps_the_machine_that_made_the_records(tmp_path):
    config = tiny_german_config(tmp_path / "german.json", methods=["dm"], targets=["cobra"])
    out = tmp_path / "out"
    args = ["benchmark", "--config", str(config), "--out", str(out), "--quiet"]
    assert main(args) == 0
    saved = json.loads((out / "results.json").read_text())
    saved["machine"]["torch_threads"] = 97  # as if another thread count had made the records
    (out / "results.json").write_text(json.dumps(saved))
    assert main(args) == 0
    assert json.loads((out / "results.json").read_text())["machine"]["torch_threads"] == 97
    assert "(97 torch threads)" in (out / "results.md").read_text()
    # a run that computes a record states its own machine
    saved["records"] = saved["records"][1:]
    (out / "results.json").write_text(json.dumps(saved))
    assert main(args) == 0
    assert json.loads((out / "results.json").read_text())["machine"]["torch_threads"] != 97
