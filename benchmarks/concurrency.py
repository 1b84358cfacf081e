"""Two fits at once: the slowdown of each against one fit alone, by thread setting.

Each fit is its own process: DM on Colored Digits (background, 8x8 RGB), COBRA, IPC 10, 64 real
images per class, default ConvNet, ``--iterations`` iterations. Workers import first and start
their fits at one agreed moment, so that concurrent fits overlap from their first iteration;
each reports the wall time of its ``fit`` alone (imports excluded). Settings compared:

- ``all cores`` (``n_threads=-1``): what every fit did before ``n_threads`` existed (torch's
  default, one thread per core);
- ``default`` (``n_threads=None``): half the cores.

The ratio is a concurrent fit's wall time over the same setting's fit alone, all measured in
one run of this script; ``--repeats`` runs each measurement that many times (medians).

    python benchmarks/concurrency.py                   # writes results/concurrency.{json,md}
    python benchmarks/concurrency.py --iterations 5 --repeats 1 --out conc-smoke   # seconds
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_OUT = Path(__file__).parent / "results"
SETTINGS = {"all cores (n_threads=-1)": -1, "default (n_threads=None)": None}


def worker(n_threads, n_iter, start_at):
    from skdistill import BarycentricDistiller
    from skdistill.datasets import load_colored_digits

    data = load_colored_digits("bg")
    distiller = BarycentricDistiller(
        target="cobra", ipc=10, n_iter=n_iter, batch_real=64, random_state=0, n_threads=n_threads
    )
    time.sleep(max(0.0, start_at - time.time()))
    start = time.perf_counter()
    distiller.fit(data.X_train, data.y_train, sensitive_features=data.sensitive_features_train)
    print(json.dumps({"seconds": time.perf_counter() - start}))


def run_together(n_procs, n_threads, n_iter):
    """Start ``n_procs`` workers whose fits begin at the same moment; their fit times."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    start_at = time.time() + 20.0  # time for every worker to import torch
    cmd = [sys.executable, __file__, "--worker", "--iterations", str(n_iter)]
    cmd += [
        "--start-at",
        repr(start_at),
        "--n-threads",
        "none" if n_threads is None else str(n_threads),
    ]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) for _ in range(n_procs)
    ]
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise RuntimeError(f"a worker failed: {outs}")
    return [json.loads(o.strip().splitlines()[-1])["seconds"] for o in outs]


def measure(iterations, repeats):
    """One row per thread setting: fit times alone and two at once (medians of repeats)."""
    from skdistill._resources import resolve_threads

    rows = []
    for label, n_threads in SETTINGS.items():
        alone = [run_together(1, n_threads, iterations)[0] for _ in range(repeats)]
        pairs = [run_together(2, n_threads, iterations) for _ in range(repeats)]
        together = [s for pair in pairs for s in pair]
        row = {
            "setting": label,
            "threads_per_fit": resolve_threads(n_threads),
            "alone_s": float(np.median(alone)),
            "concurrent_s": float(np.median(together)),
            "alone_runs": alone,
            "concurrent_runs": together,
        }
        row["ratio"] = row["concurrent_s"] / row["alone_s"]
        rows.append(row)
        print(
            f"{label}: alone {row['alone_s']:.1f} s, two at once {row['concurrent_s']:.1f} s each "
            f"(x{row['ratio']:.2f})",
            flush=True,
        )
    return rows


def markdown(record):
    """The table of ``concurrency.md``."""
    rows, base = record["rows"], record["rows"][0]["alone_s"]
    lines = [
        "# Two fits at once (CPU)",
        "",
        f"DM on Colored Digits BG, COBRA, IPC 10, {record['iterations']} iterations per fit, "
        f"each fit its own process; {record['cores']} cores, torch "
        f"{record['machine']['torch']}. Medians of {record['repeats']} run(s). Made with "
        "`python benchmarks/concurrency.py`.",
        "",
        "| threads setting | threads per fit | one fit alone (s) | each of two at once (s) | "
        "slowdown (two at once / alone) | two at once / one alone with all cores |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['setting']} | {r['threads_per_fit']} | {r['alone_s']:.1f} | "
            f"{r['concurrent_s']:.1f} | {r['ratio']:.2f} | {r['concurrent_s'] / base:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--start-at", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--n-threads", default="none", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(
            None if args.n_threads == "none" else int(args.n_threads),
            args.iterations,
            args.start_at,
        )

    from skdistill._resources import available_cores
    from skdistill.benchmark import machine

    record = {
        "iterations": args.iterations,
        "repeats": args.repeats,
        "cores": available_cores(),
        "machine": machine("cpu"),
        "rows": measure(args.iterations, args.repeats),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "concurrency.json").write_text(json.dumps(record, indent=1))
    text = markdown(record)
    (args.out / "concurrency.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
