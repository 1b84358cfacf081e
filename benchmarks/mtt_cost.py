"""What trajectory matching costs on Colored MNIST BG: expert epochs and distillation iterations.

Data: the embedded Colored MNIST BG (4,000 training digits, skew 0.9, 3x28x28, 10 classes,
10 colour groups), IPC 10, as in the benchmark's CPU table.

- **Experts**: seconds per training epoch of one expert (SGD, batches of 256, DSA) on all the
  data and, summed over the ten groups, one expert per group (``"groups"`` buffers), for each
  network width. An expert buffer costs ``n_experts * epochs`` such epochs.
- **Distillation**: seconds per iteration of ``TrajectoryMatching`` (one student unroll of
  ``syn_steps`` steps on the 100 synthetic images with DSA, its backward pass and the image
  and step-size updates), per width, ``syn_steps`` and unroll mode, on trajectories of the
  right size (the cost does not depend on their values); the first ``--warmup`` iterations
  are dropped. COBRA and vanilla cost one unroll per iteration, FairDD one per group.
- Times are CPU seconds of the (one-thread) process, not wall time, so that other load on
  the machine does not count.
- **Memory**: every distillation configuration also runs one iteration in a fresh process
  whose glibc returns large blocks at once; the growth of its peak resident set
  (``ru_maxrss``) during the iteration.

Writes ``mtt_cost.json`` and ``mtt_cost.md`` into ``--out``. Run it on one thread
(``OMP_NUM_THREADS=1``, e.g. under ``taskset -c 0``) for the one-core numbers::

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/mtt_cost.py
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
IPC = 10


def cmnist():
    """Encoded Colored MNIST BG as the distiller sees it."""
    from skdistill.datasets import load_colored_mnist
    from skdistill.methods._experts import ExpertData

    data = load_colored_mnist("bg", n_test=500)
    return ExpertData.from_inputs(data.X_train, data.y_train, data.sensitive_features_train)


def expert_epochs(width, n_epochs):
    """Seconds per epoch of one expert on all the data, and of one expert per group."""
    import torch

    from skdistill.methods import DSA
    from skdistill.methods._experts import ExpertNetwork, ExpertTraining, train_expert

    torch.set_num_threads(1)
    data = cmnist()
    network = ExpertNetwork((3, 28, 28), 10, width, 3, None)
    training = ExpertTraining(n_experts=1, epochs=n_epochs, augment=DSA())
    out = {}
    for label, keys in (("all", ["all"]), ("groups", [f"group-{k}" for k in range(10)])):
        start = time.process_time()
        for key in keys:
            train_expert(data, key, network, training, seed=0, device=torch.device("cpu"))
        out[label] = (time.process_time() - start) / n_epochs
    return out


def distill_iterations(width, syn_steps, unroll, n_iter, warmup):
    """Median seconds per iteration and peak-RSS growth (MiB) of one configuration."""
    import torch

    from skdistill.methods import DSA, TrajectoryMatching
    from skdistill.targets import TARGETS

    torch.set_num_threads(1)
    method = TrajectoryMatching(
        (3, 28, 28),
        10,
        net_width=width,
        net_depth=3,
        device=torch.device("cpu"),
        augment=DSA(),
        syn_steps=syn_steps,
        expert_epochs=2,
        max_start_epoch=2,
        unroll=unroll,
    )
    n_params = sum(p.numel() for p in method.network.parameters())
    gen = torch.Generator().manual_seed(0)
    start = torch.cat([p.detach().reshape(-1) for p in method.network.parameters()])
    steps = torch.randn(1, 3, n_params, generator=gen) * 1e-3
    buffers = [torch.cat([start[None, None], start + steps.cumsum(1)], dim=1)]
    plan = TARGETS["vanilla"]().trajectory_plan(1)
    method.use_experts(plan, buffers)
    synthetic = torch.randn(10 * IPC, 3, 28, 28, generator=gen).requires_grad_(True)
    optimizer = torch.optim.SGD([synthetic], lr=1000.0, momentum=0.5)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for it in range(n_iter):
        t0 = time.process_time()  # CPU time of this one-thread process: robust to other load
        method.begin_iteration(it)
        optimizer.zero_grad(set_to_none=True)
        method.match(None, plan, synthetic, IPC)
        optimizer.step()
        method.after_step(synthetic)
        times.append(time.process_time() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": float(np.median(times[warmup:])),
        "peak_growth_mib": (peak - before) / 1024,
        "n_params": n_params,
    }


def run_child(kind, args, malloc=False):
    """Run one measurement in a fresh process; return its JSON answer."""
    env = dict(os.environ, **(MALLOC_ENV if malloc else {}))
    cmd = [sys.executable, __file__, "--child", kind, json.dumps(args)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


#: (width, syn_steps, unroll) measured by default; the full unroll at width 128 and 30 steps
#: is left out (its graph alone needs several GiB; it grows linearly with syn_steps).
CONFIGS = [
    "128:30:recompute",
    "128:10:recompute",
    "128:10:full",
    "64:30:recompute",
    "64:10:recompute",
    "64:10:full",
    "32:30:recompute",
    "32:10:recompute",
    "32:10:full",
    "32:30:full",
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=CONFIGS, help="width:syn_steps:unroll")
    parser.add_argument("--n-iter", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--expert-epochs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--markdown", action="store_true", help="rewrite the .md from the .json")
    args = parser.parse_args()
    if args.markdown:
        results = json.loads((args.out / "mtt_cost.json").read_text())
        (args.out / "mtt_cost.md").write_text(markdown(results))
        return
    if args.child:
        kind, spec = args.child[0], json.loads(args.child[1])
        fn = expert_epochs if kind == "experts" else distill_iterations
        print(json.dumps(fn(**spec)))
        return
    results = {"experts": {}, "distill": []}
    for config in args.configs:
        width, syn_steps, unroll = config.split(":")
        width, syn_steps = int(width), int(syn_steps)
        if width not in results["experts"]:
            spec = {"width": width, "n_epochs": args.expert_epochs}
            results["experts"][width] = run_child("experts", spec)
            print("experts", width, results["experts"][width], flush=True)
        spec = dict(width=width, syn_steps=syn_steps, unroll=unroll)
        timed = run_child("distill", dict(spec, n_iter=args.n_iter, warmup=args.warmup))
        # the peak in a process whose allocator returns large blocks at once (slower, so
        # timed apart): one iteration reaches it
        memory = run_child("distill", dict(spec, n_iter=1, warmup=0), malloc=True)
        row = dict(spec, seconds=timed["seconds"], n_params=timed["n_params"])
        row["peak_growth_mib"] = memory["peak_growth_mib"]
        results["distill"].append(row)
        print("distill", row, flush=True)
    from skdistill.benchmark import machine

    results["machine"] = machine("cpu")
    results["threads"] = os.environ.get("OMP_NUM_THREADS")
    results["command"] = " ".join(["python", "benchmarks/mtt_cost.py", *sys.argv[1:]])
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "mtt_cost.json").write_text(json.dumps(results, indent=2))
    (args.out / "mtt_cost.md").write_text(markdown(results))


def markdown(results):
    """The results as two markdown tables."""
    lines = [
        "# MTT cost on Colored MNIST BG (4,000 digits, 3x28x28, IPC 10)",
        "",
        f"`{results['command']}`, OMP_NUM_THREADS={results['threads']}, on a "
        f"{results['machine']['processor']} machine ({results['machine']['platform']}), torch "
        f"{results['machine']['torch']}. Times are CPU seconds of the one-thread process (other "
        "load on the machine does not count). Experts: SGD, batches of 256, DSA. Iterations: "
        "100 synthetic images, DSA at every student step, one unroll (vanilla, uniform, COBRA; "
        "FairDD takes one per group). Peak RSS growth: during one iteration, in a fresh process.",
        "",
        "| width | s / expert epoch, all data | s / epoch, one expert per group (10 groups) |",
        "| --- | --- | --- |",
    ]
    for width, row in results["experts"].items():
        lines.append(f"| {width} | {row['all']:.1f} | {row['groups']:.1f} |")
    lines += [
        "",
        "| width | parameters | syn_steps | unroll | s / iteration | peak RSS growth (MiB) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results["distill"]:
        lines.append(
            f"| {r['width']} | {r['n_params']:,} | {r['syn_steps']} | {r['unroll']} | "
            f"{r['seconds']:.2f} | {r['peak_growth_mib']:.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
