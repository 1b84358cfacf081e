"""Data-parallel fits and data beyond RAM: equality, memory, streaming throughput, scaling.

Four measurements, each fit in fresh processes launched with ``torchrun --standalone`` (gloo
on the CPU, nccl with ``--device cuda``), one torch thread per process:

(a) **equality** — for DM and DC under vanilla, FairDD and COBRA, the synthetic set of a
    2-process fit on a memory-mapped ``.npy`` against the 1-process in-memory fit (max abs
    difference, same seed, same global batches);
(b) **memory** — the data on disk are 4x one rank's budget (``budget = data bytes / 4``);
    peak resident set (``ru_maxrss``) of every rank of a 2-process fit on the memory map,
    and its growth during the fit, beside one process holding the data in memory;
(c) **streaming** — iterations per second of one process reading tar shards
    (:func:`skdistill.datasets.write_shards`) against the same fit on an in-memory array;
(d) **scaling** — median seconds per iteration with 1 and 2 processes, DM at a shape where
    the real pass dominates (many real samples per class, IPC 1).

Shapes: ``cpu`` (16x16x3 images, ConvNet width 32) for this machine, ``cifar`` (3x32x32,
width 128, 256 real per class) for a GPU; ``--smoke`` runs every step at a tiny shape in
seconds and writes into a temporary folder unless ``--out`` is given. Writes
``distributed_<shape>.json`` and ``.md`` with the machine.

    python benchmarks/distributed.py --smoke
    python benchmarks/distributed.py --shape cpu --out benchmarks/results/distributed
    python benchmarks/distributed.py --shape cifar --device cuda --out results/distributed
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

#: ``memory_per_class``: images per class of the memory measurement, enough that one rank's
#: budget (a quarter of the data: 586 MiB of uint8 at the cpu shape) stands well above the
#: fixed memory of a process (torch, the process group, the network).
SHAPES = {
    "smoke": dict(
        image=8,
        width=4,
        depth=2,
        classes=2,
        per_class=48,
        batch_real=16,
        n_iter=2,
        memory_per_class=48,
    ),
    "cpu": dict(
        image=16,
        width=32,
        depth=3,
        classes=10,
        per_class=600,
        batch_real=64,
        n_iter=20,
        memory_per_class=80_000,
    ),
    "cifar": dict(
        image=32,
        width=128,
        depth=3,
        classes=10,
        per_class=5000,
        batch_real=256,
        n_iter=20,
        memory_per_class=20_000,
    ),
}
TARGETS = ("vanilla", "fairdd", "cobra")
#: The equality cases of ``--smoke`` (every step runs, in about 4 minutes on one core).
SMOKE_PAIRS = (("dm", "cobra"), ("dc", "fairdd"))
#: The scaling run: the real pass dominates (batch_real times this, IPC 1).
SCALING_BATCH_FACTOR = 8


# ---------------------------------------------------------------------------- one rank
def worker(job_path, report_path):
    """One process of a measured fit (under torchrun or alone); writes its report as JSON."""
    import torch

    from skdistill import BarycentricDistiller
    from skdistill._distributed import process_group
    from skdistill._job import join_process_group, load_job_data

    job = json.loads(Path(job_path).read_text())
    torch.set_num_threads(1)
    joined = join_process_group(job.get("backend"))
    start_rss, anon = _peak_rss(), AnonymousMemory()
    try:
        X, y, groups = load_job_data(job)
        if job["in_memory"]:
            X = np.array(X)  # read the memory map whole
        method = job["method"]
        if method == "dc":
            from skdistill.methods import DC

            method = DC(outer_loop=1, inner_loop=0)
        params = {**job["params"], "method": method}
        distiller = BarycentricDistiller(**params).fit(X, y, sensitive_features=groups)
        rank, world = process_group() or (0, 1)
        seconds = np.diff(distiller.history_["seconds"].to_numpy())
        report = dict(
            rank=rank,
            world=world,
            rss_start_bytes=start_rss,
            rss_peak_bytes=_peak_rss(),
            seconds_per_iteration=float(np.median(seconds)) if seconds.size else None,
            anon_start_bytes=anon.start,
            anon_peak_bytes=anon.stop(),
            lr=distiller._engine_state["optimizer"]["param_groups"][0]["lr"],
        )
        if rank == 0:
            np.save(Path(report_path).with_suffix(".npy"), np.asarray(distiller.X_synthetic_))
        Path(report_path).with_name(f"{Path(report_path).stem}-rank{rank}.json").write_text(
            json.dumps(report)
        )
    finally:
        if joined:
            torch.distributed.destroy_process_group()


class AnonymousMemory:
    """Peak anonymous resident memory (``RssAnon``: the process's own pages, not the page
    cache of a memory-mapped file), sampled every 5 ms by a thread until :meth:`stop`."""

    def __init__(self):
        self.start = self.peak = _rss_anon()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self):
        while not self._done.wait(0.005):
            self.peak = max(self.peak, _rss_anon())

    def stop(self):
        self._done.set()
        self._thread.join()
        return max(self.peak, _rss_anon())


def _rss_anon():
    """``RssAnon`` of this process in bytes (Linux; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _peak_rss():
    """Peak resident set of this process so far, in bytes (Linux: ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---------------------------------------------------------------------------- launching
def launch(folder, name, job, world):
    """Run ``job`` in ``world`` processes; return the rank reports and rank 0's set."""
    job_path = folder / f"{name}.job.json"
    job_path.write_text(json.dumps(job))
    report = folder / f"{name}.report"
    here = [__file__, "worker", str(job_path), str(report)]
    if world == 1:
        command = [sys.executable, *here]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command += [f"--nproc_per_node={world}", *here]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
    ranks = [json.loads((folder / f"{name}-rank{r}.json").read_text()) for r in range(world)]
    return ranks, np.load(report.with_suffix(".npy"))


def make_data(folder, shape, seed=0, shards=True):
    """Random uint8 images with a biased group attribute, saved as .npy files (and shards)."""
    from skdistill.datasets import write_shards

    rng = np.random.default_rng(seed)
    n, size = shape["classes"] * shape["per_class"], shape["image"]
    y = np.repeat(np.arange(shape["classes"]), shape["per_class"])
    groups = (rng.random(n) < 0.2).astype(np.int64)
    X = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    X[groups == 1] //= 2  # the minority group is darker
    for key, values in dict(x=X, y=y, g=groups).items():
        np.save(folder / f"{key}.npy", values)
    if shards:
        write_shards(X, y, groups, folder / "shards", max_per_shard=4096)
    files = dict(labels=str(folder / "y.npy"), groups=str(folder / "g.npy"))
    return X.nbytes, dict(memmap=dict(data=str(folder / "x.npy"), **files), shards=files)


def job_for(shape, sources, source, method, target, device, **extra):
    """A job file's settings (the worker's format) for one measured fit."""
    data = {"data": str(Path(sources["memmap"]["data"]).parent / "shards")}
    if source != "shards":
        data = dict(sources["memmap"])
    params = dict(target=target, ipc=1, n_iter=shape["n_iter"], batch_real=shape["batch_real"])
    params.update(net_width=shape["width"], net_depth=shape["depth"], random_state=0)
    params.update(device=device, n_threads=1, augment=None, **extra)
    return dict(data, method=method, params=params, in_memory=source == "memory")


# ---------------------------------------------------------------------------- measurements
def equality(folder, shape, sources, device, pairs):
    """(a) max |2-process set - 1-process set| for each (method, target) of ``pairs``.

    Beside it, the same 1-process fit with its learning rate times ``1 + 1e-5``: how far a
    rounding-sized change moves the set at this budget. Summing the batch in two parts
    changes the statistics by float rounding; a fit that amplifies such changes (a large
    step) moves as far under both, and the first iteration shows the rounding itself.
    """
    rows = []
    for method, target in pairs:
        job = job_for(shape, sources, "memmap", method, target, device)
        name = f"eq-{method}-{target}"
        ranks, single = launch(folder, f"{name}-1", job, 1)
        _, double = launch(folder, f"{name}-2", job, 2)
        nudged = dict(job, params=dict(job["params"], lr=ranks[0]["lr"] * (1 + 1e-5)))
        _, moved = launch(folder, f"{name}-lr", nudged, 1)
        first = dict(job, params=dict(job["params"], n_iter=1))
        _, first_1 = launch(folder, f"{name}-first-1", first, 1)
        _, first_2 = launch(folder, f"{name}-first-2", first, 2)
        rows.append(
            dict(
                method=method,
                target=target,
                lr=ranks[0]["lr"],
                max_abs_difference=float(np.abs(single - double).max()),
                first_iteration_difference=float(np.abs(first_1 - first_2).max()),
                lr_nudge_difference=float(np.abs(single - moved).max()),
            )
        )
    return rows


def memory(folder, shape, device):
    """(b) anonymous memory per rank on a memory map (2 ranks) against one in-memory process.

    The data (``memory_per_class`` images per class at the shape) are 4x one rank's budget.
    Each rank reads batches from the memory map; its own memory (``RssAnon``) should grow by
    far less than the budget, while the in-memory process grows by the whole data. Peak RSS
    also counts the page cache of the mapped file, which the kernel reclaims under pressure.
    """
    big = dict(shape, per_class=shape["memory_per_class"])
    where = folder / "memory"
    where.mkdir()
    data_bytes, sources = make_data(where, big, shards=False)
    job = job_for(big, sources, "memmap", "dm", "cobra", device)
    ranks, _ = launch(where, "mem-2", job, 2)
    whole = job_for(big, sources, "memory", "dm", "cobra", device)
    single, _ = launch(where, "mem-1", whole, 1)
    budget = data_bytes / 4
    rows = [dict(run="1 process, data in memory", **_memory_row(single[0], budget))]
    rows += [dict(run=f"2 processes, rank {r['rank']}", **_memory_row(r, budget)) for r in ranks]
    return dict(data_bytes=data_bytes, budget_bytes=budget, rows=rows)


def _memory_row(report, budget):
    grown = report["anon_peak_bytes"] - report["anon_start_bytes"]
    return dict(
        peak_rss_bytes=report["rss_peak_bytes"],
        anon_growth_bytes=grown,
        within_budget=bool(grown <= budget),
    )


def streaming(folder, shape, sources, device):
    """(c) iterations per second from shards against in-memory arrays (one process)."""
    out = {}
    for source in ("shards", "memory"):
        job = job_for(shape, sources, source, "dm", "cobra", device)
        ranks, _ = launch(folder, f"stream-{source}", job, 1)
        out[source] = 1.0 / ranks[0]["seconds_per_iteration"]
    out["shards_over_memory"] = out["shards"] / out["memory"]
    return out


def scaling(folder, shape, sources, device):
    """(d) median seconds per iteration of DM with 1 and 2 processes, real pass dominant."""
    batch = shape["batch_real"] * SCALING_BATCH_FACTOR
    job = job_for(shape, sources, "memmap", "dm", "cobra", device)
    job["params"]["batch_real"] = batch
    out = {"batch_real": batch}
    for world in (1, 2):
        ranks, _ = launch(folder, f"scale-{world}", job, world)
        out[f"seconds_{world}"] = max(r["seconds_per_iteration"] for r in ranks)
    out["speedup"] = out["seconds_1"] / out["seconds_2"]
    return out


def markdown(result):
    """The results as markdown tables (the measurements present)."""
    lines = [f"# Data-parallel fits and streaming ({result['shape']})", ""]
    lines += [f"Machine: `{result['machine']}`", "", "Commands:", ""]
    lines += [f"- {step}: `{command}`" for step, command in result["commands"].items()]
    lines += [""]
    for step, write in (
        ("equality", _equality_md),
        ("memory", _memory_md),
        ("streaming", _streaming_md),
        ("scaling", _scaling_md),
    ):
        if step in result:
            lines += write(result[step]) + [""]
    return "\n".join(lines)


def _equality_md(rows):
    lines = ["## (a) Equality, 2 processes vs 1", ""]
    lines += [
        "Max abs difference of the synthetic sets (input scale, 0..255). *After 1 "
        "iteration*: the rounding of summing the batch in two parts. *Learning rate x "
        "(1 + 1e-5)*: how far the same 1-process fit moves under a rounding-sized change "
        "of its step; where it is as large as the 2-process difference, the fit amplifies "
        "rounding (not a difference of the data-parallel sums).",
        "",
        "| method | target | lr | 2 vs 1 process | after 1 iteration | lr x (1 + 1e-5) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['method']} | {r['target']} | {r['lr']:g} | {r['max_abs_difference']:.2e} | "
        f"{r['first_iteration_difference']:.2e} | {r['lr_nudge_difference']:.2e} |"
        for r in rows
    ]
    return lines


def _memory_md(mem):
    mib = 2**20
    lines = ["## (b) Memory", ""]
    lines += [
        f"Data {mem['data_bytes'] / mib:.0f} MiB (uint8 on disk), 4x one rank's budget of "
        f"{mem['budget_bytes'] / mib:.0f} MiB. Own memory: growth of `RssAnon` (sampled "
        "every 5 ms) over the fit; peak RSS also counts the page cache of the mapped file.",
        "",
        "| run | own memory growth (MiB) | within budget | peak RSS (MiB) |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['run']} | {r['anon_growth_bytes'] / mib:.0f} | "
        f"{'yes' if r['within_budget'] else 'no'} | {r['peak_rss_bytes'] / mib:.0f} |"
        for r in mem["rows"]
    ]
    return lines


def _streaming_md(s):
    return [
        "## (c) Streaming",
        "",
        "| source | iterations/s |",
        "| --- | --- |",
        f"| tar shards | {s['shards']:.2f} |",
        f"| in memory | {s['memory']:.2f} |",
        "",
        f"shards / in memory: {s['shards_over_memory']:.2f}",
    ]


def _scaling_md(c):
    return [
        "## (d) Scaling (DM, COBRA, IPC 1)",
        "",
        f"batch_real {c['batch_real']}: {c['seconds_1']:.3f} s/it with 1 process, "
        f"{c['seconds_2']:.3f} s/it with 2 (speed-up {c['speedup']:.2f}x)",
    ]


STEPS = ("equality", "memory", "streaming", "scaling")


def run(args):
    """The chosen measurements at the chosen shape; JSON and markdown into ``out``.

    Measurements not chosen (``--steps``) are kept from an earlier result in ``out``.
    """
    from skdistill.benchmark import machine

    shape_name = "smoke" if args.smoke else args.shape
    shape = SHAPES[shape_name]
    out = Path(args.out or tempfile.mkdtemp(prefix="skdistill-distributed-"))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"distributed_{shape_name}.json"
    result = json.loads(path.read_text()) if path.exists() else {}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        _, sources = make_data(folder, shape)
        result.update(shape=shape_name, machine=machine(args.device), settings=shape)
        result.setdefault("commands", {})
        pairs = SMOKE_PAIRS if args.smoke else [(m, t) for m in ("dm", "dc") for t in TARGETS]
        steps = {
            "equality": lambda: equality(folder, shape, sources, args.device, pairs),
            "memory": lambda: memory(folder, shape, args.device),
            "streaming": lambda: streaming(folder, shape, sources, args.device),
            "scaling": lambda: scaling(folder, shape, sources, args.device),
        }
        for step in args.steps:
            result[step] = steps[step]()
            result["commands"][step] = "python " + " ".join(sys.argv)
    result["seconds"] = time.perf_counter() - start
    path.write_text(json.dumps(result, indent=1))
    (out / f"distributed_{shape_name}.md").write_text(markdown(result))
    print(markdown(result))
    print(f"results: {out}")


def main():
    """Parse the command line: ``worker JOB REPORT`` (internal) or the measurements."""
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        return worker(sys.argv[2], sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=["cpu", "cifar"], default="cpu")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="output folder (smoke: a temporary one by default)")
    parser.add_argument("--smoke", action="store_true", help="every step at a tiny shape")
    parser.add_argument(
        "--steps",
        nargs="+",
        choices=STEPS,
        default=list(STEPS),
        help="measurements to run (the others are kept from an earlier result in --out)",
    )
    return run(parser.parse_args())


if __name__ == "__main__":
    main()
