"""Does COBRA-MTT lower EOD_M with more iterations? Vanilla and COBRA MTT past the CPU budget.

The ``cafe-mtt`` benchmark runs MTT for 300 iterations (its CPU-sized budget), where COBRA-MTT
does not lower EOD_M against vanilla MTT on Colored MNIST BG. This script continues the same
fits (the benchmark's parameters, seed and expert buffers, which it reads from the benchmark's
cache, so no expert is trained again) to the given iteration counts with ``partial_fit`` (a
fit of ``n`` iterations continued for ``m`` more is the fit of ``n + m``), and at every stop
scores the set with the benchmark's evaluator (same settings, runs and seed):

- accuracy, EOD_M, EOD_A and worst-group accuracy (mean ± std over the evaluation runs);
- *moved* (``||x - x0|| / ||x0||`` from the set's random real start) and the share of
  images whose background is still their class's majority colour (as in
  ``cafe_mtt_diagnosis.py``);
- the learnt step size and the mean matching loss of the last 50 iterations.

At the first stop, when it is the benchmark's ``n_iter``, the set is compared with the one
the benchmark cached (the table says whether they are identical) and its metrics with the
benchmark record.

    python benchmarks/mtt_iterations.py [--targets vanilla cobra] [--seed 0]
        [--stops 0 300 600 900 1200] [--bench DIR] [--out DIR]

Each target's rows are merged into ``mtt_iterations.json`` of ``--out`` (other targets' rows
are kept, so targets may run in separate processes), which also gets ``mtt_iterations.md``
and ``mtt_iterations.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from cafe_mtt_diagnosis import (
    DATASET,
    DEFAULT_OUT,
    border_colours,
    majority_colours,
    majority_share,
    start_of,
)

from skdistill import BarycentricDistiller
from skdistill.benchmark import load_benchmark_dataset, machine, make_config, markdown_table, plan
from skdistill.benchmark.plan import task_key
from skdistill.benchmark.runner import Runner
from skdistill.plotting import plot_metric_curves

NAME = "mtt_iterations"
TAIL = 50  # iterations whose mean loss a stop reports


def the_task(config, target, seed):
    """The ``cafe-mtt`` plan's MTT cell of ``target`` at ``seed``."""
    for task in (t for tasks in plan(config).values() for t in tasks):
        if task.get("method") == "mtt" and task["target"] == target and task["seed"] == seed:
            return task
    raise SystemExit(f"the cafe-mtt plan has no MTT cell for target {target!r}, seed {seed}")


def score(runner, data, X, y, x0, majority, budget, seed, distiller=None):
    """The metrics of the set ``X`` (the benchmark's evaluator); ``distiller`` None: the start."""
    metrics = runner.evaluate(data, X, y, "convnet", seed, budget)
    runs = pd.DataFrame(metrics["runs"])
    row = {
        "iteration": 0 if distiller is None else int(distiller.n_iter_),
        "moved": float(np.linalg.norm(X - x0) / np.linalg.norm(x0)),
        "majority_background": majority_share(border_colours(X), y, majority),
        "synthetic_lr": None if distiller is None else float(distiller.synthetic_lr_),
        "loss_tail": None
        if distiller is None
        else float(np.mean(distiller.history_["loss"].to_numpy()[-TAIL:])),
        "runs": metrics["runs"],
    }
    for key in ("accuracy", "eod_max", "eod_mean", "worst_group_accuracy"):
        row[key] = float(runs[key].mean())
        row[f"{key}_std"] = float(runs[key].std(ddof=0))
    return row


def run_target(runner, config, data, target, seed, stops, majority, log):
    """The rows of one target: its start (stop 0), then its fit continued from stop to stop."""
    task = the_task(config, target, seed)
    kwargs, name = runner.distiller_kwargs(
        DATASET, "mtt", target, task["ipc"], seed, task["params"]
    )
    budget = runner.budget(DATASET, "mtt")
    record = {r["key"]: r for r in runner.records}.get(task_key(task))
    x0, y0 = start_of(runner, data, kwargs)
    rows, distiller, done = [], None, 0
    for stop in stops:
        if stop == 0:
            row = score(runner, data, x0, y0, x0, majority, budget, seed)
        else:
            if distiller is None:
                distiller = BarycentricDistiller(**{**kwargs, "n_iter": stop}, device=runner.device)
                distiller.fit(data.X_train, data.y_train, sensitive_features=data.A_train)
            else:
                distiller.partial_fit(
                    data.X_train, data.y_train, sensitive_features=data.A_train, n_iter=stop - done
                )
            done = stop
            X = np.asarray(distiller.X_synthetic_, dtype=np.float64)
            y = np.asarray(distiller.y_synthetic_)
            row = score(runner, data, X, y, x0, majority, budget, seed, distiller)
            if stop == kwargs["n_iter"]:
                cached = runner.cache / f"{name}.npz"
                if cached.exists():
                    row["equals_benchmark_set"] = bool(np.array_equal(X, np.load(cached)["X"]))
                if record is not None:
                    row["equals_benchmark_record"] = all(
                        abs(row[k] - record[k]) < 1e-9 for k in ("accuracy", "eod_max")
                    )
        row.update(target=target, seed=seed)
        rows.append(row)
        log(
            f"[mtt-iterations] {target} seed {seed} at {stop}: acc {row['accuracy']:.3f}, "
            f"EOD_M {row['eod_max']:.3f}, EOD_A {row['eod_mean']:.3f}, moved {row['moved']:.3f}, "
            f"majority bg {row['majority_background']:.2f}"
        )
    return rows


