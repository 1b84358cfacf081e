"""Beyond the mean barycenter: distribution targets and fairness without group labels.

DM, IPC 10, every row from the same start (random real samples of the class, the
references' start) and the same budget, on two datasets whose groups are known:

- Colored MNIST (background), built offline from the embedded 5,000-digit MNIST subset
  (4,000 training digits at skew 0.9, 28x28; 500 test digits in every colour), DSA, 64 real
  images per class per iteration, 1,000 iterations (the convergence study's budget);
- Adult with intersectional sex x race groups (10 groups), 256 real rows per class per
  iteration, 300 iterations.

Rows (``--rows``):

- ``vanilla`` and ``cobra`` (COBRA's mean barycenter, its default step);
- ``wasserstein``: the Wasserstein barycenter of the class's group clouds (POT);
- ``mmd``: the equal-weight mixture of the group distributions under MMD;
- ``labelfree``: no group labels at all; vanilla's target with the label-free weights of
  Cui et al. (:func:`skdistill.groups.density_weights`, inverse within-class density);
- ``cobra-discovered``: COBRA on groups found without labels
  (:func:`skdistill.groups.discover_groups`), scored on the true groups.

Each synthetic set, exactly as learnt, is scored on the true test groups by ``--eval-runs``
models trained from scratch (ConvNets with DSA for 300 epochs on images, CPU-sized; logistic
regression on Adult) with every criterion of :func:`skdistill.metrics.fairness_report`.
Resumable: each cell (dataset, row, seed) is appended to ``--out/results.json`` as it
completes and long fits checkpoint in ``--out/checkpoints/``; ``--report`` writes
``beyond_mean.md`` and ``beyond_mean.png``. ``--only-seeds K`` runs just seed K's cells (one
process per core or machine, each with its own ``--out``); their ``results.json`` cells, keyed
by (dataset, row, seed), are then put together into one file before ``--report``.

    python benchmarks/beyond_mean.py --datasets adult-sexrace --seeds 3
    python benchmarks/beyond_mean.py --datasets cmnist-bg --seeds 3
    python benchmarks/beyond_mean.py --report
    python benchmarks/beyond_mean.py --smoke --out beyond-smoke   # seconds: checks that it runs
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from skdistill import BarycentricDistiller
from skdistill.benchmark import load_benchmark_dataset, machine, markdown_table
from skdistill.benchmark.config import BUDGETS as HARNESS_BUDGETS
from skdistill.evaluation import evaluate_synthetic
from skdistill.groups import density_weights, discover_groups, group_recovery

ROWS = {
    "vanilla": ("vanilla", "vanilla"),
    "cobra": ("COBRA (mean barycenter)", "cobra"),
    "wasserstein": ("Wasserstein barycenter", "wasserstein"),
    "mmd": ("MMD to the group mixture", "mmd"),
    "labelfree": ("label-free (density weights)", "vanilla"),
    "cobra-discovered": ("COBRA on discovered groups", "cobra"),
}


def _harness_budget(size, augment):
    """DM's CPU-sized budget of ``skdistill benchmark`` for a data size (DSA on images)."""
    dm = HARNESS_BUDGETS[(size, "dm")]
    return dict(
        n_iter=dm["n_iter"],
        batch_real=dm["batch_real"],
        augment=augment,
        eval_epochs=dm.get("eval_epochs"),
    )


#: Distillation budget per dataset (CPU-sized, the harness's DM budgets) and the evaluation
#: of its sets.
BUDGETS = {
    "cmnist-bg": _harness_budget("cmnist", "dsa"),
    "adult-sexrace": _harness_budget("tabular", None),
}
SMOKE = dict(n_iter=2, batch_real=8, augment=None, eval_epochs=2, net_width=8)
#: Columns of the table, from :func:`skdistill.metrics.fairness_report` (in points).
METRICS = {
    "accuracy": "Acc",
    "eod_max": "EOD_M",
    "eod_mean": "EOD_A",
    "dp_max": "DP_M",
    "eop_max": "EOP_M",
    "ppd_max": "PPD_M",
    "worst_group_accuracy": "worst-group acc",
}
DEFAULT_OUT = Path(__file__).parent / "results" / "beyond_mean"


def budget(dataset, args):
    return dict(SMOKE) if args.smoke else dict(BUDGETS[dataset])


