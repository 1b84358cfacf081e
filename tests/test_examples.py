import runpy
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path, capsys):
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "cobra" in out and "EOD_M" in out


def test_noisy_groups_benchmark_smoke(tmp_path):
    bench = runpy.run_path(str(EXAMPLES[0].parents[1] / "benchmarks" / "noisy_groups.py"))
    assert bench["main"](["--smoke", "--out", str(tmp_path)]) == 0
    text = (tmp_path / "noisy_groups_smoke.md").read_text()
    assert "COBRA noise 50%" in text and "hidden labels imputed correctly" in text
