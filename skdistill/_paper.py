"""The ``paper`` preset of ``skdistill benchmark``: the COBRA paper's datasets and protocol.

The COBRA paper (Moslemi et al.) states few hyperparameters ("official implementations", §5.1);
the values here are those its authors' scripts run (``mhmoslemi/COBRA``: ``scripts/run_*.sh``
and the ``train_*.py`` defaults), listed with their sources in the user guide. Datasets are
read from ``--data-root``, one folder for all of them in the loaders' layouts
(:data:`FOLDERS`); a dataset whose files are missing is reported in one line and skipped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.utils import Bunch

from ._persistence import _atomic_write
from .datasets import (
    load_bffhq,
    load_celeba,
    load_cifar10s,
    load_colored_fmnist,
    load_colored_mnist,
    load_utkface,
)

#: Benchmark dataset name -> (title, loader(root), folder under --data-root). The folder is
#: what the loader's ``root`` expects: torchvision's layouts share one root, UTKFace and BFFHQ
#: have folders of their own.
FOLDERS = {
    "c-mnist-fg": ("C-MNIST (FG)", lambda r: load_colored_mnist("fg", root=r), "."),
    "c-mnist-bg": ("C-MNIST (BG)", lambda r: load_colored_mnist("bg", root=r), "."),
    "c-fmnist-fg": ("C-FMNIST (FG)", lambda r: load_colored_fmnist(r, "fg"), "."),
    "c-fmnist-bg": ("C-FMNIST (BG)", lambda r: load_colored_fmnist(r, "bg"), "."),
    "cifar10-s": ("CIFAR10-S", lambda r: load_cifar10s(r), "."),
    "utkface": ("UTKFace (age / race)", lambda r: load_utkface(r, image_size=64), "UTKFace"),
    "bffhq": ("BFFHQ (age / gender)", lambda r: load_bffhq(r, image_size=64), "bffhq"),
    "celeba": (
        "CelebA (attractive / male)",
        lambda r: load_celeba(r, target="Attractive", sensitive="Male", image_size=64),
        ".",
    ),
}
#: The seven datasets of the COBRA paper's Table 1, in its row order (CelebA is in the
#: authors' code, not in the paper: available by name, not in the preset).
TABLE1_DATASETS = [
    "cifar10-s",
    "c-fmnist-fg",
    "c-fmnist-bg",
    "c-mnist-fg",
    "c-mnist-bg",
    "utkface",
    "bffhq",
]

#: Distillation and evaluation per method, as the COBRA authors' scripts run them.
#: ``eval_epochs``: evaluation networks (ConvNet, SGD lr 0.01, momentum 0.9, weight decay
#: 5e-4, batch 256, lr x0.1 at half the epochs); DSA during evaluation for DM only.
PAPER_BUDGETS = {
    # run_dm.sh: --Iteration 2600 --batch_real 600 --lr_img 1.0; DSA; 1,500 evaluation epochs
    "dm": dict(n_iter=2600, batch_real=600, eval_epochs=1500, eval_augment="dsa"),
    # train_dc.py defaults: 1,000 iterations, 256 real per class, lr_img 0.1, the reference
    # (outer, inner) loops per IPC (the distiller's default), no DSA; 1,000 epochs
    "dc": dict(n_iter=1000, batch_real=256, eval_epochs=1000, eval_augment=None),
    # run_idc.sh: --Iteration 1000, 256 real per class; 1,000 evaluation epochs, no DSA
    "idc": dict(n_iter=1000, batch_real=256, eval_epochs=1000, eval_augment=None),
}
#: FULL (a ConvNet on all training images): the paper does not state its budget.
FULL_EPOCHS = 100
#: Per-iteration timing (COBRA paper, Appendix J): IPC 10, 256 real images per class, 10
#: warm-up iterations, then 120 timed ones.
TIMING = dict(ipc=10, batch_real=256, warmup=10, measured=120)
#: Budget keys that the timing fits take from a configuration's ``budgets`` overrides.
NETWORK_KEYS = ("outer_loop", "inner_loop", "net_width", "net_depth")


def is_paper_dataset(name) -> bool:
    return name in FOLDERS


def load_paper_dataset(name, data_root):
    """A folder dataset as the harness's Bunch.

    Raises ``FileNotFoundError`` when its files are missing (the message names the folder
    and the expected layout).
    """
    if data_root is None:
        raise FileNotFoundError(
            f"dataset {name!r} is read from a local folder: pass --data-root DIR "
            "(data_root= in a configuration) holding it in the layout `skdistill datasets` lists."
        )
    title, loader, folder = FOLDERS[name]
    data = loader(Path(data_root) / folder)
    return Bunch(
        X_train=data.X_train,
        y_train=np.asarray(data.y_train),
        A_train=np.asarray(data.sensitive_features_train),
        X_test=data.X_test,
        y_test=np.asarray(data.y_test),
        A_test=np.asarray(data.sensitive_features_test),
        image=True,
        title=title,
    )


def scaled(budget: dict, scale: float) -> dict:
    """``budget`` with iterations and epochs times ``scale`` (at least 1 each)."""
    if scale == 1:
        return dict(budget)
    out = dict(budget)
    for key in ("n_iter", "eval_epochs", "full_epochs"):
        if out.get(key):
            out[key] = max(1, int(round(out[key] * scale)))
    return out


# ---------------------------------------------------------------------------- timing
def time_iterations(data, method, target, *, device, measured, warmup, params=None):
    """Milliseconds per iteration and peak device memory of one fit at the timing shape.

    The mean and std are over ``measured`` iterations after ``warmup`` ones.
    """
    from ._benchmark import BENCH_THREADS
    from ._distiller import BarycentricDistiller

    distiller = BarycentricDistiller(
        method=method,
        target=target,
        ipc=TIMING["ipc"],
        batch_real=TIMING["batch_real"],
        n_iter=warmup + measured,
        random_state=0,
        device=device,
        n_threads=BENCH_THREADS,
        **(params or {}),
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


TIMING_FILE = "timing.json"


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
        log(f"[timing] {FOLDERS[name][0]}: {method.upper()} · {target}")
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
        text = json.dumps(rows, indent=1).encode("utf-8")
        _atomic_write(runner.out / TIMING_FILE, lambda fh, text=text: fh.write(text))
    return rows


def timing_markdown(rows, device_name) -> str:
    """Tables 13-14's layout: per dataset and method, vanilla -> each target."""
    from ._benchmark import _markdown

    if not rows:
        return ""
    frame = pd.DataFrame(rows)
    lines = [
        "## Per-iteration cost (the COBRA paper's Tables 13-14 layout)",
        "",
        f"Device: {device_name}. IPC {TIMING['ipc']}, {TIMING['batch_real']} real images per "
        "class, ConvNet; mean ± std of the timed iterations after the warm-up; peak memory "
        "is the device's (CUDA only). Slowdown and memory multiple are against vanilla.",
        "",
    ]
    table = []
    for (dataset, method), part in frame.groupby(["dataset", "method"], sort=False):
        base = part[part["target"] == "vanilla"].iloc[0]
        for _, row in part.iterrows():
            mem = "–" if row["peak_mib"] is None or pd.isna(row["peak_mib"]) else row["peak_mib"]
            mult = (
                f"{row['peak_mib'] / base['peak_mib']:.2f}×"
                if mem != "–" and base["peak_mib"]
                else "–"
            )
            table.append(
                {
                    "dataset": FOLDERS[dataset][0],
                    "G": row["groups"],
                    "method": method.upper(),
                    "target": row["target"],
                    "ms / iteration": f"{row['ms_mean']:.1f} ± {row['ms_std']:.1f}",
                    "slowdown": f"{row['ms_mean'] / base['ms_mean']:.2f}×",
                    "peak MiB": mem if mem == "–" else f"{mem:,.0f}",
                    "mem. mult.": mult,
                }
            )
    table = pd.DataFrame(table).set_index("dataset")
    return "\n".join([*lines, _markdown(table, "dataset")]) + "\n"


