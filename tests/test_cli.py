import subprocess
import sys

import pandas as pd
import pytest
from matplotlib.image import imread

from skdistill.cli import main

#: Demo rows: baselines, every target from the references' start, then the balanced start.
ROWS = ["full", "random", "vanilla", "cobra", "vanilla, balanced init", "cobra, balanced init"]


def test_adult_demo_at_reduced_settings(tmp_path, capsys):
    code = main(
        [
            "demo",
            "--out",
            str(tmp_path),
            "--n-iter",
            "5",
            "--seeds",
            "2",
            "--targets",
            "vanilla",
            "cobra",
            "--quiet",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    for name in ("full", "random", "vanilla", "cobra", "EOD_M (fairlearn)", "accuracy %"):
        assert name in out
    table = pd.read_csv(tmp_path / "adult_results.csv", index_col=0)
    assert list(table.index) == ROWS
    assert (table["eod_max_mean"] - table["eod_max_fairlearn_mean"]).abs().max() < 1e-9
    assert (table.loc[ROWS[2:], "n_runs"] == 2).all()
    assert table.loc["full", "accuracy_mean"] > 0.8
    report = (tmp_path / "adult_report.md").read_text()
    assert "| cobra |" in report and "adult_fairness_accuracy.png" in report
    assert "init='random_real'" in report and "| cobra, balanced init |" in report
    from skdistill._resources import available_cores

    assert f"Each fit ran {available_cores()} CPU thread" in report  # what the numbers depend on
    assert imread(tmp_path / "adult_fairness_accuracy.png").std() > 0


def test_demos_of_other_datasets_share_a_folder_without_overwriting(tmp_path):
    args = ["demo", "--out", str(tmp_path), "--n-iter", "1", "--seeds", "1", "--quiet"]
    args += ["--targets", "vanilla"]
    assert main([*args, "--dataset", "adult"]) == 0
    assert main([*args, "--dataset", "adult-sexrace"]) == 0
    adult = pd.read_csv(tmp_path / "adult_results.csv", index_col=0)
    sexrace = pd.read_csv(tmp_path / "adult-sexrace_results.csv", index_col=0)
    # the same data, other groups: the same accuracy, other gaps
    assert adult.loc["full", "accuracy_mean"] == sexrace.loc["full", "accuracy_mean"]
    assert adult.loc["full", "eod_max_mean"] != sexrace.loc["full", "eod_max_mean"]
    assert len(pd.read_csv(tmp_path / "adult_runs.csv")) == len(
        pd.read_csv(tmp_path / "adult-sexrace_runs.csv")
    )


def test_demo_cache_resumes_and_shares_the_benchmarks_sets(tmp_path, monkeypatch):
    from skdistill import BarycentricDistiller
    from skdistill.benchmark import make_config
    from skdistill.benchmark.demo import DEMO_BUDGETS, demo_config
    from skdistill.benchmark.runner import Runner

    def demo(out):
        args = ["demo", "--out", str(out), "--n-iter", "5", "--seeds", "1", "--quiet"]
        args += ["--targets", "vanilla", "cobra", "--cache", str(tmp_path / "sets")]
        assert main(args) == 0
        return pd.read_csv(out / "adult_results.csv", index_col=0)

    first = demo(tmp_path / "a")
    # vanilla and COBRA from both starts, no checkpoint left behind
    assert len(list((tmp_path / "sets").glob("*.npz"))) == 4
    assert not list((tmp_path / "sets").glob("*.ckpt"))

    def refuse(*args, **kwargs):
        raise AssertionError("a cached set was distilled again")

    monkeypatch.setattr(BarycentricDistiller, "fit", refuse)
    pd.testing.assert_frame_equal(demo(tmp_path / "b"), first)
    # the image demo names a set as the benchmark's cache does for the same settings
    demo_runner = Runner(
        demo_config("cmnist-bg", "dm", ["cobra"]),
        tmp_path,
        print,
        budgets=DEMO_BUDGETS,
        persistent=False,
        cache_dir=tmp_path / "sets",
    )
    bench_runner = Runner(make_config("inits"), tmp_path / "bench", print)
    cell = ("cmnist-bg", "dm", "cobra", 10, 0, {"init": "random_real"})
    assert demo_runner.distiller_kwargs(*cell)[1] == bench_runner.distiller_kwargs(*cell)[1]
    with pytest.raises(ValueError, match="cache_dir"):
        Runner(make_config("inits"), tmp_path, print, cache_dir=tmp_path)


def every_fifth_sample(monkeypatch):
    """The demo's data loader, keeping every fifth training and test sample (a faster test)."""
    import skdistill.benchmark.demo as demo

    load = demo.load_benchmark_dataset

    def smaller(name, **kwargs):
        data = load(name, **kwargs)
        for split in ("train", "test"):
            for field in ("X", "y", "A"):
                data[f"{field}_{split}"] = data[f"{field}_{split}"][::5]
        return data

    monkeypatch.setattr(demo, "load_benchmark_dataset", smaller)


def test_image_demo_at_reduced_settings(tmp_path, capsys, monkeypatch):
    every_fifth_sample(monkeypatch)
    code = main(
        [
            "demo",
            "--dataset",
            "cmnist-bg",
            "--out",
            str(tmp_path),
            "--n-iter",
            "2",
            "--seeds",
            "1",
            "--eval-runs",
            "1",
            "--eval-epochs",
            "1",
            "--full-epochs",
            "1",
            "--targets",
            "vanilla",
            "cobra",
            "--quiet",
        ]
    )
    assert code == 0
    grid = imread(tmp_path / "cmnist-bg_synthetic.png")
    assert grid.shape[1] > grid.shape[0] and grid.std() > 0
    assert imread(tmp_path / "cmnist-bg_full_training.png").std() > 0
    table = pd.read_csv(tmp_path / "cmnist-bg_results.csv", index_col=0)
    assert list(table.index) == ROWS


@pytest.mark.parametrize(
    "dataset, method",
    # the image one takes minutes on 2 cores (IDC's inner loop on real images): with the slow set
    [("adult", "dc"), pytest.param("cmnist-bg", "idc", marks=pytest.mark.slow)],
)
def test_gradient_matching_demos_at_reduced_settings(tmp_path, capsys, dataset, method):
    args = ["demo", "--dataset", dataset, "--method", method, "--out", str(tmp_path)]
    args += ["--n-iter", "1", "--seeds", "1", "--eval-runs", "1", "--eval-epochs", "1"]
    args += ["--full-epochs", "1", "--targets", "vanilla", "cobra", "--quiet"]
    assert main(args) == 0
    table = pd.read_csv(tmp_path / f"{dataset}_{method}_results.csv", index_col=0)
    assert list(table.index) == ROWS
    report = (tmp_path / f"{dataset}_{method}_report.md").read_text()
    assert f"method={method}" in report


def test_errors_are_reported_without_traceback(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--dataset", "imagenet"])
    assert "invalid choice" in capsys.readouterr().err


def test_console_script_and_module_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "skdistill", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("skdistill 0.")


@pytest.mark.slow
def test_image_demo_cobra_is_fairer_than_vanilla(tmp_path):
    """The acceptance run of the image demo at its default settings (over 2 hours on one core)."""
    assert main(["demo", "--dataset", "cmnist-bg", "--out", str(tmp_path), "--quiet"]) == 0
    table = pd.read_csv(tmp_path / "cmnist-bg_results.csv", index_col=0)
    assert table.loc["cobra", "eod_max_mean"] <= table.loc["vanilla", "eod_max_mean"] - 0.30
    assert table.loc["cobra", "accuracy_mean"] >= table.loc["vanilla", "accuracy_mean"]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dc", "idc"])
def test_gradient_matching_demo_cobra_is_fairer_than_vanilla(tmp_path, method):
    """The acceptance run of DC and IDC on Colored MNIST (BG) at the demo settings."""
    args = ["demo", "--dataset", "cmnist-bg", "--method", method, "--out", str(tmp_path)]
    assert main([*args, "--targets", "vanilla", "cobra", "--quiet"]) == 0
    table = pd.read_csv(tmp_path / f"cmnist-bg_{method}_results.csv", index_col=0)
    assert table.loc["cobra", "eod_max_mean"] < table.loc["vanilla", "eod_max_mean"]
    assert table.loc["cobra", "accuracy_mean"] >= table.loc["vanilla", "accuracy_mean"]
