"""What fairness costs: time and memory per iteration of each target, as the group count grows.

For method in {dm, dc, cafe, mtt} x target in {vanilla, uniform, fairdd, cobra} x G groups,
the distiller runs on random tensors. A dc or cafe iteration here is one matching step
(``DC(outer_loop=1, inner_loop=0)``, ``CAFE(outer_loop=1, inner_loop=0)``): the training of
the network between steps does not depend on the target. An mtt iteration is one student
unroll of the CPU benchmark's ``syn_steps`` (10) and ``expert_epochs`` (2) per trajectory
(FairDD unrolls once per group); its expert buffers (one expert per buffer, just long enough
to start at epoch 0 or 1) are trained once per G into a temporary folder before the timing,
so neither the timing nor the memory runs include them; MTT's images learn at rate 1 instead
of its 1000 (at 1000 some targets' fits on random tensors became non-finite within 20
iterations; an iteration's arithmetic does not depend on the rate).

Time: one process per (method, G) builds the targets' distillers on the same data and advances
them **interleaved, iteration by iteration** (the order of the targets rotates every
iteration), so that drifts of the machine — other processes, clock changes — fall on all
targets alike; the first ``--warmup`` iterations of each are dropped. Ratios to vanilla are
ratios of medians taken in that process.

Memory: every (method, G, target) runs alone in a fresh process: on CUDA,
``torch.cuda.max_memory_allocated`` during ``fit``; on the CPU, the growth of the process's
peak resident set during ``fit`` (``ru_maxrss`` after minus before), with glibc told to
return large blocks to the system at once (``MALLOC_MMAP_THRESHOLD_``) so that the peak
follows the live tensors rather than the allocator's caching.

``--targets`` chooses the targets (vanilla always among them: the ratios are to it), e.g. the
distribution-level targets beside COBRA-mean: ``--methods dm cafe --targets vanilla cobra
wasserstein mmd`` (Wasserstein needs POT).

Shapes: ``paper`` is the COBRA paper's (3x32x32 images, 10 classes, IPC 10, 256 real samples
per class, ConvNet width 128 / depth 3); ``cpu`` is smaller (16x16 images, width 32, 64 real
per class) for quick runs on a laptop. Writes ``overhead_<shape>_<device>.json`` and ``.md``
into ``--out``.

    python benchmarks/overhead.py --shape cpu               # about 10 minutes on 2 cores
    python benchmarks/overhead.py --shape paper --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from skdistill.benchmark import machine
from skdistill.callbacks import Callback
from skdistill.targets import TARGETS as TARGET_REGISTRY

SHAPES = {
    "paper": dict(image=32, width=128, depth=3, batch_real=256, per_class=512),
    "cpu": dict(image=16, width=32, depth=3, batch_real=64, per_class=128),
}
TARGETS = ("vanilla", "uniform", "fairdd", "cobra")
GROUPS = (1, 2, 4, 6, 8, 10)
#: glibc: serve blocks of 64 KiB and more with mmap, returned to the system when freed.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}


def problem(config, target, n_iter):
    """Random data of the configuration's shape and a distiller for ``target``."""
    import torch

    from skdistill import BarycentricDistiller

    shape = SHAPES[config["shape"]]
    n_classes, g = 10, config["groups"]
    n = n_classes * shape["per_class"]
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(n, 3, shape["image"], shape["image"], generator=gen)
    y = np.repeat(np.arange(n_classes), shape["per_class"])
    groups = np.arange(n) % g  # every group present in every class, with room for its share
    method = method_object(config)
    distiller = BarycentricDistiller(
        method=method,
        target=target,
        ipc=10,
        n_iter=n_iter,
        batch_real=shape["batch_real"],
        net_width=shape["width"],
        net_depth=shape["depth"],
        device=config["device"],
        random_state=0,
        # MTT's image rate (1000) makes some targets' fits on random tensors non-finite within
        # 20 iterations; the arithmetic of an iteration does not depend on the rate
        lr=1.0 if config["method"] == "mtt" else None,
    )
    return distiller, X, y, groups


def method_object(config):
    """The method of ``config``: one matching step per iteration for dc and cafe."""
    from skdistill.methods import CAFE, DC, MTT

    if config["method"] == "dc":
        return DC(outer_loop=1, inner_loop=0)
    if config["method"] == "cafe":
        return CAFE(outer_loop=1, inner_loop=0)
    if config["method"] == "mtt":
        # the CPU benchmark's unroll; buffers as short as a start at epoch 0 or 1 allows
        return MTT(
            syn_steps=10,
            expert_epochs=2,
            max_start_epoch=2,
            n_experts=1,
            expert_epoch_length="all",
            expert_dir=config["expert_dir"],
        )
    return config["method"]


