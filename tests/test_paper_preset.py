"""The ``paper`` preset end to end on CPU, from fixture folders written here."""

import json

import pytest
from test_dataset_loaders import write_cifar, write_mnist

from skdistill.benchmark import make_config, plan, run_benchmark
from skdistill.benchmark.config import PAPER_BUDGETS, scaled
from skdistill.benchmark.data import TABLE1_DATASETS
from skdistill.cli import main

DATASETS = ["c-mnist-bg", "utkface"]  # utkface: no folder (cifar10-s: in the CLI test)
TINY = dict(
    datasets=DATASETS,
    methods=["dm", "dc", "cafe"],
    targets=["vanilla", "cobra"],
    ipc=[1, 2],
    eval_runs=1,
    budget_scale=0.001,
    # small networks and DC loops: the fixtures test the plumbing, not the budgets
    budgets={"paper": dict(net_width=8, net_depth=2, outer_loop=2, inner_loop=1)},
)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper-data")
    write_mnist(root, "MNIST", n_train=200, n_test=40)
    write_cifar(root, n_per_batch=40, n_test=40)
    return root


def test_the_preset_holds_the_authors_budgets():
    config = make_config("paper")
    assert config["datasets"] == TABLE1_DATASETS and config["ipc"] == [10, 50, 100]
    assert config["eval_runs"] == 10 and config["layout"] == "paper" and config["timing"]
    assert PAPER_BUDGETS["dm"]["n_iter"] == 2600 and PAPER_BUDGETS["dm"]["batch_real"] == 600
    assert PAPER_BUDGETS["dm"]["eval_epochs"] == 1500 and PAPER_BUDGETS["dc"]["eval_epochs"] == 1000
    assert PAPER_BUDGETS["cafe"] == dict(
        n_iter=2000, batch_real=256, eval_epochs=1000, eval_augment=None
    )
    assert config["methods"] == ["dm", "dc", "idc", "cafe"]
    assert scaled(PAPER_BUDGETS["dm"], 0.01) == dict(
        n_iter=26, batch_real=600, eval_epochs=15, eval_augment="dsa"
    )
    assert scaled({"n_iter": 2600}, 1e-6) == {"n_iter": 1}  # never below one


def test_paper_preset_end_to_end_on_fixture_folders(data_root, tmp_path):
    config = make_config("paper", data_root=str(data_root), **TINY)
    out = tmp_path / "out"
    logged = []
    result = run_benchmark(config, out, log=logged.append, progress=False)

    # the missing folder is one line naming the expected layout; the rest of the plan ran
    assert list(result.missing) == ["utkface"]
    assert any("skipped utkface" in line and "<age>_<gender>_<race>" in line for line in logged)
    planned = [t for (name, *_), tasks in plan(config).items() for t in tasks]
    expected = {json.dumps(t, sort_keys=True, default=str) for t in planned}
    ran = {r["key"] for r in json.loads((out / "results.json").read_text())["records"]}
    cells = {k for k in expected if '"utkface"' not in k}
    assert len(ran) == len(cells) > 0  # every cell of every present dataset has a record
    # the estimate before the cells, from a timed warm-up
    assert any(line.startswith("[estimate] C-MNIST (BG): DM · COBRA, IPC 2") for line in logged)

    text = result.markdown.read_text()
    assert "budget scale 0.001" in text and "not the paper's protocol" in text
    # Table 1's layout: a row per dataset x IPC, a column per method x target, then FULL
    header = (
        "| Dataset | IPC | DM vanilla | DM COBRA | DC vanilla | DC COBRA | CAFE vanilla "
        "| CAFE COBRA | RANDOM | FULL |"
    )
    assert header in text
    for ipc in (1, 2):
        assert any(line.startswith(f"| C-MNIST (BG) | {ipc} | ") for line in text.splitlines())
    # the timing table: every dataset x method x target, slowdown against vanilla
    timing = json.loads((out / "timing.json").read_text())
    assert {(r["dataset"], r["method"], r["target"]) for r in timing} == {
        ("c-mnist-bg", m, t) for m in ("dm", "dc", "cafe") for t in ("vanilla", "cobra")
    }
    assert "Tables 13-14 layout" in text and "| C-MNIST (BG) | 10 | DC | cobra |" in text

    # a rerun redoes nothing: no distillation, evaluation or timing
    again = []
    before = (out / "timing.json").read_text()
    run_benchmark(config, out, log=again.append, progress=False)
    assert [line for line in again if not line.startswith("[benchmark] skipped")] == []
    assert (out / "timing.json").read_text() == before


def test_cli_takes_data_root_and_budget_scale(data_root, tmp_path, capsys):
    code = main(
        [
            "benchmark",
            "--preset",
            "paper",
            "--data-root",
            str(data_root),
            "--budget-scale",
            "0.001",
            "--datasets",
            "cifar10-s",
            "--methods",
            "dm",
            "--targets",
            "vanilla",
            "--ipc",
            "1",
            "--eval-runs",
            "1",
            "--baselines",
            "--out",
            str(tmp_path / "cli"),
            "--quiet",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| CIFAR10-S | 1 |" in printed and "budget scale 0.001" in printed
    assert "| CIFAR10-S | 2 | DM | vanilla |" in printed  # timing: G = 2 groups


def test_a_folder_dataset_without_data_root_says_how_to_give_it(tmp_path):
    config = make_config(
        datasets=["cifar10-s"], methods=["dm"], targets=["vanilla"], baselines=[], ipc=[1]
    )
    logged = []
    result = run_benchmark(config, tmp_path, log=logged.append, progress=False)
    assert "pass --data-root DIR" in result.missing["cifar10-s"]
    with pytest.raises(ValueError, match="budget_scale must be positive"):
        make_config("paper", budget_scale=0)
