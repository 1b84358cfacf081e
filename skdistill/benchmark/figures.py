"""Figures of ``skdistill benchmark`` and ``skdistill demo`` (PNG files, drawn without pyplot)."""

from __future__ import annotations

import numpy as np
import torch

from .._optional import import_optional
from ..evaluation._evaluate import _train_torch
from ..plotting import (
    new_figure,
    plot_embedding,
    plot_fairness_accuracy,
    plot_metric_curves,
    plot_synthetic_images,
    plot_training_curves,
)
from .config import method_label, seed_list, target_label
from .data import data_size, load_benchmark_dataset
from .plan import left_out
from .report import summarise

#: Resolution of the benchmark's figures.
DPI = 110


def require_matplotlib():
    """Fail now, with the extra to install, when matplotlib is missing."""
    import_optional("matplotlib", "bench", "skdistill benchmark and skdistill demo")


def save(fig, path, figures, dpi=DPI):
    """Write ``fig`` to ``path`` and append the path to ``figures``."""
    fig.savefig(path, dpi=dpi)
    figures.append(path)


def training_curves_figure(curves, title, path, figures, dpi=DPI):
    """The training loss and accuracy of the full-data model(s)."""
    save(plot_training_curves(curves, title=title)[0].figure, path, figures, dpi)


def fairness_figure(table, title, path, figures, dpi=DPI):
    """EOD_M against accuracy, one point per entry (``table`` indexed by entry)."""
    save(plot_fairness_accuracy(table, title=title).figure, path, figures, dpi)


def synthetic_grid(sets, path, figures, dpi=DPI):
    """One panel of synthetic images per ``{title: (X, y)}`` item, side by side."""
    fig = new_figure((4.2 * len(sets), 4.6))
    for ax, (title, (X_s, y_s)) in zip(fig.subplots(1, len(sets), squeeze=False)[0], sets.items()):
        plot_synthetic_images(X_s, y_s, ax=ax, title=title)
    save(fig, path, figures, dpi)


def make_figures(runner, records, out):
    """The PNG figures of a finished run (see :func:`run_benchmark`)."""
    config, figures = runner.config, []
    summary = summarise(records)
    main = summary[summary["sweep"] == ""]
    first_ipc = config["ipc"][0]
    if "curve" in records:
        full = records[records["entry"].eq("FULL") & records["curve"].notna()]
        for dataset, rows in full.groupby("dataset", sort=False):
            title = f"{dataset}: FULL training curve (one run per seed)"
            training_curves_figure(
                list(rows["curve"]), title, out / f"{dataset}_full_training.png", figures
            )
    for dataset, rows in main.groupby("dataset", sort=False):
        arch = rows["arch"].iloc[0]
        table = rows[(rows["ipc"] == first_ipc) & (rows["arch"] == arch)]
        table = table.dropna(subset=["eod_max_mean"])
        if not table.empty:
            title = f"{dataset}, IPC {first_ipc}, {arch}"
            path = out / f"{dataset}_fairness_accuracy.png"
            fairness_figure(table.set_index("entry"), title, path, figures)
        if len(config["ipc"]) > 1:
            _ipc_figure(rows[rows["arch"] == arch], dataset, out, figures)
    for sweep in config["sweeps"] or {}:
        part = summary[summary["sweep"] == sweep]
        for dataset, rows in part.groupby("dataset", sort=False):
            rows = rows.assign(sweep_value=rows["sweep_value"].astype(float))
            title = f"{dataset}: {sweep.upper()} sweep"
            ax = plot_metric_curves(rows, x="sweep_value", xlabel=sweep.upper(), title=title)
            save(ax[0].figure, out / f"{dataset}_{sweep}.png", figures)
    figures += _image_figures(runner, out)
    return figures


def _ipc_figure(rows, dataset, out, figures):
    """EOD and accuracy against IPC, for the entries measured at several IPC."""
    curve = rows[~rows["entry"].isin(["FULL"])].dropna(subset=["eod_max_mean"])
    curve = curve[curve.groupby("entry")["ipc"].transform("nunique") > 1]
    if not curve.empty:
        ax = plot_metric_curves(curve, x="ipc", xlabel="IPC", title=f"{dataset}: EOD vs IPC")
        save(ax[0].figure, out / f"{dataset}_ipc.png", figures)


def _image_figures(runner, out):
    """Synthetic grids (every target, every class) and the t-SNE of learned features.

    Drawn from the sets of the run's first seed, IPC and variant (named in the panel titles),
    for the targets its plan holds (a run of other seeds, or a skipped cell, never distils a
    set only to draw it).
    """
    config, figures = runner.config, []
    first_ipc, seed = config["ipc"][0], seed_list(config)[0]
    variant, params = next(iter((config["variants"] or {"": {}}).items()))
    for dataset in config["datasets"]:
        if data_size(dataset) == "tabular":
            continue
        try:
            data = load_benchmark_dataset(dataset, data_root=config["data_root"])
        except FileNotFoundError:  # skipped, and said so in the report
            continue
        for method in config["methods"]:
            sets = {
                t: runner.distil(data, dataset, method, t, first_ipc, seed, params)[:2]
                for t in config["targets"]
                if not left_out(config, method, t)
            }
            if not sets:
                continue
            titled = {grid_title(method, t, variant): s for t, s in sets.items()}
            synthetic_grid(titled, out / f"{dataset}_{method}_synthetic.png", figures)
            if dataset in config["tsne"] and method == config["methods"][0]:
                figures.append(_tsne_figure(runner, data, dataset, method, sets, out))
    return figures


def grid_title(method, target, variant=""):
    """A synthetic grid's panel title: method, target and, in a run of variants, which one.

    >>> grid_title("dm", "cobra", "random real init")
    'DM · COBRA (random real init)'
    """
    title = f"{method_label(method)} · {target_label(target)}"
    return f"{title} ({variant})" if variant else title


def _tsne_figure(runner, data, dataset, method, sets, out, n_points=600):
    """Paper Fig. 3: features of real test images by a ConvNet trained on each synthetic set."""
    budget = runner.budget(dataset, method)
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(data.y_test), min(n_points, len(data.y_test)), replace=False))
    fig = new_figure((9, 4.2 * len(sets)))
    axes = fig.subplots(len(sets), 2, squeeze=False)
    epochs = budget.get("eval_epochs") or 300
    for row, (target, (X_s, y_s)) in zip(axes, sets.items()):
        network, codec, _, shape = _train_torch(
            "convnet", X_s, y_s, 0, runner.device, epochs, 0.01, 256, None, None
        )
        x = codec.encode(np.asarray(data.X_test)[pick]).reshape(-1, *shape)
        with torch.no_grad():
            feats = network.embed(x.to(runner.device)).cpu().numpy()
        plot_embedding(
            feats,
            data.y_test[pick],
            data.A_test[pick],
            axes=row,
            title=f"{method_label(method)} · {target_label(target)}: coloured by class",
        )
    path = out / f"{dataset}_{method}_tsne.png"
    fig.savefig(path, dpi=DPI)
    return path