def train_mtt_experts(config):
    """Fit every target once (one iteration) so that the folder holds all its buffers."""
    for target in config["targets"]:
        distiller, X, y, groups = problem(config, target, 1)
        distiller.fit(X, y, sensitive_features=groups)


class IterationTimer(Callback):
    """Seconds of every iteration, the device synchronised around each (with ``cuda``)."""

    def __init__(self, cuda=False):
        self.cuda = cuda

    def _now(self):
        if self.cuda:
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()

    def on_fit_begin(self, engine):
        self.seconds_ = getattr(self, "seconds_", [])
        self._tic = self._now()

    def on_iteration_end(self, engine):
        toc = self._now()
        self.seconds_.append(toc - self._tic)
        self._tic = toc


class PeakAfterFirstIteration(Callback):
    """After the first iteration: record the setup's peak memory, then reset the peak."""

    def __init__(self, cuda=False):
        self.cuda = cuda

    def on_iteration_end(self, engine):
        if engine.iteration != 1:
            return
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            self.setup_, self.start_ = (
                torch.cuda.max_memory_allocated(),
                torch.cuda.memory_allocated(),
            )
            torch.cuda.reset_peak_memory_stats()
            return
        self.setup_ = _proc_status_bytes("VmHWM")
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark
            self.start_ = _proc_status_bytes("VmRSS")
        except OSError:
            self.start_ = None


def time_worker(config):
    """Advance the targets' fits interleaved; print each one's iteration times as JSON.

    Each fit advances by ``partial_fit(n_iter=1)``; a callback times the iteration itself
    (``partial_fit``'s preparation of the data falls outside it).
    """
    n_iter = config["warmup"] + config["iterations"]
    cuda = config["device"].startswith("cuda")
    fits, targets = {}, config["targets"]
    for target in targets:
        distiller, X, y, groups = problem(config, target, n_iter)
        timer = IterationTimer(cuda)
        fits[target] = (distiller.set_params(callbacks=[timer]), X, y, groups, timer)
    for it in range(n_iter):
        shift = it % len(targets)
        for target in targets[shift:] + targets[:shift]:
            distiller, X, y, groups, _ = fits[target]
            distiller.partial_fit(X, y, sensitive_features=groups, n_iter=1)
    seconds = {t: fit[-1].seconds_[config["warmup"] :] for t, fit in fits.items()}
    print(json.dumps({"seconds": seconds}))


def _proc_status_bytes(key):
    """A ``VmRSS``/``VmHWM`` line of ``/proc/self/status``, in bytes (None off Linux)."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return None


def memory_worker(config):
    """Fit one target alone; print the peak memory of the fit and of its iterations as JSON.

    ``memory_bytes``: peak growth over the whole fit (data preparation included);
    ``iteration_bytes``: peak during the iterations after the first, over the memory held when
    they start -- what a target's arithmetic adds (CPU: the kernel's resident-set high-water
    mark, reset through ``/proc/self/clear_refs``; CUDA: ``max_memory_allocated``).
    """
    import torch

    cuda = config["device"].startswith("cuda")
    peaks = PeakAfterFirstIteration(cuda)
    n_iter = config["memory_iterations"] + 1
    distiller, X, y, groups = problem(config, config["target"], n_iter)
    distiller.set_params(callbacks=[peaks])
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    before = (
        _proc_status_bytes("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    distiller.fit(X, y, sensitive_features=groups)
    iteration = None
    if cuda:
        torch.cuda.synchronize()
        memory = max(peaks.setup_, torch.cuda.max_memory_allocated())
        iteration = torch.cuda.max_memory_allocated() - peaks.start_
    else:
        peak = _proc_status_bytes("VmHWM")
        if peaks.setup_ is None or peak is None:  # not Linux: whole-fit peak only
            memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
        else:
            memory = max(peaks.setup_, peak) - before
            iteration = None if peaks.start_ is None else peak - peaks.start_
    print(json.dumps({"memory_bytes": int(memory), "iteration_bytes": iteration}))


def measure(kind, config):
    """Run a worker in a fresh process and return its JSON result."""
    out = subprocess.run(
        [sys.executable, __file__, f"--{kind}-worker", json.dumps(config)],
        check=True,
        capture_output=True,
        text=True,
        # the allocator setting only for memory: mmap-ing every block slows the timed runs
        env={**os.environ, **MALLOC_ENV} if kind == "memory" else None,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarise(records):
    """Mean/std per configuration and ratios to vanilla at the same method and G."""
    rows = {}
    for rec in records:
        key = (rec["method"], rec["groups"], rec["target"])
        row = rows.setdefault(key, {"seconds": [], "memory": [], "iteration": []})
        row["seconds"] += rec["seconds"]
        row["memory"].append(rec["memory_bytes"])
        if rec.get("iteration_bytes") is not None:
            row["iteration"].append(rec["iteration_bytes"])
    table = []
    for (method, g, target), row in sorted(rows.items()):
        base = rows[(method, g, "vanilla")]
        cobra = rows.get((method, g, "cobra"))
        mean = float(np.mean(row["seconds"]))
        median = float(np.median(row["seconds"]))
        mem = float(np.max(row["memory"]))
        table.append(
            {
                "method": method,
                "groups": g,
                "target": target,
                "ms_mean": 1000 * mean,
                "ms_std": 1000 * float(np.std(row["seconds"])),
                "ms_median": 1000 * median,
                # medians: robust to the occasional slow iteration (garbage collection, the OS)
                "time_ratio": median / float(np.median(base["seconds"])),
                "cobra_ratio": median / float(np.median(cobra["seconds"])) if cobra else None,
                "memory_mb": mem / 2**20,
                "memory_ratio": mem / max(float(np.max(base["memory"])), 1.0),
                **_iteration_memory(row, base),
                "n_iterations": len(row["seconds"]),
            }
        )
    return table


def _iteration_memory(row, base):
    """Peak memory of the iterations after the first, and its ratio to vanilla's, if measured."""
    if not row["iteration"] or not base["iteration"]:
        return {}
    peak = float(np.max(row["iteration"]))
    return {
        "iteration_mb": peak / 2**20,
        "iteration_ratio": peak / max(float(np.max(base["iteration"])), 1.0),
    }


