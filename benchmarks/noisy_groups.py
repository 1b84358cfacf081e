"""COBRA with imperfect group labels on the embedded Colored MNIST (COBRA paper, Tables 15-16).

Rows: vanilla and COBRA with clean labels; COBRA after flipping a fraction rho of the group
labels to a wrong group (Appendix K); COBRA when only a fraction eta of the labels is known and
the rest are imputed by K-means pseudo-labels (Appendix L, ``missing_groups="impute"``).
Writes ``noisy_groups.json`` and ``noisy_groups.md`` into ``--out``.

Every row starts from random real images of the class (the distiller's default) and runs the
CPU-sized DM budget of ``skdistill benchmark`` on Colored MNIST (1,000 iterations, 64 real images
per class, DSA), each set scored as learnt by ``EVAL_RUNS`` ConvNets trained with DSA. The run
is resumable: finished rows are kept in ``noisy_groups.json`` (for the same settings) and a fit
that is interrupted resumes from its checkpoint in ``--out/noisy_groups_checkpoints/``.

    python benchmarks/noisy_groups.py            # the committed CPU run (11 fits, hours)
    python benchmarks/noisy_groups.py --smoke    # a seconds-long check that it runs
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from skdistill import BarycentricDistiller
from skdistill._device import resolve_device
from skdistill._persistence import write_text_atomic
from skdistill.benchmark import machine
from skdistill.benchmark.config import BUDGETS, EVAL_RUNS
from skdistill.datasets import load_colored_mnist
from skdistill.evaluation import evaluate_synthetic
from skdistill.groups import corrupt_groups, hide_groups

NOISE = (0.10, 0.15, 0.20, 0.50)
KNOWN = (0.75, 0.50, 0.25, 0.10, 0.05)
#: The harness's CPU-sized DM budget on Colored MNIST.
DM = BUDGETS[("cmnist", "dm")]


def run(args, path, settings, start, rows):
    """Every row's metrics, after ``rows`` (those of an earlier run with the same settings),
    written to ``path`` as each one finishes."""
    rows = list(rows)
    done = {(r["target"], r["labels"]) for r in rows}
    data = load_colored_mnist(args.variant, n_train=args.n_train, n_test=args.n_test)
    X, y, A = data.X_train, data.y_train, data.sensitive_features_train
    configs = [("vanilla", "clean", A, None), ("cobra", "clean", A, None)]
    for rho in NOISE:
        noisy, _ = corrupt_groups(A, rho, random_state=args.seed)
        configs.append(("cobra", f"noise {int(100 * rho)}%", noisy, None))
    for eta in KNOWN:
        partial, known = hide_groups(A, eta, random_state=args.seed)
        configs.append(("cobra", f"known {int(100 * eta)}%", partial, known))
    for target, labels, groups, known in configs:
        if (target, labels) in done:
            continue
        folder = (
            Path(args.out)
            / "noisy_groups_checkpoints"
            / f"{target}-{labels}".replace(" ", "-").replace("%", "")
        )
        distiller = BarycentricDistiller(
            target=target,
            ipc=args.ipc,
            n_iter=args.n_iter,
            batch_real=args.batch_real,
            missing_groups="impute" if known is not None else "error",
            net_width=args.net_width,
            random_state=args.seed,
            checkpoint_dir=folder,
            checkpoint_every=50,
        )
        resume = folder.exists() and any(folder.iterdir())
        distiller.fit(X, y, sensitive_features=groups, resume=resume)
        shutil.rmtree(folder, ignore_errors=True)
        seconds = distiller.fit_time_
        imputation = None
        if known is not None:
            # how many hidden labels the K-means pseudo-labels recovered
            info = distiller.group_imputation_
            imputed = distiller.groups_[info["codes"]][info["imputed"]]
            imputation = float(np.mean(imputed == A[info["imputed"]]))
        res = evaluate_synthetic(
            distiller.X_synthetic_,
            distiller.y_synthetic_,
            data.X_test,
            data.y_test,
            data.sensitive_features_test,
            n_runs=args.eval_runs,
            epochs=args.eval_epochs,
            augment=args.eval_augment,
            net_width=args.net_width,
            random_state=args.seed,
        )
        s = res.summary
        row = {
            "target": target,
            "labels": labels,
            "seconds": round(seconds, 1),
            "accuracy_mean": s[("accuracy", "mean")],
            "accuracy_std": s[("accuracy", "std")],
            "eod_max_mean": s[("eod_max", "mean")],
            "eod_max_std": s[("eod_max", "std")],
            "eod_mean_mean": s[("eod_mean", "mean")],
            "imputation_accuracy": imputation,
        }
        rows.append(row)
        state = {"settings": settings, "wall_seconds": time.perf_counter() - start, "rows": rows}
        write_text_atomic(path, json.dumps(state, indent=2) + "\n")
        print(
            f"{target:8s} {labels:10s} acc {100 * row['accuracy_mean']:5.1f}  "
            f"EOD_M {100 * row['eod_max_mean']:5.1f}"
            + (f"  imputed {100 * imputation:.1f}% right" if imputation is not None else ""),
            flush=True,
        )
    return rows


def fmt(row):
    """``accuracy (EOD_M)`` cell in points, with standard deviations when there are some."""
    acc = f"{100 * row['accuracy_mean']:.1f}"
    eod = f"{100 * row['eod_max_mean']:.1f}"
    if row["accuracy_std"] or row["eod_max_std"]:
        acc += f" ± {100 * row['accuracy_std']:.1f}"
        eod += f" ± {100 * row['eod_max_std']:.1f}"
    return acc, eod


def markdown(rows, meta):
    """Tables 15 and 16 of the COBRA paper, in their layout (accuracy and EOD_M in points)."""
    by = {(r["target"], r["labels"]): r for r in rows}
    lines = [f"# COBRA with imperfect group labels: Colored MNIST ({meta['variant'].upper()})", ""]
    lines += [
        f"Command: `{meta['command']}`  ",
        f"Machine: {meta['machine']['processor']}, "
        f"{meta['machine']['cpu_count']} cores, {meta['machine']['device']}, torch "
        f"{meta['machine']['torch']}  ",
        f"Wall time: {meta['wall_seconds']:.0f} s  ",
        f"Settings: {meta['settings']}",
        "",
    ]
    for title, labels in (
        ("Noisy group labels (Table 15 layout)", [f"noise {int(100 * r)}%" for r in NOISE]),
        (
            "Partially known group labels, K-means imputation (Table 16 layout)",
            [f"known {int(100 * e)}%" for e in KNOWN],
        ),
    ):
        cols = [("vanilla", "clean"), ("cobra", "clean")] + [("cobra", lab) for lab in labels]
        header = ["metric"] + [
            ("Vanilla" if t == "vanilla" else "COBRA") + f" {lab}" for t, lab in cols
        ]
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        cells = [fmt(by[c]) for c in cols]
        lines.append("| Acc | " + " | ".join(c[0] for c in cells) + " |")
        lines.append("| EOD_M | " + " | ".join(c[1] for c in cells) + " |")
        if "known" in labels[0]:
            imp = [by[c]["imputation_accuracy"] for c in cols]
            lines.append(
                "| hidden labels imputed correctly | "
                + " | ".join("-" if v is None else f"{100 * v:.1f}%" for v in imp)
                + " |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv=None):
    """Run the benchmark and write its JSON and markdown results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="bg", choices=["bg", "fg"])
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--ipc", type=int, default=10)
    parser.add_argument("--n-iter", type=int, default=DM["n_iter"])
    parser.add_argument("--batch-real", type=int, default=DM["batch_real"])
    parser.add_argument("--net-width", type=int, default=None)
    parser.add_argument("--eval-runs", type=int, default=EVAL_RUNS)
    parser.add_argument("--eval-epochs", type=int, default=DM["eval_epochs"])
    parser.add_argument("--eval-augment", default=DM["eval_augment"], choices=["dsa", "none"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--smoke", action="store_true", help="tiny settings, to check it runs")
    args = parser.parse_args(argv)
    if args.smoke:
        args.n_train, args.n_test, args.n_iter, args.eval_epochs = 600, 50, 2, 1
        args.net_width, args.eval_runs = 8, 1
    if args.eval_augment == "none":
        args.eval_augment = None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "noisy_groups_smoke" if args.smoke else "noisy_groups"
    path = out / f"{name}.json"
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "smoke")}
    saved = json.loads(path.read_text()) if path.exists() else {}
    if saved.get("settings") != settings:  # another configuration's rows: start afresh
        saved = {}
    start = time.perf_counter() - saved.get("wall_seconds", 0.0)
    rows = run(args, path, settings, start, saved.get("rows", []))
    meta = {
        "variant": args.variant,
        "command": "python benchmarks/noisy_groups.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine(resolve_device("auto")),  # the device of the fits
        "wall_seconds": time.perf_counter() - start,
        "settings": ", ".join(f"{k}={v}" for k, v in settings.items()),
    }
    state = {"settings": settings, "wall_seconds": meta["wall_seconds"], "meta": meta, "rows": rows}
    write_text_atomic(path, json.dumps(state, indent=2) + "\n")
    (out / f"{name}.md").write_text(markdown(rows, meta))
    print(f"wrote {out / name}.json and .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
