"""The example notebooks run top to bottom (at reduced settings)."""

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
