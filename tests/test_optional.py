"""The core works without the optional dependencies; their users name the extra to install."""

import json
import re
import subprocess
import sys

import pytest

from skdistill.benchmark import load_config

#: Run with matplotlib, mlxtend and pyyaml unimportable: the estimator, the loaders of
#: embedded tables, the evaluator and the command line still import and work.
WITHOUT_EXTRAS = """
import sys
for name in ("matplotlib", "mlxtend", "yaml"):
    sys.modules[name] = None
import numpy as np
import skdistill.benchmark, skdistill.cli, skdistill.plotting
from skdistill import BarycentricDistiller
from skdistill.datasets import load_colored_digits
from skdistill.evaluation import evaluate_synthetic
data = load_colored_digits("bg")
d = BarycentricDistiller(ipc=2, n_iter=2, batch_real=8, net_width=8, random_state=0)
X, y = d.fit_resample(data.X_train, data.y_train, sensitive_features=data.sensitive_features_train)
r = evaluate_synthetic(X, y, data.X_test, data.y_test, data.sensitive_features_test, epochs=1)
print("ok", X.shape, float(r.runs.accuracy.iloc[0]) >= 0)
"""


def test_the_core_needs_none_of_the_extras():
    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("ok (20, 3, 8, 8) True")


def test_the_command_line_names_the_extra_of_the_demo_and_the_benchmark(tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from skdistill.cli import main\n"
        f"assert main(['demo', '--out', {str(tmp_path)!r}, '--quiet']) == 2\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0  # main returned 2, without a traceback
    assert out.stderr.startswith("skdistill: error: ")
    assert 'pip install "skdistill[bench]"' in out.stderr
    assert not list(tmp_path.glob("*results.csv"))  # it failed before any work


def test_a_yaml_configuration_without_pyyaml_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "yaml", None)
    path = tmp_path / "c.yaml"
    path.write_text("preset: smoke\n")
    with pytest.raises(ImportError, match=re.escape('pip install "skdistill[bench]"')):
        load_config(path)
    (tmp_path / "c.json").write_text(json.dumps({"preset": "smoke"}))
    assert load_config(tmp_path / "c.json")["datasets"] == ["digits-bg", "german"]
