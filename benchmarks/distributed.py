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
import time
from pathlib import Path

import numpy as np

SHAPES = {
    "smoke": dict(image=8, width=4, depth=2, classes=2, per_class=48, batch_real=16, n_iter=2),
    "cpu": dict(image=16, width=32, depth=3, classes=10, per_class=600, batch_real=64, n_iter=20),
    "cifar": dict(
        image=32, width=128, depth=3, classes=10, per_class=5000, batch_real=256, n_iter=20
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
    start_rss = _peak_rss()
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
        )
        if rank == 0:
            np.save(Path(report_path).with_suffix(".npy"), np.asarray(distiller.X_synthetic_))
        Path(report_path).with_name(f"{Path(report_path).stem}-rank{rank}.json").write_text(
            json.dumps(report)
        )
    finally:
        if joined:
            torch.distributed.destroy_process_group()


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


def make_data(folder, shape, seed=0):
    """Random uint8 images with a biased group attribute, saved as .npy files and shards."""
    from skdistill.datasets import write_shards

    rng = np.random.default_rng(seed)
    n, size = shape["classes"] * shape["per_class"], shape["image"]
    y = np.repeat(np.arange(shape["classes"]), shape["per_class"])
    groups = (rng.random(n) < 0.2).astype(np.int64)
    X = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    X[groups == 1] //= 2  # the minority group is darker
    for key, values in dict(x=X, y=y, g=groups).items():
        np.save(folder / f"{key}.npy", values)
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
    """(a) max |2-process set - 1-process set| for each (method, target) of ``pairs``."""
    rows = []
    for method, target in pairs:
        job = job_for(shape, sources, "memmap", method, target, device)
        _, single = launch(folder, f"eq-{method}-{target}-1", job, 1)
        _, double = launch(folder, f"eq-{method}-{target}-2", job, 2)
        diff = float(np.abs(single - double).max())
        rows.append(dict(method=method, target=target, max_abs_difference=diff))
    return rows


def memory(folder, shape, sources, device, data_bytes):
    """(b) peak RSS per rank on the memory map (2 ranks) against one in-memory process."""
    job = job_for(shape, sources, "memmap", "dm", "cobra", device)
    ranks, _ = launch(folder, "mem-2", job, 2)
    whole = job_for(shape, sources, "memory", "dm", "cobra", device)
    single, _ = launch(folder, "mem-1", whole, 1)
    budget = data_bytes / 4
    rows = [dict(run="1 process, data in memory", **_memory_row(single[0], budget))]
    rows += [dict(run=f"2 processes, rank {r['rank']}", **_memory_row(r, budget)) for r in ranks]
    return dict(data_bytes=data_bytes, budget_bytes=budget, rows=rows)


def _memory_row(report, budget):
    grown = report["rss_peak_bytes"] - report["rss_start_bytes"]
    return dict(peak_rss_bytes=report["rss_peak_bytes"], growth_bytes=grown, budget=budget)


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
    """The results as markdown tables."""
    lines = [f"# Data-parallel fits and streaming ({result['shape']})", ""]
    lines += [f"Command: `{result['command']}`", "", f"Machine: `{result['machine']}`", ""]
    lines += ["## (a) Equality, 2 processes vs 1", "", "| method | target | max abs diff |"]
    lines += ["| --- | --- | --- |"]
    lines += [
        f"| {r['method']} | {r['target']} | {r['max_abs_difference']:.2e} |"
        for r in result["equality"]
    ]
    mem = result["memory"]
    lines += ["", "## (b) Memory", "", f"data {mem['data_bytes'] / 2**20:.1f} MiB, "]
    lines[-1] += f"budget per rank {mem['budget_bytes'] / 2**20:.1f} MiB (data / 4)"
    lines += ["", "| run | peak RSS (MiB) | growth during the fit (MiB) |", "| --- | --- | --- |"]
    lines += [
        f"| {r['run']} | {r['peak_rss_bytes'] / 2**20:.0f} | {r['growth_bytes'] / 2**20:.1f} |"
        for r in mem["rows"]
    ]
    s, c = result["streaming"], result["scaling"]
    lines += ["", "## (c) Streaming", "", "| source | iterations/s |", "| --- | --- |"]
    lines += [f"| tar shards | {s['shards']:.2f} |", f"| in memory | {s['memory']:.2f} |"]
    lines += ["", f"shards / in memory: {s['shards_over_memory']:.2f}", ""]
    lines += ["## (d) Scaling (DM, COBRA, IPC 1)", "", f"batch_real {c['batch_real']}: "]
    lines[-1] += f"{c['seconds_1']:.3f} s/it with 1 process, {c['seconds_2']:.3f} s/it with 2 "
    lines[-1] += f"(speed-up {c['speedup']:.2f}x)"
    return "\n".join(lines) + "\n"


def run(args):
    """Every measurement at the chosen shape; writes JSON and markdown into ``out``."""
    from skdistill.benchmark import machine

    shape_name = "smoke" if args.smoke else args.shape
    shape = SHAPES[shape_name]
    out = Path(args.out or tempfile.mkdtemp(prefix="skdistill-distributed-"))
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        data_bytes, sources = make_data(folder, shape)
        result = dict(shape=shape_name, command="python " + " ".join(sys.argv))
        result.update(machine=machine(args.device), settings=shape)
        pairs = SMOKE_PAIRS if args.smoke else [(m, t) for m in ("dm", "dc") for t in TARGETS]
        result["equality"] = equality(folder, shape, sources, args.device, pairs)
        result["memory"] = memory(folder, shape, sources, args.device, data_bytes)
        result["streaming"] = streaming(folder, shape, sources, args.device)
        result["scaling"] = scaling(folder, shape, sources, args.device)
    result["seconds"] = time.perf_counter() - start
    (out / f"distributed_{shape_name}.json").write_text(json.dumps(result, indent=1))
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
    return run(parser.parse_args())


if __name__ == "__main__":
    main()