def groups_for(row, data, seed, args):
    """Training groups and sample weights of one row (the true groups unless it hides them)."""
    if row == "labelfree":
        weights = density_weights(data.X_train, data.y_train, random_state=seed)
        return None, weights, {}
    if row == "cobra-discovered":
        found = discover_groups(
            data.X_train, data.y_train, epochs=1 if args.smoke else 3, random_state=seed
        )
        ari = group_recovery(data.A_train, found.groups, data.y_train).ari
        return found.groups, None, {"ari": float(ari)}
    return data.A_train, None, {}


def distil(dataset, row, seed, data, args):
    """The synthetic set of one cell, its fit time and side facts (e.g. the ARI)."""
    spec = budget(dataset, args)
    groups, weights, facts = groups_for(row, data, seed, args)
    if groups is None:  # label-free: one group, so every target reduces to vanilla's
        groups = np.zeros(len(data.y_train), dtype=int)
    folder = args.out / "checkpoints" / f"{dataset}-{row}-{seed}"
    d = BarycentricDistiller(
        method="dm",
        target=ROWS[row][1],
        ipc=args.ipc,
        n_iter=spec["n_iter"],
        batch_real=spec["batch_real"],
        augment=spec["augment"],
        net_width=spec.get("net_width"),
        init="random_real",
        random_state=seed,
        checkpoint_dir=folder,
        checkpoint_every=50,
        n_threads=-1,
        device="cpu",
    )
    fit = dict(sensitive_features=groups, sample_weight=weights)
    try:
        d.fit(data.X_train, data.y_train, **fit, resume=folder.exists() and any(folder.iterdir()))
    except ValueError as exc:  # a checkpoint of another version: start this fit afresh
        if "checkpoint" not in str(exc):
            raise
        print(f"{dataset} {row} seed {seed}: {exc} Starting afresh.")
        shutil.rmtree(folder, ignore_errors=True)
        d.fit(data.X_train, data.y_train, **fit)
    shutil.rmtree(folder, ignore_errors=True)
    X_syn, y_syn = d.X_synthetic_, d.y_synthetic_
    return X_syn, y_syn, d.fit_time_, facts


def score(X_syn, y_syn, data, dataset, seed, args):
    """Every criterion of every evaluation run, in points, on the true test groups."""
    spec = budget(dataset, args)
    image = np.ndim(data.X_train) > 2
    kwargs = dict(epochs=spec["eval_epochs"], augment="dsa", net_width=spec.get("net_width"))
    result = evaluate_synthetic(
        X_syn,
        y_syn,
        data.X_test,
        data.y_test,
        data.A_test,
        n_runs=args.eval_runs,
        device="cpu",
        random_state=seed,
        **(kwargs if image else {}),
    )
    runs = result.runs
    return {m: [100 * float(v) for v in runs[m]] for m in METRICS}


def run(args):
    path = args.out / "results.json"
    store = json.loads(path.read_text()) if path.exists() else {"cells": []}
    done = {(c["dataset"], c["row"], c["seed"]) for c in store["cells"]}
    for dataset in args.datasets:
        data = load_benchmark_dataset(dataset)
        for seed in args.only_seeds or range(args.seeds):
            for row in args.rows:
                if (dataset, row, seed) in done:
                    continue
                tic = time.perf_counter()
                X_syn, y_syn, fit_seconds, facts = distil(dataset, row, seed, data, args)
                cell = dict(dataset=dataset, title=data.title, row=row, seed=seed)
                cell.update(fit_seconds=fit_seconds, **facts)
                cell.update(score(X_syn, y_syn, data, dataset, seed, args))
                cell["seconds"] = time.perf_counter() - tic
                store["cells"].append(cell)
                store["machine"] = machine("cpu")
                store["budgets"] = {**store.get("budgets", {}), dataset: budget(dataset, args)}
                _write(path, store)
                acc, eod = np.mean(cell["accuracy"]), np.mean(cell["eod_max"])
                print(f"{dataset} {row:>17} seed {seed}: acc {acc:5.1f} EOD_M {eod:5.1f}")