def _grid(table, fmt, targets):
    """The header, then one line per (method, target) with a cell per G (``fmt(record)``)."""
    groups = sorted({r["groups"] for r in table})
    cell = {(r["method"], r["target"], r["groups"]): r for r in table}
    lines = [
        "| method | target | " + " | ".join(f"G={g}" for g in groups) + " |",
        "|---|---|" + "---|" * len(groups),
    ]
    for method in sorted({r["method"] for r in table}):
        for target in targets:
            cells = [
                "-" if (r := cell.get((method, target, g))) is None else fmt(r) for g in groups
            ]
            lines.append(f"| {method.upper()} | {target} | " + " | ".join(cells) + " |")
    return lines


def markdown(table, meta):
    """Rows: method x target; columns: G, cells ``ms (ratio)``; then the memory table."""
    lines = [
        f"Time per iteration, ms (ratio to vanilla), shape `{meta['shape']}` on "
        f"{meta['machine'].get('gpu', meta['machine']['processor'])} "
        f"({meta['machine']['device']}, {meta['machine']['torch_threads']} torch threads); "
        f"{meta['iterations']} timed iterations x {meta['rounds']} round(s) after "
        f"{meta['warmup']} warm-up iterations, the targets of a (method, G) interleaved "
        "iteration by iteration in one process. Cells: mean ± std; the ratio is of medians, "
        "taken in the same process.",
        "",
    ]
    methods, targets = sorted({r["method"] for r in table}), meta["targets"]
    lines += _grid(
        table,
        lambda r: f"{r['ms_mean']:.1f} ± {r['ms_std']:.1f} ({r['time_ratio']:.2f}x)",
        targets,
    )
    beyond = [t for t in targets if t not in TARGETS]
    if beyond and "cobra" in targets:
        lines += ["", "Time per iteration over COBRA-mean's (ratio of medians, same process)", ""]
        lines += _grid(table, lambda r: f"{r['cobra_ratio']:.2f}x", beyond)
    memory_kind = (
        "peak allocated"
        if meta["machine"]["device"].startswith("cuda")
        else "growth of peak RSS during fit"
    )
    lines += [
        "",
        f"Memory of the fit, MB ({memory_kind}, data preparation included; each target alone "
        "in a fresh process, "
        f"1 + {meta['memory_iterations']} iterations; ratio to vanilla)",
        "",
    ]
    lines += _grid(table, lambda r: f"{r['memory_mb']:.0f} ({r['memory_ratio']:.2f}x)", targets)
    if all("iteration_mb" in r for r in table):
        lines += [
            "",
            "Memory of the iterations, MB (peak during the iterations after the first, over the "
            "memory held when they start: what the target's arithmetic adds; ratio to vanilla)",
            "",
        ]
        lines += _grid(
            table, lambda r: f"{r['iteration_mb']:.1f} ({r['iteration_ratio']:.2f}x)", targets
        )
    worst = {
        (m, t): max(r["time_ratio"] for r in table if r["method"] == m and r["target"] == t)
        for m in methods
        for t in targets
        if t != "vanilla"
    }
    lines += [
        "",
        "Worst time ratio over G: "
        + ", ".join(f"{m.upper()}-{t} {v:.2f}x" for (m, t), v in worst.items())
        + ".",
        "",
        f"Command: `{meta['command']}`; wall time {meta['wall_seconds']:.0f} s.",
    ]
    return "\n".join(lines) + "\n"