def pm(row, key):
    return f"{100 * row[key]:.1f} ± {100 * row[f'{key}_std']:.1f}"


def markdown(rows, meta) -> str:
    """The table, one row per target and stop."""
    table = pd.DataFrame(
        [
            {
                "target": r["target"],
                "seed": r["seed"],
                "iterations": r["iteration"],
                "Acc": pm(r, "accuracy"),
                "EOD_M": pm(r, "eod_max"),
                "EOD_A": pm(r, "eod_mean"),
                "worst group": pm(r, "worst_group_accuracy"),
                "moved": f"{r['moved']:.3f}",
                "majority bg": f"{100 * r['majority_background']:.0f} %",
                "step size": "start" if r["synthetic_lr"] is None else f"{r['synthetic_lr']:.4g}",
                f"loss, last {TAIL}": "" if r["loss_tail"] is None else f"{r['loss_tail']:.3f}",
            }
            for r in rows
        ]
    )
    checks = []
    for r in rows:
        if "equals_benchmark_set" in r:
            same = "identical to" if r["equals_benchmark_set"] else "**not** identical to"
            checks.append(
                f"- {r['target']}, seed {r['seed']}: the {r['iteration']}-iteration set is {same} "
                "the one the benchmark cached"
                + (
                    ""
                    if "equals_benchmark_record" not in r
                    else (
                        "; its accuracy and EOD_M equal the benchmark record's"
                        if r["equals_benchmark_record"]
                        else "; its accuracy and EOD_M **differ from** the benchmark record's"
                    )
                )
                + "."
            )
    lines = [
        "# MTT past the CPU budget: vanilla and COBRA (Colored MNIST BG, IPC 10)",
        "",
        "; ".join(f"`{c}`" for c in meta["commands"]) + ". The"
        " `cafe-mtt` benchmark's MTT fits (CPU-sized: ConvNet width "
        "32, 10 student steps, 5 experts of 11 epochs per buffer; its own expert buffers), "
        "continued with `partial_fit` and scored at every stop by the benchmark's evaluator "
        f"(mean ± std over {meta['eval_runs']} ConvNets). *moved*: ||x − x0|| / ||x0|| from the "
        "random real start; *majority bg*: share of images whose border colour is nearest to "
        "their class's majority colour; *step size*: the learnt synthetic step size.",
        "",
        markdown_table(table.set_index("target"), "target"),
        "",
        *checks,
        "",
        "![EOD_M, EOD_A and accuracy against iterations](mtt_iterations.png)",
        "",
        f"Machine: {meta['machine']['processor']}; wall time {meta['seconds']:.0f} s "
        "(summed over the processes that wrote the rows).",
    ]
    return "\n".join(lines) + "\n"


def figure(rows, path):
    """EOD_M, EOD_A and accuracy against iterations, one line per target."""
    metrics = ("eod_max", "eod_mean", "accuracy")
    frame = pd.DataFrame(rows).rename(columns={m: f"{m}_mean" for m in metrics})
    frame["entry"] = [f"{t} (seed {s})" for t, s in zip(frame["target"], frame["seed"])]
    axes = plot_metric_curves(
        frame,
        x="iteration",
        xlabel="MTT iterations (0: the random real start)",
        title="MTT on Colored MNIST BG, IPC 10: vanilla vs COBRA past the CPU budget",
        metrics=metrics,
    )
    for ax in axes:
        ax.set_ylim(0, 105)
    axes[0].figure.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", nargs="+", default=["vanilla", "cobra"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stops", nargs="+", type=int, default=[0, 300, 600, 900, 1200])
    parser.add_argument(
        "--bench", type=Path, default=DEFAULT_OUT, help="the cafe-mtt benchmark's output folder"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument(
        "--report", action="store_true", help="only redraw the table and figure from the json"
    )
    args = parser.parse_args(argv)
    path = args.out / f"{NAME}.json"
    if args.report:
        saved = json.loads(path.read_text())
        figure(saved["rows"], args.out / f"{NAME}.png")
        (args.out / f"{NAME}.md").write_text(markdown(saved["rows"], saved["meta"]))
        return 0
    stops = sorted(set(args.stops))
    if stops[0] < 0:
        parser.error("--stops must be iteration counts (0: the start), e.g. --stops 0 300 600")
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    config = make_config("cafe-mtt")
    runner = Runner(config, args.bench, print)
    data = load_benchmark_dataset(DATASET)
    majority = majority_colours(data)
    rows = []
    for target in args.targets:
        rows += run_target(runner, config, data, target, args.seed, stops, majority, print)
    saved = json.loads(path.read_text()) if path.exists() else {"rows": [], "meta": {}}
    ran = {(r["target"], r["seed"]) for r in rows}
    rows = [r for r in saved["rows"] if (r["target"], r["seed"]) not in ran] + rows
    rows.sort(key=lambda r: (r["seed"], r["target"] != "vanilla", r["target"], r["iteration"]))
    meta = {
        "commands": [
            *saved["meta"].get("commands", []),
            "python benchmarks/mtt_iterations.py " + " ".join(argv or sys.argv[1:]),
        ],
        "machine": machine(runner.device),
        "eval_runs": int(config["eval_runs"]),
        "seconds": saved["meta"].get("seconds", 0.0) + time.perf_counter() - start,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    figure(rows, args.out / f"{NAME}.png")
    (args.out / f"{NAME}.md").write_text(markdown(rows, meta))
    print(markdown(rows, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
