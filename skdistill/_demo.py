"""The ``skdistill demo`` job: distil an embedded biased dataset with every target and compare."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.utils import Bunch

from ._benchmark import load_benchmark_dataset
from ._distiller import BarycentricDistiller
from .baselines import random_subset
from .evaluation import evaluate_synthetic
from .plotting import plot_fairness_accuracy, plot_synthetic_images, plot_training_curves

TARGET_NAMES = ("vanilla", "uniform", "fairdd", "cobra")
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

#: Settings of each demo (CPU-sized). Adult: IPC 10, 500 iterations, 256 real rows per class,
#: 5 distillation seeds, LogisticRegression; ``adult-sexrace`` the same with intersectional
#: sex x race groups. The image demos: IPC 10, 64 real images per class, each synthetic set
#: scored by ConvNets trained with DSA, and a full-data ConvNet trained to convergence.
DEMOS = {
    "adult": dict(
        ipc=10, n_iter=500, batch_real=256, seeds=5, eval_runs=1, eval_epochs=None, full_epochs=None
    ),
    "adult-sexrace": dict(
        ipc=10, n_iter=500, batch_real=256, seeds=5, eval_runs=1, eval_epochs=None, full_epochs=None
    ),
    # 1,000 iterations: what the convergence study shows the fair targets need from the
    # references' start (about 10 minutes per distillation on a 2-core CPU)
    "cmnist-bg": dict(
        ipc=10, n_iter=1000, batch_real=64, seeds=1, eval_runs=2, eval_epochs=300, full_epochs=20
    ),
    "cmnist-fg": dict(
        ipc=10, n_iter=1000, batch_real=64, seeds=1, eval_runs=2, eval_epochs=300, full_epochs=20
    ),
}
#: The starts compared: every target from the references' start (random real samples of the
#: class), and vanilla and COBRA again from the group-balanced start, an intervention of its
#: own with its own rows.
BALANCED_ROWS = ("vanilla", "cobra")


#: Method settings of the image demos, sized like the DM demo (a few minutes per target on a
#: 2-core CPU): gradient matching pays for a backward pass per class and an inner loop, so it
#: runs 10 iterations of 10 matching steps with a ConvNet of width 64.
METHOD_DEMOS = {
    "dm": {},
    "dc": dict(n_iter=10, outer_loop=10, inner_loop=10, net_width=64),
    "idc": dict(n_iter=10, outer_loop=10, inner_loop=2, net_width=64),
}
#: Tabular data with gradient matching (an MLP): shorter loops than the reference schedule.
TABULAR_METHOD_DEMOS = {
    "dm": {},
    "dc": dict(n_iter=50, outer_loop=10, inner_loop=10),
}


def _load(dataset):
    data = load_benchmark_dataset(dataset)
    model = (
        "LogisticRegression on the distilled rows"
        if not data.image
        else "ConvNet trained with DSA on the distilled images"
    )
    data.title = f"{data.title}, {model}"
    return data


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

    DP_M and PP_M are the largest per-class demographic parity and predictive parity gaps
    (:mod:`skdistill.metrics`).
    """
    out = pd.DataFrame(index=table.index)
    labels = {
        "accuracy": "accuracy %",
        "eod_max": "EOD_M",
        "eod_max_fairlearn": "EOD_M (fairlearn)",
        "eod_mean": "EOD_A",
        "eod_mean_fairlearn": "EOD_A (fairlearn)",
        "dp_max": "DP_M",
        "ppd_max": "PP_M",
        "worst_group_accuracy": "worst group acc. %",
    }
    for metric, label in labels.items():
        out[label] = [
            f"{100 * m:.1f} ± {100 * s:.1f}"
            for m, s in zip(table[f"{metric}_mean"], table[f"{metric}_std"])
        ]
    out["distil s"] = [f"{s:.1f}" if s > 0 else "-" for s in table["distil_seconds"]]
    out["runs"] = table["n_runs"].astype(int)
    return out


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table of ``frame`` (index as the first column)."""
    header = ["", *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, row in frame.iterrows():
        lines.append("| " + " | ".join([str(name), *map(str, row.tolist())]) + " |")
    return "\n".join(lines)


def run_demo(
    dataset="adult",
    *,
    method="dm",
    out_dir="skdistill-demo",
    targets=TARGET_NAMES,
    n_iter=None,
    seeds=None,
    eval_runs=None,
    eval_epochs=None,
    full_epochs=None,
    device="auto",
    log=print,
):
    """Distil ``dataset`` with each target, evaluate, and write a report and figures.

    Parameters
    ----------
    dataset : {"adult", "adult-sexrace", "cmnist-bg", "cmnist-fg"}, default="adult"
        Embedded dataset to distil (``adult-sexrace``: Adult with intersectional sex x race
        groups).
    method : {"dm", "dc", "idc"}, default="dm"
        Matching method (``"idc"`` needs images), with the settings of
        :data:`METHOD_DEMOS` (images) or :data:`TABULAR_METHOD_DEMOS`.
    out_dir : str or Path, default="skdistill-demo"
        Folder for ``report.md``, ``results.csv`` and the PNG figures.
    targets : sequence of str
        Targets to compare.
    n_iter, seeds, eval_runs, eval_epochs, full_epochs : int or None
        Override the settings in :data:`DEMOS` (distillation iterations, distillation seeds,
        evaluation trainings per synthetic set, their epochs, epochs of the full-data model).
    device : str, default="auto"
        Device for distillation and torch evaluation.
    log : callable, default=print
        Receives progress lines; pass ``lambda *a: None`` for silence.

    Returns
    -------
    Bunch
        ``table`` (numbers, in [0, 1]), ``formatted`` (printable), ``runs`` (every run),
        ``report`` (path of the markdown report), ``figures`` (paths of the PNG files),
        ``seconds`` (wall time).
    """
    if dataset not in DEMOS:
        raise ValueError(f"dataset must be one of {sorted(DEMOS)}; got {dataset!r}.")
    unknown = [t for t in targets if t not in TARGET_NAMES]
    if unknown:
        raise ValueError(f"unknown target(s) {unknown}; choose from {list(TARGET_NAMES)}.")
    settings = TABULAR_METHOD_DEMOS if dataset.startswith("adult") else METHOD_DEMOS
    method_settings = settings.get(method)
    if method_settings is None:
        raise ValueError(
            f"method={method!r} has no demo settings for dataset={dataset!r}; choose from "
            f"{sorted(settings)}."
        )
    cfg = {**DEMOS[dataset], **method_settings}
    overrides = dict(
        n_iter=n_iter,
        seeds=seeds,
        eval_runs=eval_runs,
        eval_epochs=eval_epochs,
        full_epochs=full_epochs,
    )
    cfg.update({k: v for k, v in overrides.items() if v is not None})
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    data = _load(dataset)
    image = np.ndim(data.X_train) > 2

    def evaluate(X, y, runs, seed, epochs, curves=False):
        """Fresh models trained on (X, y); the image ConvNets train ``epochs`` with DSA."""
        kw = {"epochs": epochs, "augment": "dsa", "curves": curves} if image else {}
        return evaluate_synthetic(
            X,
            y,
            data.X_test,
            data.y_test,
            data.A_test,
            n_runs=runs,
            random_state=seed,
            device=device,
            **kw,
        )

    rows, synthetic = [], {}
    log(f"[demo] {dataset}: full training set")
    full = evaluate(data.X_train, data.y_train, 1, 0, cfg["full_epochs"], curves=True)
    rows.append(full.runs.assign(row="full", distil_seconds=0.0))
    curves = full.get("curves")
    for seed in range(cfg["seeds"]):
        log(f"[demo] random {cfg['ipc']} real samples per class (seed {seed})")
        X_r, y_r = random_subset(data.X_train, data.y_train, cfg["ipc"], random_state=seed)
        rows.append(
            evaluate(X_r, y_r, cfg["eval_runs"], seed, cfg["eval_epochs"]).runs.assign(
                row="random", distil_seconds=0.0
            )
        )
    plan = [(target, target, "random_real") for target in targets]
    plan += [(f"{t}, balanced init", t, "balanced") for t in BALANCED_ROWS if t in targets]
    for row, target, init in plan:
        for seed in range(cfg["seeds"]):
            extra = {k: cfg[k] for k in ("outer_loop", "inner_loop", "net_width") if k in cfg}
            distiller = BarycentricDistiller(
                method=method,
                target=target,
                ipc=cfg["ipc"],
                n_iter=cfg["n_iter"],
                batch_real=cfg["batch_real"],
                init=init,
                device=device,
                random_state=seed,
                n_threads=-1,  # the demo runs alone: every core (the estimator's default: half)
                **extra,
            )
            tic = time.perf_counter()
            distiller.fit(data.X_train, data.y_train, sensitive_features=data.A_train)
            seconds = time.perf_counter() - tic
            X_s, y_s = distiller.transform()
            synthetic.setdefault(row, (X_s, y_s))
            runs = evaluate(X_s, y_s, cfg["eval_runs"], seed, cfg["eval_epochs"]).runs
            log(
                f"[demo] {row:8s} seed {seed}: distilled in {seconds:.1f}s, accuracy "
                f"{100 * runs.accuracy.mean():.1f}%, EOD_M {100 * runs.eod_max.mean():.1f}"
            )
            rows.append(runs.assign(row=row, distil_seconds=seconds))
    runs = pd.concat(rows, ignore_index=True)
    table = _summarise(runs)
    formatted = format_table(table)
    stem = dataset if method == "dm" else f"{dataset}_{method}"
    figures = _figures(stem, data, table, synthetic, out, image, curves)
    seconds = time.perf_counter() - start
    report = _write_report(stem, method, data, cfg, formatted, figures, out, seconds)
    suffix = "" if method == "dm" else f"_{method}"
    runs.to_csv(out / f"runs{suffix}.csv", index=False)
    table.to_csv(out / f"results{suffix}.csv")
    return Bunch(
        table=table, formatted=formatted, runs=runs, report=report, figures=figures, seconds=seconds
    )


def _figures(dataset, data, table, synthetic, out, image, curves=None):
    figures = []
    if curves:
        axes = plot_training_curves(curves, title=f"{data.title}: full-data model")
        path = out / f"{dataset}_full_training.png"
        axes[0].figure.savefig(path, dpi=120)
        figures.append(path)
    ax = plot_fairness_accuracy(table, title=data.title)
    path = out / f"{dataset}_fairness_accuracy.png"
    ax.figure.savefig(path, dpi=120)
    figures.append(path)
    if image and synthetic:
        fig = Figure(figsize=(4.2 * len(synthetic), 4.6), layout="constrained")
        axes = fig.subplots(1, len(synthetic), squeeze=False)[0]
        for ax, (target, (X_s, y_s)) in zip(axes, synthetic.items()):
            plot_synthetic_images(X_s, y_s, ax=ax, title=target)
        path = out / f"{dataset}_synthetic.png"
        fig.savefig(path, dpi=120)
        figures.append(path)
    return figures


def _write_report(dataset, method, data, cfg, formatted, figures, out, seconds):
    settings = ", ".join(f"{k}={v}" for k, v in cfg.items() if v is not None)
    lines = [
        f"# skdistill demo: {dataset}",
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
        f"Wall time: {seconds:.0f} s.",
        "",
    ]
    lines += [f"![{p.stem}]({p.name})" for p in figures]
    path = out / f"{dataset}_report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
