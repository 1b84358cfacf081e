"""Reports of ``skdistill benchmark``: summaries, markdown tables and ``results.md``."""

from __future__ import annotations

import json
import os
import platform

import numpy as np
import pandas as pd
import torch

from .. import __version__
from .config import CRITERIA, METRICS, method_label, seed_list, target_label
from .data import FOLDERS, data_size, is_paper_dataset
from .paper import TIMING
from .plan import entry_name


def machine(device):
    """A short description of the machine, for the results."""
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "skdistill": __version__,
        "device": str(device),
    }
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def markdown_table(frame: pd.DataFrame, corner="") -> str:
    """A GitHub-flavoured markdown table of ``frame``: the index first, headed ``corner``."""
    lines = ["| " + " | ".join([corner, *map(str, frame.columns)]) + " |"]
    lines.append("|" + "---|" * (len(frame.columns) + 1))
    for name, row in frame.iterrows():
        lines.append("| " + " | ".join([str(name), *map(str, row.tolist())]) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------- summary
def _per_run(records: pd.DataFrame) -> pd.DataFrame:
    """One row per trained evaluation model: a record's ``runs`` replace its mean metrics."""
    if "runs" not in records:
        return records.copy()
    rows = []
    for record in records.to_dict(orient="records"):
        runs = record.pop("runs", None)
        if not isinstance(runs, list) or not runs:
            rows.append(record)
            continue
        rows += [{**record, **{m: run.get(m) for m in METRICS + CRITERIA}} for run in runs]
    return pd.DataFrame(rows)


def summarise(records: pd.DataFrame) -> pd.DataFrame:
    """Mean and std of every metric per (dataset, sweep, IPC, arch, entry).

    The statistics pool every evaluation model of every seed (seeds x evaluation runs);
    ``n_seeds`` and ``n_models`` count them.
    """
    keys = ["dataset", "sweep", "sweep_value", "ipc", "arch", "entry"]
    frame = _per_run(records)
    for col in ("sweep", "sweep_value", "note"):
        if col not in frame:
            frame[col] = None
    frame[["sweep", "sweep_value"]] = frame[["sweep", "sweep_value"]].astype(object)
    frame = frame.fillna({"sweep": "", "note": ""})
    frame["sweep_value"] = frame["sweep_value"].where(frame["sweep_value"].notna(), "")
    for m in CRITERIA:  # records of fairlearn's mitigations (and older records) lack them
        if m not in frame:
            frame[m] = np.nan
    frame[list(CRITERIA)] = frame[list(CRITERIA)].astype(float)
    grouped = frame.groupby(keys, sort=False, dropna=False)
    table = grouped[list(METRICS + CRITERIA)].agg(["mean", "std"])
    table.columns = [f"{m}_{s}" for m, s in table.columns]
    table["n_seeds"] = grouped["seed"].nunique()
    table["n_models"] = grouped.size()
    table["note"] = grouped["note"].first()
    if "distil_seconds" in frame:
        table["distil_seconds"] = grouped["distil_seconds"].mean()
    return table.fillna({f"{m}_std": 0.0 for m in METRICS}).reset_index()


# ---------------------------------------------------------------------------------- cells
def _cell(row):
    if pd.isna(row["eod_max_mean"]):
        return f"n/a ({row['note']})" if row["note"] else "n/a"
    return (
        f"{100 * row['eod_max_mean']:.1f} ± {100 * row['eod_max_std']:.1f} "
        f"({100 * row['accuracy_mean']:.1f} ± {100 * row['accuracy_std']:.1f})"
    )


def _criteria_cell(row):
    if pd.isna(row["dp_max_mean"]):
        return "-"
    return (
        f"{100 * row['dp_max_mean']:.1f} / {100 * row['ppd_max_mean']:.1f} / "
        f"{100 * row['worst_group_accuracy_mean']:.1f}"
    )


def _grid(summary, columns, cell=_cell):
    """A table: entries as rows (in order of appearance), ``columns`` values as columns.

    Cells by ``cell``: "EOD (Acc)" by default.
    """
    summary = summary.assign(_col=summary[columns].astype(str).agg(" · ".join, axis=1))
    cells = summary.assign(cell=summary.apply(cell, axis=1))
    grid = cells.pivot_table(
        index="entry", columns="_col", values="cell", aggfunc="first", sort=False
    )
    order = list(dict.fromkeys(cells["entry"]))
    cols = list(dict.fromkeys(cells["_col"]))
    return grid.reindex(index=order, columns=cols).fillna("-")


# ---------------------------------------------------------------------------------- paper
def table1_markdown(summary, config) -> str:
    """The COBRA paper's Table 1 layout, cells ``EOD_M ± std (Acc ± std)`` in points.

    Rows: dataset x IPC; columns: method x target, then RANDOM and FULL.
    """

    def cell(row):
        return (
            f"{100 * row['eod_max_mean']:.2f} ± {100 * row['eod_max_std']:.2f} "
            f"({100 * row['accuracy_mean']:.1f} ± {100 * row['accuracy_std']:.1f})"
        )

    columns = [(m, t) for m in config["methods"] for t in config["targets"]]
    header = ["IPC", *[f"{method_label(m)} {target_label(t)}" for m, t in columns]]
    extra = [e for e in ("RANDOM", "FULL") if (summary["entry"] == e).any()]
    titles, table = [], []
    for dataset in config["datasets"]:
        rows = summary[summary["dataset"] == dataset]
        for ipc in config["ipc"] if not rows.empty else ():
            at = rows[rows["ipc"] == ipc]
            cells = []
            for method, target in columns:
                hit = at[at["entry"] == entry_name(method, target_label(target))]
                cells.append(cell(hit.iloc[0]) if len(hit) else "-")
            for entry in extra:
                hit = rows[rows["entry"] == entry]
                hit = hit[hit["ipc"] == ipc] if entry == "RANDOM" else hit
                shown = len(hit) and (entry != "FULL" or ipc == config["ipc"][0])
                cells.append(cell(hit.iloc[0]) if shown else "")
            titles.append(FOLDERS[dataset][0] if is_paper_dataset(dataset) else dataset)
            table.append([ipc, *cells])
    frame = pd.DataFrame(table, index=titles, columns=header + extra)
    return markdown_table(frame, "Dataset") + "\n"


def timing_markdown(rows, device_name) -> str:
    """Tables 13-14's layout: per dataset and method, vanilla -> each target."""
    if not rows:
        return ""
    lines = [
        "## Per-iteration cost (the COBRA paper's Tables 13-14 layout)",
        "",
        f"Device: {device_name}. IPC {TIMING['ipc']}, {TIMING['batch_real']} real images per "
        "class, ConvNet; mean ± std of the timed iterations after the warm-up; peak memory "
        "is the device's (CUDA only). Slowdown and memory multiple are against vanilla.",
        "",
    ]
    table = []
    frame = pd.DataFrame(rows)
    for (dataset, method), part in frame.groupby(["dataset", "method"], sort=False):
        base = part[part["target"] == "vanilla"].iloc[0]
        table += [_timing_row(dataset, method, row, base) for _, row in part.iterrows()]
    table = pd.DataFrame(table).set_index("dataset")
    return "\n".join([*lines, markdown_table(table, "dataset")]) + "\n"


def _timing_row(dataset, method, row, base):
    mem = "–" if row["peak_mib"] is None or pd.isna(row["peak_mib"]) else row["peak_mib"]
    mult = f"{row['peak_mib'] / base['peak_mib']:.2f}×" if mem != "–" and base["peak_mib"] else "–"
    return {
        "dataset": FOLDERS[dataset][0],
        "G": row["groups"],
        "method": method_label(method),
        "target": row["target"],
        "ms / iteration": f"{row['ms_mean']:.1f} ± {row['ms_std']:.1f}",
        "slowdown": f"{row['ms_mean'] / base['ms_mean']:.2f}×",
        "peak MiB": mem if mem == "–" else f"{mem:,.0f}",
        "mem. mult.": mult,
    }


def _paper_header(config, summary, timing, device_name):
    """The paper layout's opening: what the budgets are, Table 1, the timing table."""
    scale = float(config["budget_scale"])
    budget = (
        "the COBRA authors' scripts (listed under Settings)"
        if scale == 1
        else f"the COBRA authors' scripts × **budget scale {scale:g}** (iterations and epochs; "
        "a quick look, not the paper's protocol)"
    )
    lines = [
        "# skdistill benchmark: the COBRA paper's Table 1 layout",
        "",
        f"Budgets: {budget}. Cells: **EOD_M ± std (accuracy ± std)** in points over "
        f"{len(seed_list(config))} seed(s) × {config['eval_runs']} evaluation run(s), as the "
        "paper's 'EOD (Acc)'. FULL: one ConvNet per seed on all training images.",
        "",
    ]
    if not summary.empty:
        lines += [table1_markdown(summary[summary["sweep"] == ""], config), ""]
    lines += [timing_markdown(timing, device_name)] if timing else []
    return lines


# ---------------------------------------------------------------------------------- results.md
def write_markdown(
    config, records, figures, out, seconds, runner, command, timing=(), missing=None, failed=()
):
    """``results.md``: the main table per IPC, the sweep tables, settings and figures."""
    empty = pd.DataFrame(columns=["sweep", "ipc", "dataset", "entry", "distil_seconds"])
    summary = summarise(records) if len(records) else empty
    info = runner.machine
    paper = config["layout"] == "paper"
    device_name = info.get("gpu", info["processor"]) + f" ({info['device']})"
    lines = _paper_header(config, summary, timing, device_name) if paper else []
    lines += _introduction(config, paper)
    lines += _ipc_tables(config, summary[summary["sweep"] == ""])
    lines += _sweep_tables(config, summary)
    if missing:
        lines += ["## Skipped datasets", ""]
        lines += [f"- `{name}`: {why}" for name, why in missing.items()] + [""]
    if failed:
        lines += [
            "## Cells that failed",
            "",
            "Not in the tables above; the same command retries them.",
            "",
        ]
        lines += [
            f"- {f['dataset']}, {f['entry']}, IPC {f['ipc']}, seed {f['seed']}: {f['error']}"
            for f in failed
        ] + [""]
    lines += _settings(config, summary, runner, info, seconds, command, paper)
    lines += [f"![{p.stem}]({p.name})" for p in figures]
    path = out / "results.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _introduction(config, paper):
    return [
        "# skdistill benchmark" if not paper else "## Every cell",
        "",
        (
            "Budgets: **CPU-sized** (listed under Settings; the papers distil and evaluate far "
            "longer). "
            if not paper
            else ""
        )
        + "Cells: **EOD_M ± std (accuracy ± std)**, in points, pooled over "
        f"{len(seed_list(config))} seed(s) x {config['eval_runs']} evaluation run(s): each seed "
        "distils its own synthetic set, scored as learnt (floats, not rounded) by "
        f"{config['eval_runs']} models trained from scratch on it; FULL trains one model per "
        "seed to convergence (its training curve is drawn below). EOD_M is the largest "
        "per-class gap in recall between groups (lower is fairer), on the held-out test "
        "split. Images are evaluated by the named architecture (trained with the budget's "
        "`eval_augment`: DSA in the CPU presets), tables by "
        "LogisticRegression. RF rows train LogisticRegression on the fair extractor's "
        "features; fairlearn's mitigations and FULL train on the whole training set.",
        "",
    ]


def _ipc_tables(config, main):
    lines = []
    for ipc in config["ipc"]:
        part = main[main["ipc"] == ipc]
        if part.empty:
            continue
        lines += [f"## IPC {ipc}", "", markdown_table(_grid(part, ["dataset", "arch"]), "entry")]
        lines += [
            "",
            f"Other criteria, IPC {ipc}: demographic parity gap DP_M / predictive parity "
            "(sufficiency) gap PP_M / worst group's accuracy, in points, means over the same "
            "models (skdistill.metrics; '-' where not computed)",
            "",
            markdown_table(_grid(part, ["dataset", "arch"], _criteria_cell), "entry"),
            "",
        ]
    return lines


def _sweep_tables(config, summary):
    lines = []
    for sweep in config["sweeps"] or {}:
        part = summary[summary["sweep"] == sweep]
        for dataset, rows in part.groupby("dataset", sort=False):
            rows = rows.assign(sweep_value=sweep.upper() + " " + rows["sweep_value"].astype(str))
            lines += [
                f"## {sweep.upper()} sweep: {dataset}, IPC {config['ipc'][0]}",
                "",
                markdown_table(_grid(rows, ["sweep_value"]), "entry"),
                "",
            ]
    return lines


def _settings(config, summary, runner, info, seconds, command, paper):
    """The Settings section: command, machine, budgets and mean distillation times."""
    # what the run's cells ran with: per data size (paper datasets share one) and method
    budgets = {
        f"{data_size(dataset)}/{method}": runner.budget(dataset, method)
        for dataset in config["datasets"]
        for method in config["methods"]
    }
    lines = ["## Settings", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    if config["skip"]:
        lines += ["Left out of the grid (`skip`): " + ", ".join(config["skip"]) + ".", ""]
    lines += [
        f"Machine: {info.get('gpu', info['processor'])}, {info['cpu_count']} cores "
        f"({info['torch_threads']} torch threads), {info['platform']}; Python "
        f"{info['python']}, torch {info['torch']}, skdistill {info['skdistill']}. Wall time: "
        f"{seconds:.0f} s.",
        "",
        ("The COBRA authors' budgets" if paper else "CPU-sized budgets")
        + " (distillation: `n_iter`, `batch_real`, ...; evaluation: "
        "`eval_epochs` per network with `eval_augment`, `full_epochs` for FULL and the RF "
        "extractor); every other distiller parameter is its default (e.g. `init` "
        "random_real, the references' start, unless a row names another):",
        "",
        "```json",
        json.dumps(budgets, indent=1),
        "```",
        "",
    ]
    timed = summary.dropna(subset=["distil_seconds"]) if "distil_seconds" in summary else None
    if timed is not None and not timed.empty:
        mean = timed.groupby("entry", sort=False)["distil_seconds"].mean()
        lines += [
            "Mean distillation time per synthetic set (s): "
            + ", ".join(f"{k} {v:.0f}" for k, v in mean.items()),
            "",
        ]
    return lines
