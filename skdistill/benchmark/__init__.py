"""The application layer: ``skdistill benchmark`` and ``skdistill demo``, on the public API.

A configuration (:func:`make_config`, presets in :data:`PRESETS`) crosses datasets x methods
x targets x IPC x seeds x evaluation architectures (and optional method variants, SKEW/GAP
sweeps), beside the baselines FULL, RANDOM, fairlearn's mitigations and the COBRA paper's
RF / DF / MF interventions. The built-in presets run CPU-sized budgets (far fewer iterations
and evaluation epochs than the papers); every table states its budgets. Synthetic sets are
cached on disk and every evaluation is appended to ``results.json`` as soon as it is done, so
an interrupted run resumes where it stopped. The outputs are ``results.json``, ``results.md``
(the papers' "EOD (Acc)" layout) and PNG figures. The demo (:func:`run_demo`) is a small
preset of the same harness with its own report.

Modules: :mod:`~skdistill.benchmark.config` (presets, budgets, labels),
:mod:`~skdistill.benchmark.data`, :mod:`~skdistill.benchmark.plan` (the table of rows),
:mod:`~skdistill.benchmark.runner`, :mod:`~skdistill.benchmark.report`,
:mod:`~skdistill.benchmark.figures`, :mod:`~skdistill.benchmark.paper` (the paper preset's
timing) and :mod:`~skdistill.benchmark.demo`. Figures need matplotlib and YAML
configurations pyyaml: ``pip install "skdistill[bench]"``.
"""

from .config import (
    BASELINES,
    BUDGETS,
    DEFAULTS,
    FALLBACK_BUDGETS,
    PAPER_BUDGETS,
    PRESETS,
    PROTOCOL,
    load_config,
    make_config,
    method_label,
    target_label,
)
from .data import DATASETS, load_benchmark_dataset
from .demo import DEMOS, run_demo
from .plan import ROWS, Row, plan
from .report import machine, markdown_table, summarise
from .runner import Runner, run_benchmark

__all__ = [
    "BASELINES",
    "BUDGETS",
    "DATASETS",
    "DEFAULTS",
    "DEMOS",
    "FALLBACK_BUDGETS",
    "PAPER_BUDGETS",
    "PRESETS",
    "PROTOCOL",
    "ROWS",
    "Row",
    "Runner",
    "load_benchmark_dataset",
    "load_config",
    "machine",
    "make_config",
    "markdown_table",
    "method_label",
    "plan",
    "run_benchmark",
    "run_demo",
    "summarise",
    "target_label",
]
