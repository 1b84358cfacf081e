"""The ``paper`` preset's measurements: per-iteration cost (Tables 13-14) and time estimates.

The preset itself (the COBRA paper's datasets at its authors' budgets) is configured in
:mod:`skdistill.benchmark.config`; its datasets are read from ``--data-root``
(:data:`skdistill.benchmark.data.FOLDERS`), and a dataset whose files are missing is
reported in one line and skipped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from .._distiller import BarycentricDistiller
from .._persistence import write_text_atomic
from ..evaluation import evaluate_synthetic
from .config import (
    BENCH_THREADS,
    DISTILLER_KEYS,
    distiller_params,
    method_label,
    target_label,
)
from .data import FOLDERS, is_paper_dataset
from .plan import entry_name

#: Per-iteration timing (COBRA paper, Appendix J): IPC 10, 256 real images per class, 10
#: warm-up iterations, then 120 timed ones.
TIMING = dict(ipc=10, batch_real=256, warmup=10, measured=120)
#: Budget keys that the timing fits take from a configuration's ``budgets`` overrides.
NETWORK_KEYS = ("outer_loop", "inner_loop", "net_width", "net_depth")
TIMING_FILE = "timing.json"


def time_iterations(data, method, target, *, device, measured, warmup, params=None):
    """Milliseconds per iteration and peak device memory of one fit at the timing shape.

    The mean and std are over ``measured`` iterations after ``warmup`` ones.
    """
    distiller = BarycentricDistiller(
        target=target,
        ipc=TIMING["ipc"],
        batch_real=TIMING["batch_real"],
        n_iter=warmup + measured,
        random_state=0,
        device=device,
        n_threads=BENCH_THREADS,
        **distiller_params(method, params or {}),
    )
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    distiller.fit(data.X_train, data.y_train, sensitive_features=data.A_train)
    if cuda:
        torch.cuda.synchronize(device)
    seconds = np.diff(np.concatenate([[0.0], distiller.history_["seconds"].to_numpy()]))
    ms = 1000 * seconds[warmup:]
    return {
        "ms_mean": float(ms.mean()),
        "ms_std": float(ms.std()),
        "iterations": int(ms.size),
        "peak_mib": float(torch.cuda.max_memory_allocated(device) / 2**20) if cuda else None,
        "groups": int(len(distiller.groups_)),
    }


def read_timing(out) -> list:
    """The timing rows already measured in the output folder ``out`` (a rerun keeps them)."""
    path = Path(out) / TIMING_FILE
    return json.loads(path.read_text()) if path.exists() else []


def timing_pending(config, name, rows) -> list:
    """The (method, target) pairs of dataset ``name`` still to be timed (vanilla first)."""
    if not is_paper_dataset(name):
        return []
    done = {(r["method"], r["target"]) for r in rows if r["dataset"] == name}
    targets = ("vanilla", *[t for t in config["targets"] if t != "vanilla"])
    return [(m, t) for m in config["methods"] for t in targets if (m, t) not in done]


def time_dataset(config, runner, log, name, data, rows):
    """Time every pending (method, target) of dataset ``name`` on its loaded ``data``.

    Rows are appended to ``rows`` and to ``timing.json`` (atomically) as they are measured.
    """
    scale = float(config["budget_scale"])
    measured = max(3, int(round(TIMING["measured"] * min(scale, 1))))
    warmup = max(1, int(round(TIMING["warmup"] * min(scale, 1))))
    for method, target in timing_pending(config, name, rows):
        log(f"[timing] {FOLDERS[name][0]}: {method_label(method)} · {target}")
        started = time.perf_counter()
        # the timing shape (IPC, real batch) is fixed; network options follow the budget
        budget = runner.budget(name, method)
        options = {k: budget[k] for k in NETWORK_KEYS if k in budget}
        row = time_iterations(
            data,
            method,
            target,
            device=runner.device,
            measured=measured,
            warmup=warmup,
            params=options,
        )
        row.update(dataset=name, method=method, target=target)
        row["wall_seconds"] = time.perf_counter() - started
        rows.append(row)
        write_text_atomic(runner.out / TIMING_FILE, json.dumps(rows, indent=1))
    return rows


def estimate_cells(runner, data, label, tasks):
    """Log every pending distillation's estimated wall time, per seed.

    From a short timed warm-up: a few distillation iterations and one evaluation epoch.
    """
    seen = set()
    for task in tasks:
        cell = (task.get("method"), task.get("target"), task["ipc"])
        if task["kind"] != "distilled" or cell in seen:
            continue
        seen.add(cell)
        runner.log(_estimate(runner, data, label, *cell))


def _estimate(runner, data, label, method, target, ipc):
    """The estimate line of one (method, target, IPC) of dataset ``label``."""
    budget = runner.budget(label, method)
    options = {**{k: v for k, v in budget.items() if k in DISTILLER_KEYS}, "n_iter": 3}
    probe = BarycentricDistiller(
        target=target,
        ipc=ipc,
        random_state=0,
        device=runner.device,
        n_threads=BENCH_THREADS,
        **distiller_params(method, options),
    ).fit(data.X_train, data.y_train, sensitive_features=data.A_train)
    per_iter = float(np.diff(probe.history_["seconds"].to_numpy()).mean())
    X_s, y_s = probe.X_synthetic_, probe.y_synthetic_
    started = time.perf_counter()
    few = slice(0, 16)  # the test split barely matters: training time is measured
    evaluate_synthetic(
        X_s,
        y_s,
        data.X_test[few],
        data.y_test[few],
        data.A_test[few],
        epochs=1,
        augment=budget.get("eval_augment"),
        device=runner.device,
        random_state=0,
    )
    per_epoch = time.perf_counter() - started
    distil = per_iter * budget["n_iter"]
    runs = int(runner.config["eval_runs"])
    evaluate = per_epoch * budget["eval_epochs"] * runs
    n_classes = np.unique(data.y_train).shape[0]
    return (
        f"[estimate] {data.title}: {entry_name(method, target_label(target))}, IPC {ipc} "
        f"({n_classes * ipc} images): distillation ≈ {duration(distil)} "
        f"({budget['n_iter']} it × {per_iter:.2f} s), evaluation ≈ "
        f"{duration(evaluate)} ({runs} × {budget['eval_epochs']} epochs), per seed"
    )


def duration(seconds) -> str:
    """``"42 s"``, ``"12 min"`` or ``"3.5 h"``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