def run_cell(args, method, g):
    """The records of one (method, G): interleaved timing rounds, then each target's memory."""
    config = dict(
        method=method,
        groups=g,
        shape=args.shape,
        device=args.device,
        warmup=args.warmup,
        iterations=args.iterations,
        memory_iterations=args.memory_iterations,
        targets=args.targets,
    )
    with tempfile.TemporaryDirectory(prefix="overhead-experts-") as experts:
        worker = config  # what the workers get: MTT's also name its expert folder
        if method == "mtt":
            worker = dict(config, expert_dir=experts)
            measure("experts", worker)
        seconds = {t: [] for t in args.targets}
        for _ in range(args.rounds):
            for target, values in measure("time", worker)["seconds"].items():
                seconds[target] += values
        records = []
        for target in args.targets:
            mem = measure("memory", {**worker, "target": target})
            memory = mem["memory_bytes"]
            records.append(
                {
                    **config,
                    "target": target,
                    "seconds": seconds[target],
                    "memory_bytes": memory,
                    "iteration_bytes": mem.get("iteration_bytes"),
                }
            )
            print(
                f"[overhead] {method} G={g:2d} {target:8s} "
                f"{1000 * np.median(seconds[target]):8.1f} ms/it (median), "
                f"{memory / 2**20:6.0f} MB",
                flush=True,
            )
    return records


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-worker", help=argparse.SUPPRESS)
    parser.add_argument("--memory-worker", help=argparse.SUPPRESS)
    parser.add_argument("--experts-worker", help=argparse.SUPPRESS)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="cpu")
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--methods", nargs="+", default=["dm", "dc"], choices=["dm", "dc", "cafe", "mtt"]
    )
    parser.add_argument("--groups", nargs="+", type=int, default=list(GROUPS))
    parser.add_argument(
        "--targets",
        nargs="+",
        default=list(TARGETS),
        choices=sorted(TARGET_REGISTRY),
        help="targets to time (vanilla always among them: ratios are to it)",
    )
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=20, help="timed iterations per target")
    parser.add_argument("--rounds", type=int, default=1, help="timing processes per (method, G)")
    parser.add_argument(
        "--memory-iterations",
        type=int,
        default=3,
        help="iterations of each memory run after the first",
    )
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    if "vanilla" not in args.targets:
        parser.error("--targets must include vanilla: every ratio is to vanilla's time")
    if args.time_worker:
        time_worker(json.loads(args.time_worker))
        return 0
    if args.memory_worker:
        memory_worker(json.loads(args.memory_worker))
        return 0
    if args.experts_worker:
        train_mtt_experts(json.loads(args.experts_worker))
        print(json.dumps({}))
        return 0
    start = time.perf_counter()
    records = [r for method in args.methods for g in args.groups for r in run_cell(args, method, g)]
    table = summarise(records)
    meta = {
        "shape": args.shape,
        "shape_settings": SHAPES[args.shape],
        "machine": machine(args.device),  # the same description as `skdistill benchmark`
        "warmup": args.warmup,
        "iterations": args.iterations,
        "rounds": args.rounds,
        "targets": args.targets,
        "memory_iterations": args.memory_iterations,
        "command": "python benchmarks/overhead.py " + " ".join(argv or sys.argv[1:]),
        "wall_seconds": time.perf_counter() - start,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"overhead_{args.shape}_{'cuda' if args.device.startswith('cuda') else 'cpu'}"
    if sorted(args.methods) != ["dc", "dm"]:
        stem += "_" + "_".join(args.methods)
    if set(args.targets) != set(TARGETS):
        stem += "_" + "_".join(t for t in args.targets if t != "vanilla")
    (out / f"{stem}.json").write_text(
        json.dumps({"meta": meta, "table": table, "runs": records}, indent=1)
    )
    (out / f"{stem}.md").write_text(markdown(table, meta))
    print(markdown(table, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
