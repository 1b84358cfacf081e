"""The ``skdistill demo`` preset: one embedded dataset, one method, every target, compared.

The demo is a small configuration of the benchmark harness: its rows (:data:`DEMO_ROWS`)
are planned by :func:`~skdistill.benchmark.plan.plan_tasks` and run by the harness's
:class:`~skdistill.benchmark.runner.Runner` (its synthetic sets in memory, or in a cache
folder), with the demo's own budgets (:data:`DEMO_BUDGETS`) and report.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
from sklearn.utils import Bunch

from .._resources import resolve_threads
from ..methods import METHODS
from ..targets import TARGETS
from .config import BENCH_THREADS, CMNIST_EVAL, DISTILLER_KEYS, make_config
from .data import data_size, load_benchmark_dataset
from .figures import (
    fairness_figure,
    require_matplotlib,
    synthetic_grid,
    training_curves_figure,
)
from .plan import Row, plan_tasks
from .report import markdown_table
from .runner import Runner

TARGET_NAMES = ("vanilla", "uniform", "fairdd", "cobra")
#: The method of the demo's reports without a method suffix in their file names.
DEFAULT_METHOD = "dm"
METRICS = [
    "accuracy",
    "eod_max",
    "eod_max_fairlearn",
    "eod_mean",
    "eod_mean_fairlearn",
    "dp_max",
    "ppd_max",
    "worst_group_accuracy",
]
#: Column labels of the printed table (DP_M and PP_M are the largest per-class demographic
#: parity and predictive parity gaps, :mod:`skdistill.metrics`).
LABELS = {
    "accuracy": "accuracy %",
    "eod_max": "EOD_M",
    "eod_max_fairlearn": "EOD_M (fairlearn)",
    "eod_mean": "EOD_A",
    "eod_mean_fairlearn": "EOD_A (fairlearn)",
    "dp_max": "DP_M",
    "ppd_max": "PP_M",
    "worst_group_accuracy": "worst group acc. %",
}

#: Settings of each demo (CPU-sized). Adult: IPC 10, 5 distillation seeds, LogisticRegression;
#: ``adult-sexrace`` the same with intersectional sex x race groups. The image demos: IPC 10,
#: each synthetic set scored by two ConvNets trained with DSA, and a full-data ConvNet trained
#: to convergence.
DEMOS = {
    "adult": dict(ipc=10, seeds=5, eval_runs=1),
    "adult-sexrace": dict(ipc=10, seeds=5, eval_runs=1),
    "cmnist-bg": dict(ipc=10, seeds=1, eval_runs=2),
    "cmnist-fg": dict(ipc=10, seeds=1, eval_runs=2),
}
#: Budgets of the demos per (data size, method), for a 2-core CPU; a method not listed gets
#: the benchmark's fallback budget. DM: 500 iterations of 256 real rows per class on Adult;
#: 1,000 iterations on Colored MNIST, what the convergence study shows the fair targets need
#: from the references' start (about 10 minutes per distillation). Gradient matching pays for
#: a backward pass per class and an inner loop: shorter loops (on images 10 iterations of 10
#: matching steps with a ConvNet of width 64, a few minutes per target).
DEMO_BUDGETS = {
    ("tabular", "dm"): dict(n_iter=500, batch_real=256),
    ("tabular", "dc"): dict(n_iter=50, batch_real=256, outer_loop=10, inner_loop=10),
    ("cmnist", "dm"): dict(n_iter=1000, batch_real=64, **CMNIST_EVAL),
    ("cmnist", "dc"): dict(
        n_iter=10, batch_real=64, outer_loop=10, inner_loop=10, net_width=64, **CMNIST_EVAL
    ),
    ("cmnist", "idc"): dict(
        n_iter=10, batch_real=64, outer_loop=10, inner_loop=2, net_width=64, **CMNIST_EVAL
    ),
}
#: The starts compared: every target from the references' start (random real samples of the
#: class), and vanilla and COBRA again from the group-balanced start, an intervention of its
#: own with its own rows.
BALANCED_ROWS = ("vanilla", "cobra")


def _start_cells(init, variant="", only=None):
    """Cells of one distilled row per target (of ``only``), from the start ``init``."""

    def cells(row, config, method, variants):
        return [
            dict(
                kind=row.kind,
                entry=target + (f", {variant}" if variant else ""),
                method=method,
                target=target,
                variant=variant,
                params={"init": init},
            )
            for target in config["targets"]
            if only is None or target in only
        ]

    return cells


#: The demo's rows, in table order: the full training set (one model), random subsets, every
#: target from random real samples, then the balanced start of :data:`BALANCED_ROWS`.
DEMO_ROWS = (
    Row("full", "full", first_seed=True),
    Row("random", "random"),
    Row("distilled", per_method=True, optional=False, cells=_start_cells("random_real")),
    Row(
        "distilled",
        per_method=True,
        optional=False,
        cells=_start_cells("balanced", "balanced init", BALANCED_ROWS),
    ),
)


def _summarise(runs: pd.DataFrame) -> pd.DataFrame:
    grouped = runs.groupby("row", sort=False)
    table = grouped[METRICS].agg(["mean", "std"])
    table.columns = [f"{m}_{s}" for m, s in table.columns]
    table = table.fillna(0.0)  # a single run has no spread
    table["distil_seconds"] = grouped["distil_seconds"].mean()
    table["n_runs"] = grouped.size()
    table.index.name = None
    return table


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """Readable ``mean ± std`` columns in points (accuracy in %, gaps in [0, 100]).

    Columns are labelled by :data:`LABELS`.
    """
    out = pd.DataFrame(index=table.index)
    for metric, label in LABELS.items():
        out[label] = [
            f"{100 * m:.1f} ± {100 * s:.1f}"
            for m, s in zip(table[f"{metric}_mean"], table[f"{metric}_std"])
        ]
    out["distil s"] = [f"{s:.1f}" if s > 0 else "-" for s in table["distil_seconds"]]
    out["runs"] = table["n_runs"].astype(int)
    return out


def demo_config(dataset, method, targets, device="auto", *, seeds=None, eval_runs=None, **budget):
    """The benchmark configuration of a demo; overrides as in :func:`run_demo`.

    ``seeds`` and ``eval_runs`` override :data:`DEMOS`; ``budget`` (``n_iter``,
    ``eval_epochs``, ``full_epochs``) overrides :data:`DEMO_BUDGETS`; None keeps a setting.
    """
    if dataset not in DEMOS:
        raise ValueError(f"dataset must be one of {sorted(DEMOS)}; got {dataset!r}.")
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}; got {method!r}.")
    unknown = [t for t in targets if t not in TARGETS]
    if unknown:
        raise ValueError(f"unknown target(s) {unknown}; choose from {list(TARGETS)}.")
    settings = {**DEMOS[dataset]}
    given = dict(seeds=seeds, eval_runs=eval_runs)
    settings.update({k: v for k, v in given.items() if v is not None})
    budget = {k: v for k, v in budget.items() if v is not None}
    return make_config(
        datasets=[dataset],
        methods=[method],
        targets=list(targets),
        ipc=[settings["ipc"]],
        seeds=settings["seeds"],
        eval_runs=settings["eval_runs"],
        baselines=["full", "random"],
        budgets={data_size(dataset): budget},
        device=device,
    )


def run_demo(
    dataset="adult",
    *,
    method=DEFAULT_METHOD,
    out_dir="skdistill-demo",
    targets=TARGET_NAMES,
    n_iter=None,
    seeds=None,
    eval_runs=None,
    eval_epochs=None,
    full_epochs=None,
    device="auto",
    cache_dir=None,
    log=print,
):
    """Distil ``dataset`` with each target, evaluate, and write a report and figures.

    Parameters
    ----------
    dataset : {"adult", "adult-sexrace", "cmnist-bg", "cmnist-fg"}, default="adult"
        Embedded dataset to distil (``adult-sexrace``: Adult with intersectional sex x race
        groups).
    method : str, default="dm"
        Matching method, a name of :data:`skdistill.methods.METHODS` (``"idc"`` needs
        images), with the budgets of :data:`DEMO_BUDGETS`.
    out_dir : str or Path, default="skdistill-demo"
        Folder for ``<stem>_report.md``, ``<stem>_results.csv`` (the table),
        ``<stem>_runs.csv`` (every evaluation run) and the PNG figures, where ``stem`` is
        the dataset's name, followed by ``_<method>`` for a method other than DM.
    targets : sequence of str
        Targets to compare, names of :data:`skdistill.targets.TARGETS`.
    n_iter, seeds, eval_runs, eval_epochs, full_epochs : int or None
        Override the settings in :data:`DEMOS` and :data:`DEMO_BUDGETS` (distillation
        iterations, distillation seeds, evaluation trainings per synthetic set, their
        epochs, epochs of the full-data model).
    device : str, default="auto"
        Device for distillation and torch evaluation.
    cache_dir : str or Path, default=None
        Folder that keeps the synthetic sets, each fit checkpointed there: an interrupted
        demo resumes, and a set made before with the same settings (by the demo, or by
        ``skdistill benchmark``, whose ``OUT/cache`` names its sets alike) is read back
        instead of distilled again. By default the sets live in memory for this run only.
    log : callable, default=print
        Receives progress lines; pass ``lambda *a: None`` for silence.

    Returns
    -------
    Bunch
        ``table`` (numbers, in [0, 1]), ``formatted`` (printable), ``runs`` (every run),
        ``report`` (path of the markdown report), ``figures`` (paths of the PNG files),
        ``seconds`` (wall time).
    """
    config = demo_config(
        dataset,
        method,
        targets,
        device,
        seeds=seeds,
        eval_runs=eval_runs,
        n_iter=n_iter,
        eval_epochs=eval_epochs,
        full_epochs=full_epochs,
    )
    require_matplotlib()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    data = _load(dataset)
    runner = Runner(config, out, log, budgets=DEMO_BUDGETS, persistent=False, cache_dir=cache_dir)
    runs, curves = _run_rows(runner, data, dataset, log)
    table = _summarise(runs)
    formatted = format_table(table)
    stem = dataset if method == DEFAULT_METHOD else f"{dataset}_{method}"
    sets = _first_sets(runner, data, dataset) if data.image else {}
    figures = _figures(stem, data, table, sets, out, curves)
    seconds = time.perf_counter() - start
    settings = _settings(runner, dataset, method)
    report = _write_report(stem, method, data, settings, formatted, figures, out, seconds)
    # named like the report: demos of other datasets or methods share a folder
    runs.to_csv(out / f"{stem}_runs.csv", index=False)
    table.to_csv(out / f"{stem}_results.csv")
    return Bunch(
        table=table, formatted=formatted, runs=runs, report=report, figures=figures, seconds=seconds
    )


def _load(dataset):
    data = load_benchmark_dataset(dataset)
    model = (
        "LogisticRegression on the distilled rows"
        if not data.image
        else "ConvNet trained with DSA on the distilled images"
    )
    data.dataset_title = data.title  # the data alone: the full-data model's figure
    data.title = f"{data.title}, {model}"
    return data


def _tasks(config, data):
    arch = "convnet" if data.image else "logreg"
    return plan_tasks(
        config, DEMO_ROWS, ipcs=config["ipc"], archs=[arch], variants={"": {}}, by_row=True
    )


def _run_rows(runner, data, dataset, log):
    """Every run of every row (a DataFrame) and the full-data model's training curves."""
    rows, curves = [], None
    for task in _tasks(runner.config, data):
        entry, seed = task["entry"], task["seed"]
        if task["kind"] == "full":
            log(f"[demo] {dataset}: full training set")
        elif task["kind"] == "random":
            log(f"[demo] random {task['ipc']} real samples per class (seed {seed})")
        metrics = runner.execute(task, data, dataset)
        runs = pd.DataFrame(metrics["runs"])
        runs.insert(0, "run", range(len(runs)))
        seconds = metrics.get("distil_seconds", 0.0)
        if task["kind"] == "distilled":
            log(
                f"[demo] {entry:8s} seed {seed}: distilled in {seconds:.1f}s, accuracy "
                f"{100 * runs.accuracy.mean():.1f}%, EOD_M {100 * runs.eod_max.mean():.1f}"
            )
        if "curve" in metrics:
            curves = [metrics["curve"]]
        rows.append(runs.assign(row=entry, distil_seconds=seconds))
    return pd.concat(rows, ignore_index=True), curves