def _write(path, obj):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def summary(cells):
    """Mean ± std per (dataset, row) over seeds x evaluation runs, in points."""
    rows = []
    frame = pd.DataFrame(cells)
    for (_, row), part in frame.groupby(["dataset", "row"], sort=False):
        out = {"dataset": part["title"].iloc[0], "row": ROWS[row][0], "seeds": len(part)}
        for metric, name in METRICS.items():
            values = np.concatenate([np.asarray(v, dtype=float) for v in part[metric]])
            out[name] = f"{values.mean():.1f} ± {values.std(ddof=1) if len(values) > 1 else 0:.1f}"
        ari = part.get("ari")
        out["ARI"] = f"{ari.mean():.2f}" if ari is not None and ari.notna().any() else "-"
        out["fit s"] = f"{part['fit_seconds'].mean():.0f}"
        rows.append(out)
    return pd.DataFrame(rows)


def report(args):
    store = json.loads((args.out / "results.json").read_text())
    table = summary(store["cells"])
    # every dataset of the table with its budget (older runs kept only their own)
    store["budgets"] = {
        name: store.get("budgets", {}).get(name, BUDGETS.get(name))
        for name in dict.fromkeys(c["dataset"] for c in store["cells"])
    }
    header = [
        "# Beyond the mean barycenter (CPU-sized)",
        "",
        "DM, IPC 10, every row from random real samples of the class, same budget per dataset "
        f"({json.dumps(store['budgets'])}); each set scored as learnt on the true test groups; "
        "mean ± std over seeds x evaluation runs, in points. ARI: adjusted Rand index of the "
        "discovered groups against the true ones. Evaluators: ConvNets trained with DSA on "
        "images; logistic regression on tables (deterministic, so a table's evaluation runs "
        "coincide and its std is the spread over seeds). fit s: mean wall time of a fit as it "
        "ran, beside whatever else the machine ran (the Colored MNIST fits shared its two "
        "cores with other jobs), so not a cost comparison: for that, time per iteration "
        "interleaved in one process, see `overhead_cpu_cpu_dm_cafe_cobra_wasserstein_mmd.md`. "
        "Command: "
        "`python benchmarks/beyond_mean.py` (see its docstring).",
        "",
    ]
    lines = header + [
        markdown_table(table.set_index("dataset")),
        "",
        f"Machine: {store['machine']}",
        "",
    ]
    (args.out / "beyond_mean.md").write_text("\n".join(lines))
    figure(table, store["cells"], args.out / "beyond_mean.png")
    print("\n".join(lines))


def figure(table, cells, path):
    """Accuracy against EOD_M per dataset, one point per row with its std as error bars."""
    from matplotlib.figure import Figure

    frame = pd.DataFrame(cells)
    datasets = list(dict.fromkeys(frame["dataset"]))
    fig = Figure(figsize=(5.5 * len(datasets), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(datasets)))
    for ax, dataset in zip(axes, datasets):
        part = frame[frame["dataset"] == dataset]
        for row, cell in part.groupby("row", sort=False):
            acc = np.concatenate([np.asarray(v) for v in cell["accuracy"]])
            eod = np.concatenate([np.asarray(v) for v in cell["eod_max"]])
            ax.errorbar(
                eod.mean(),
                acc.mean(),
                xerr=eod.std(),
                yerr=acc.std(),
                fmt="o",
                capsize=3,
                label=ROWS[row][0],
            )
        ax.set(title=part["title"].iloc[0], xlabel="EOD_M (lower is fairer)", ylabel="accuracy %")
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=8, loc="best")
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(BUDGETS), choices=list(BUDGETS))
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--only-seeds",
        type=int,
        nargs="+",
        metavar="K",
        help="run just these seeds' cells, each below --seeds (e.g. one process per seed, "
        "each with its own --out; their results.json cells are put together afterwards)",
    )
    parser.add_argument("--ipc", type=int, default=10)
    parser.add_argument("--eval-runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run")
    args = parser.parse_args(argv)
    if args.only_seeds and not all(0 <= k < args.seeds for k in args.only_seeds):
        parser.error(f"--only-seeds takes seeds from 0 to {args.seeds - 1} (--seeds {args.seeds})")
    if args.smoke:
        args.eval_runs, args.ipc = 1, 2
        args.seeds = args.seeds if args.only_seeds else 1
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.report:
        run(args)
    report(args)


if __name__ == "__main__":
    main()