# ---------------------------------------------------------------------------- layout
def table1_markdown(summary, config) -> str:
    """The COBRA paper's Table 1 layout, cells ``EOD_M ± std (Acc ± std)`` in points.

    Rows: dataset x IPC; columns: method x target, then RANDOM and FULL.
    """
    from ._benchmark import TARGET_LABELS, _markdown

    def cell(row):
        return (
            f"{100 * row['eod_max_mean']:.2f} ± {100 * row['eod_max_std']:.2f} "
            f"({100 * row['accuracy_mean']:.1f} ± {100 * row['accuracy_std']:.1f})"
        )

    columns = [(m, t) for m in config["methods"] for t in config["targets"]]
    header = ["IPC", *[f"{m.upper()} {TARGET_LABELS[t]}" for m, t in columns]]
    extra = [e for e in ("RANDOM", "FULL") if (summary["entry"] == e).any()]
    header += extra
    titles, table = [], []
    for dataset in config["datasets"]:
        rows = summary[summary["dataset"] == dataset]
        if rows.empty:
            continue
        for ipc in config["ipc"]:
            at = rows[rows["ipc"] == ipc]
            cells = []
            for method, target in columns:
                hit = at[(at["entry"] == f"{method.upper()} · {TARGET_LABELS[target]}")]
                cells.append(cell(hit.iloc[0]) if len(hit) else "-")
            for entry in extra:
                hit = rows[rows["entry"] == entry]
                hit = hit[hit["ipc"] == ipc] if entry == "RANDOM" else hit
                cells.append(
                    cell(hit.iloc[0])
                    if len(hit) and (entry != "FULL" or ipc == config["ipc"][0])
                    else ""
                )
            titles.append(FOLDERS[dataset][0] if is_paper_dataset(dataset) else dataset)
            table.append([ipc, *cells])
    return _markdown(pd.DataFrame(table, index=titles, columns=header), "Dataset") + "\n"
