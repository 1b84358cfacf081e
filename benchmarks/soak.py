"""Long runs: resident memory of a fit over 5,000 DM and 500 DC iterations.

CPU-sized shape: Colored Digits (background, 8x8 RGB, 1,257 training images, 5 colours), COBRA,
IPC 10, 64 real images per class per iteration; DM with the package defaults (ConvNet-3 width
128), DC with 5 outer steps and 5 inner epochs per iteration and width-32 networks
(:data:`SHAPES`). The fit runs alone in its own process, with the default thread count; the
resident set size (RSS, from psutil) is read when the iterations begin and after every 100th
iteration. The verdict: after the warm-up (the first 10 % of the iterations), RSS stays within
5 % of its post-warm-up minimum.

    pip install psutil
    python benchmarks/soak.py --method dm          # 5,000 iterations
    python benchmarks/soak.py --method dc          # 500 iterations
    python benchmarks/soak.py --report             # soak.md and soak.png from the JSON files
    python benchmarks/soak.py --method dm --iterations 200 --out soak-smoke   # a quick look

Memory is read between iterations by a callback (``callbacks=``); the first point is taken
when the fit's iterations begin, after the data are encoded.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import psutil
import torch

from skdistill import BarycentricDistiller
from skdistill.benchmark import machine
from skdistill.callbacks import Callback
from skdistill.datasets import load_colored_digits
from skdistill.methods import DC

DEFAULT_OUT = Path(__file__).parent / "results" / "soak"
ITERATIONS = {"dm": 5000, "dc": 500}
EVERY = 100
TOLERANCE = 0.05


#: DC's reference loops at IPC 10 (10 outer steps, 50 inner epochs) take about 10 s an
#: iteration on 2 cores: the soak's DC runs a CPU shape of 5 x 5 loops and width-32 networks.
SHAPES = {"dm": {}, "dc": dict(method=DC(outer_loop=5, inner_loop=5), net_width=32)}


class ResidentMemory(Callback):
    """Every ``every`` iterations, the process's resident memory and the elapsed time."""

    def __init__(self, method="dm", every=EVERY):
        self.method = method
        self.every = every

    def on_fit_begin(self, engine):
        self.n_threads_ = torch.get_num_threads()
        self.process_ = psutil.Process()
        self.points_ = [{"iteration": 0, "rss_mib": self._rss(), "seconds": 0.0}]
        self._start = time.perf_counter()

    def _rss(self):
        return self.process_.memory_info().rss / 2**20

    def on_iteration_end(self, engine):
        if engine.iteration % self.every:
            return
        rss = self._rss()
        seconds = time.perf_counter() - self._start
        self.points_.append({"iteration": engine.iteration, "rss_mib": rss, "seconds": seconds})
        print(f"{self.method} it {engine.iteration:5d}: RSS {rss:7.1f} MiB", flush=True)


def soak(method, n_iter, every=EVERY):
    data = load_colored_digits("bg")
    probe = ResidentMemory(method, every)
    BarycentricDistiller(
        **{"method": method, **SHAPES[method]},
        target="cobra",
        ipc=10,
        n_iter=n_iter,
        batch_real=64,
        random_state=0,
        callbacks=[probe],
    ).fit(data.X_train, data.y_train, sensitive_features=data.sensitive_features_train)
    return probe


def verdict(points, n_iter):
    """Post-warm-up spread of RSS relative to its minimum, and whether it is within 5 %."""
    after = [p["rss_mib"] for p in points if p["iteration"] > 0.1 * n_iter]
    low, high = min(after), max(after)
    spread = (high - low) / low
    return {
        "warmup_iterations": int(0.1 * n_iter),
        "rss_min_mib": low,
        "rss_max_mib": high,
        "spread": spread,
        "flat": spread <= TOLERANCE,
    }


def describe(run):
    info = run["machine"]
    return f"{info['cpu_count']} CPUs, fit on {run['n_threads']} thread(s), torch {info['torch']}"


def report(out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [json.loads(p.read_text()) for p in sorted(out.glob("soak_*.json"))]
    if not runs:
        raise SystemExit(f"no soak_*.json in {out}")
    lines = [
        "# Soak: resident memory over long fits (CPU-sized)",
        "",
        "Colored Digits BG, COBRA, IPC 10, 64 real images per class, default thread count; DM "
        "with the default networks, DC with 5 x 5 loops and width-32 networks; RSS read every "
        "100 iterations. Made with `python benchmarks/soak.py --method "
        "dm` and `--method dc`, then `--report`.",
        "",
        "| method | iterations | wall (s) | RSS before fit (MiB) | RSS after warm-up, "
        "min-max (MiB) | spread | flat within 5 % | machine |",
        "|---|---|---|---|---|---|---|---|",
    ]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for run in runs:
        v, pts = run["verdict"], run["points"]
        lines.append(
            f"| {run['method']} | {run['n_iter']} | {pts[-1]['seconds']:.0f} | "
            f"{pts[0]['rss_mib']:.0f} | {v['rss_min_mib']:.1f}-{v['rss_max_mib']:.1f} | "
            f"{100 * v['spread']:.2f} % | {'yes' if v['flat'] else 'NO'} | {describe(run)} |"
        )
        x = np.array([p["iteration"] for p in pts]) / run["n_iter"]
        ax.plot(
            x,
            [p["rss_mib"] for p in pts],
            marker=".",
            label=f"{run['method']} ({run['n_iter']} it)",
        )
    ax.axvline(0.1, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("fraction of the run (warm-up: left of the dotted line)")
    ax.set_ylabel("resident memory (MiB)")
    ax.set_title("skdistill fit: resident memory over a long run (CPU-sized)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "soak.png", dpi=120)
    (out / "soak.md").write_text("\n".join(lines) + "\n\n![RSS over the run](soak.png)\n")
    print("\n".join(lines))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", choices=sorted(ITERATIONS))
    parser.add_argument("--iterations", type=int, default=None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--report", action="store_true")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report:
        return report(args.out)
    if args.method is None:
        parser.error("give --method dm or --method dc (or --report)")
    n_iter = args.iterations or ITERATIONS[args.method]
    probe = soak(args.method, n_iter)
    points = probe.points_
    record = {
        "method": args.method,
        "n_iter": n_iter,
        "every": EVERY,
        "machine": machine("cpu"),
        "n_threads": probe.n_threads_,
        "points": points,
        "verdict": verdict(points, n_iter),
    }
    (args.out / f"soak_{args.method}.json").write_text(json.dumps(record, indent=1))
    print(record["verdict"])


if __name__ == "__main__":
    main()