def _first_sets(runner, data, dataset):
    """The synthetic set of the first seed of every distilled row (kept by the runner)."""
    sets = {}
    for task in _tasks(runner.config, data):
        if task["kind"] == "distilled" and task["entry"] not in sets:
            sets[task["entry"]] = runner.distil(
                data,
                dataset,
                task["method"],
                task["target"],
                task["ipc"],
                task["seed"],
                task["params"],
            )[:2]
    return sets


def _settings(runner, dataset, method):
    """The demo's settings as its report states them."""
    config = runner.config
    budget = runner.budget(dataset, method)
    settings = dict(
        ipc=config["ipc"][0],
        n_iter=budget["n_iter"],
        batch_real=budget["batch_real"],
        seeds=config["seeds"],
        eval_runs=config["eval_runs"],
        eval_epochs=budget.get("eval_epochs"),
        full_epochs=budget.get("full_epochs"),
    )
    settings.update((k, v) for k, v in budget.items() if k in DISTILLER_KEYS and k not in settings)
    return settings


def _figures(stem, data, table, sets, out, curves=None, dpi=120):
    figures = []
    if curves:
        title = f"{data.dataset_title}: ConvNet trained on the full training set"
        training_curves_figure(curves, title, out / f"{stem}_full_training.png", figures, dpi)
    fairness_figure(table, data.title, out / f"{stem}_fairness_accuracy.png", figures, dpi)
    if sets:
        synthetic_grid(sets, out / f"{stem}_synthetic.png", figures, dpi)
    return figures


