"""A method and a target from outside the package: one class and one registry line each.

``examples/extending.py`` is the worked example of the extenders' guide; these tests run it
through ``fit``, a grid search, the command line (``skdistill --plugin FILE benchmark ...``)
and the benchmark.
"""

import json
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_german_config
from sklearn.base import clone

from skdistill import BarycentricDistiller
from skdistill.cli import import_plugin, main
from skdistill.methods import METHODS
from skdistill.targets import TARGETS, VanillaTarget

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "extending.py"
TINY = dict(n_iter=4, batch_real=32, net_width=16, random_state=0)


@contextmanager
def registries_restored():
    """Undo what a plugin registers (and forget the imported example)."""
    methods, targets = dict(METHODS), dict(TARGETS)
    try:
        yield
    finally:
        for registry, before in ((METHODS, methods), (TARGETS, targets)):
            registry.clear()
            registry.update(before)
        sys.modules.pop(EXAMPLE.stem, None)


@pytest.fixture
def extension():
    """The example imported as a plugin."""
    with registries_restored():
        yield import_plugin(str(EXAMPLE))


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    y = (X[:, 0] + 0.5 * rng.normal(size=300) > 0).astype(int)
    A = np.where(rng.random(300) < 0.8, "major", "minor")
    return X, y, A


def test_registered_names_fit_like_built_in_ones(extension, table):
    X, y, A = table
    d = BarycentricDistiller(method="projection", target="tempered", ipc=3, **TINY)
    X_syn, y_syn = d.fit_resample(X, y, sensitive_features=A)
    start = BarycentricDistiller(method="projection", target="tempered", ipc=3, **TINY)
    start.set_params(lr=1e-30).fit(X, y, sensitive_features=A)
    assert np.abs(X_syn - start.X_synthetic_).max() > 1e-3  # the set was learnt
    assert d.history_["loss"].iloc[-1] < d.history_["loss"].iloc[0]
    again = clone(d).fit(X, y, sensitive_features=A)
    np.testing.assert_array_equal(again.X_synthetic_, X_syn)  # same seed, same set
    assert list(y_syn) == [0, 0, 0, 1, 1, 1]


def test_the_new_target_is_a_parameter_object_with_checked_settings(extension, table):
    X, y, A = table
    d = BarycentricDistiller(method="projection", target=extension.TemperedTarget(0.3), **TINY)
    assert d.get_params()["target__alpha"] == 0.3
    with pytest.raises(ValueError, match="alpha"):
        d.set_params(target__alpha=2.0).fit(X, y, sensitive_features=A)
    assert not hasattr(d, "X_synthetic_")  # refused before any work


def test_tempered_weights_go_from_vanilla_to_the_mean_of_group_means(extension):
    rng = np.random.default_rng(1)
    classes, groups = rng.integers(0, 2, 50), (rng.random(50) < 0.8).astype(int)
    vanilla = VanillaTarget().plan(classes, groups, 2, 2)
    np.testing.assert_allclose(
        extension.TemperedTarget(0.0).plan(classes, groups, 2, 2).weight, vanilla.weight
    )
    balanced = extension.TemperedTarget(1.0).plan(classes, groups, 2, 2)
    for c in range(2):
        for g in range(2):  # every group present holds half of its class's weight
            cell = (classes == c) & (groups == g)
            assert balanced.weight[cell].sum() == pytest.approx(0.5)


def test_the_command_line_and_the_benchmark_take_a_plugin(tmp_path):
    config = tiny_german_config(tmp_path / "tiny.json")
    out = tmp_path / "out"
    args = ["--plugin", str(EXAMPLE), "benchmark", "--config", str(config)]
    args += ["--methods", "projection", "--targets", "vanilla", "tempered", "--baselines"]
    with registries_restored():
        assert main([*args, "--out", str(out), "--quiet"]) == 0
    records = json.loads((out / "results.json").read_text())["records"]
    assert {r["entry"] for r in records} == {"RP · vanilla", "RP · tempered"}
    assert all(0 <= r["accuracy"] <= 1 for r in records)
    assert "| RP · tempered |" in (out / "results.md").read_text()


def test_a_plugin_that_cannot_be_imported_is_a_clear_error(tmp_path, capsys):
    assert main(["--plugin", str(tmp_path / "missing.py"), "datasets"]) == 2
    assert "--plugin" in capsys.readouterr().err
    assert main(["--plugin", "no_such_module_here", "datasets"]) == 2
    assert "importable module name" in capsys.readouterr().err
