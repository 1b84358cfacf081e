import json

import numpy as np
import pytest
from matplotlib.image import imread

from skdistill._benchmark import load_benchmark_dataset, make_config, plan, run_benchmark
from skdistill.cli import main

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


def test_every_distinct_cell_has_its_own_cached_synthetic_set(finished):
    # per dataset: 2 IPC x 2 targets x 2 seeds, and DF at the first IPC (2 seeds); MF reuses
    # vanilla's set; the GAP sweep (2 severities x 2 targets x 2 seeds) distils its own data
    assert len(list((finished / "cache").glob("*.npz"))) == 2 * (8 + 2) + 8


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
    }
    for name, (h, w) in expected.items():
        img = imread(finished / name)
        assert img.shape[:2] == (round(h * 110), round(w * 110)), name
        assert img[..., :3].std() > 0.01, name
    assert "![digits-bg_dm_tsne](digits-bg_dm_tsne.png)" in (finished / "results.md").read_text()


def test_benchmark_resumes_without_redoing_work(finished):
    before = json.loads((finished / "results.json").read_text())["records"]
    config = make_config("smoke", ipc=[2, 3], budgets=TINY_BUDGETS)
    lines = []
    result = run_benchmark(config, finished, log=lines.append, progress=False)
    assert lines == []  # nothing evaluated again
    assert len(result.records) == len(before)


def test_benchmark_configuration_is_checked(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        make_config(datasets=["mnist"])
    with pytest.raises(ValueError, match="preset must be one of"):
        make_config("paper")
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
    np.testing.assert_array_equal(clean.X_test, gapped.X_test)
    with pytest.raises(ValueError, match="image datasets"):
        load_benchmark_dataset("german", gap=1)