def _threads():
    n = resolve_threads(BENCH_THREADS)
    return f"{n} CPU thread{'s' if n > 1 else ''} (every core this process may use)"


def _write_report(stem, method, data, settings, formatted, figures, out, seconds):
    settings = ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None)
    lines = [
        f"# skdistill demo: {stem}",
        "",
        data.title + ".",
        "",
        f"Settings (CPU-sized): method={method}, {settings}. Every target starts from random "
        "real samples of the class (init='random_real', the references' start); the rows "
        "named 'balanced init' start from the group-balanced set instead (init='balanced', an "
        "intervention of its own). Synthetic sets are scored as learnt (floats, not rounded)"
        + (
            ", by ConvNets trained with DSA; the full-data ConvNet trains to convergence "
            "(its training curve is drawn below)"
            if data.image
            else ""
        )
        + ". Accuracy and equalized-odds gaps (EOD_M: worst class, EOD_A: mean over classes, "
        "in points) on the held-out test split, mean ± std over runs; the fairlearn columns "
        "recompute the same gaps with `fairlearn.metrics.MetricFrame`.",
        "",
        markdown_table(formatted),
        "",
        f"Wall time: {seconds:.0f} s. Each fit ran {_threads()}; the numbers can depend on the "
        "thread count (the order of floating-point sums), not on the load.",
        "",
    ]
    lines += [f"![{p.stem}]({p.name})" for p in figures]
    path = out / f"{stem}_report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
