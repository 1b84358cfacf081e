"""The example notebooks run top to bottom (at reduced settings)."""

import json
import os
import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("name", ["tabular_adult.py", "image_colored_mnist.py"])
def test_notebook_runs_top_to_bottom(name, tmp_path, monkeypatch):
    monkeypatch.setenv("SKDISTILL_EXAMPLES_FAST", "1")
    monkeypatch.chdir(tmp_path)  # figures are written to the working directory
    namespace = runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs, "the notebook saves its figures"
    for png in pngs:
        assert os.path.getsize(tmp_path / png) > 5000
    if name == "tabular_adult.py":
        table = namespace["table"]
        assert {"cobra", "ThresholdOptimizer", "ExponentiatedGradient", "full"} <= set(table.index)
    else:
        assert len(namespace["residuals"]) == 10
        assert set(namespace["table"].index) == {"vanilla", "fairdd", "cobra"}


def test_adult_script_example_runs(capsys):
    runpy.run_path(str(EXAMPLES / "plot_adult_targets.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "cobra" in out and "EOD_M" in out


def test_noisy_groups_benchmark_smoke(tmp_path):
    bench = runpy.run_path(str(EXAMPLES.parent / "benchmarks" / "noisy_groups.py"))
    assert bench["main"](["--smoke", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "noisy_groups_smoke.md").read_text()
    assert "COBRA noise 50%" in text and "hidden labels imputed correctly" in text

    # a rerun with the same settings keeps every finished row and fits nothing
    class Refuses:
        def __init__(self, **params):
            pass

        def fit(self, *args, **kwargs):
            raise AssertionError("a finished row was fitted again")

    bench["main"].__globals__["BarycentricDistiller"] = Refuses
    assert bench["main"](["--smoke", "--out", str(tmp_path)]) == 0
    rerun = (tmp_path / "noisy_groups_smoke.md").read_text()
    assert rerun.split("## Noisy")[1] == text.split("## Noisy")[1]


def test_beyond_mean_benchmark_runs_just_the_seeds_it_is_given(tmp_path):
    import json

    bench = runpy.run_path(str(EXAMPLES.parent / "benchmarks" / "beyond_mean.py"))
    args = ["--smoke", "--datasets", "adult-sexrace", "--rows", "vanilla", "--out", str(tmp_path)]
    bench["main"]([*args, "--only-seeds", "1"])
    cells = json.loads((tmp_path / "results.json").read_text())["cells"]
    assert [(c["row"], c["seed"]) for c in cells] == [("vanilla", 1)]
    assert "vanilla" in (tmp_path / "beyond_mean.md").read_text()
    with pytest.raises(SystemExit):
        bench["main"]([*args, "--only-seeds", "3"])  # --seeds is 3: seeds 0 to 2


def test_overhead_benchmark_smoke(tmp_path):
    bench = runpy.run_path(str(EXAMPLES.parent / "benchmarks" / "overhead.py"))
    args = ["--shape", "cpu", "--methods", "dc", "--groups", "2", "--warmup", "1"]
    args += ["--iterations", "1", "--memory-iterations", "1", "--targets", "vanilla", "fairdd"]
    assert bench["main"]([*args, "--rounds", "1", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "overhead_cpu_cpu_dc_fairdd.md").read_text()
    for row in ("| DC | vanilla |", "| DC | fairdd |"):
        assert text.count(row) == 3  # time, memory of the fit, memory of the iterations
    assert "Memory of the fit, MB" in text and "Memory of the iterations, MB" in text


def test_overhead_benchmark_times_chosen_targets_against_cobra(tmp_path):
    bench = runpy.run_path(str(EXAMPLES.parent / "benchmarks" / "overhead.py"))
    args = ["--shape", "cpu", "--methods", "dm", "--groups", "2", "--warmup", "1"]
    args += ["--iterations", "1", "--memory-iterations", "1", "--out", str(tmp_path)]
    args += ["--targets", "vanilla", "cobra", "mmd"]
    assert bench["main"](args) == 0
    text = (tmp_path / "overhead_cpu_cpu_dm_cobra_mmd.md").read_text()
    assert text.count("| DM | mmd |") == 4  # time, over COBRA's, memory of the fit and iterations
    assert "| DM | fairdd |" not in text
    ratio = json.loads((tmp_path / "overhead_cpu_cpu_dm_cobra_mmd.json").read_text())["table"]
    assert {r["target"]: r["cobra_ratio"] for r in ratio}["cobra"] == 1.0
    with pytest.raises(SystemExit):  # the ratios are to vanilla
        bench["main"](["--targets", "cobra", "mmd", "--out", str(tmp_path)])


def test_convergence_study_smoke(tmp_path):
    bench = runpy.run_path(str(EXAMPLES.parent / "benchmarks" / "convergence.py"))
    args = ["--smoke", "--out", str(tmp_path), "--curves", "cobra", "vanilla"]
    bench["main"](args)
    cobra = (tmp_path / "cobra.json").read_text()
    assert '"iteration": 4' in cobra
    vanilla = bench["json"].loads((tmp_path / "vanilla.json").read_text())
    assert vanilla["points"][0]["shared_with"] == "cobra"  # same start, evaluated once
    text = (tmp_path / "convergence.md").read_text()
    assert "CPU-sized" in text and "| COBRA, lr 1 (random real) | 4 |" in text
    assert os.path.getsize(tmp_path / "convergence.png") > 5000
    bench["main"](["--smoke", "--out", str(tmp_path), "--curves", "cobra"])  # resumes: no-op
    assert (tmp_path / "cobra.json").read_text() == cobra
