"""How long fairness takes from the references' start: EOD_M and accuracy against iterations.

Colored MNIST (background), built offline from the embedded 5,000-digit MNIST subset (4,000
training digits at skew 0.9, 28x28; 1,000 held-out digits rendered in all ten colours as the
test set). DM, IPC 10, 64 real images per class per iteration, DSA (one draw per class and
call, shared by the real and the synthetic batch), ConvNet-3 width 128. Every curve starts
from the same initialisation unless its name says otherwise:

- ``vanilla``, ``fairdd``, ``cobra``: random real images of the class (the references' start);
- ``cobra-l1``: COBRA under the L1 distance (the COBRA authors' code);
- ``cobra-lrG``: COBRA with the learning rate times the number of groups G (under squared L2
  FairDD's gradient is G times COBRA's, so this follows FairDD's steps);
- ``cobra-balanced``: COBRA with lr x G (the default step) from the group-balanced start
  (``init="balanced"``): against ``cobra-lrG`` it changes the start only.

Every ``--every`` iterations the synthetic set, exactly as learnt (floats, not rounded), is
scored by ``--eval-runs`` ConvNets trained from scratch on it with DSA for ``--eval-epochs``
epochs (CPU-sized: the references train 1,000 epochs and average 10-20 runs).

The study is resumable and runs one curve at a time: each curve's fit is checkpointed in
``--out/checkpoints/<curve>/`` and extended with ``fit(..., resume=True)`` (bit-identical to an
uninterrupted fit), and every evaluated point is appended to ``--out/<curve>.json`` at once.
``--report`` writes ``convergence.md`` and ``convergence.png`` from the JSON files.

    python benchmarks/convergence.py --curves vanilla cobra --iterations 1000
    python benchmarks/convergence.py --report
    python benchmarks/convergence.py --smoke --out conv-smoke   # seconds: checks that it runs
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from skdistill import BarycentricDistiller
from skdistill._persistence import write_text_atomic
from skdistill.benchmark import machine
from skdistill.datasets import load_colored_mnist
from skdistill.evaluation import evaluate_synthetic
from skdistill.methods import DM

CURVES = {
    "vanilla": dict(target="vanilla"),
    "fairdd": dict(target="fairdd"),
    "cobra": dict(target="cobra"),
    "cobra-l1": dict(target="cobra", method=DM(distance="l1")),
    "cobra-lrG": dict(target="cobra", lr_times_groups=True),
    "cobra-balanced": dict(target="cobra", init="balanced", lr_times_groups=True),
}
LABELS = {
    "vanilla": "vanilla (random real)",
    "fairdd": "FairDD (random real)",
    "cobra": "COBRA, lr 1 (random real)",
    "cobra-l1": "COBRA, L1 (random real)",
    "cobra-lrG": "COBRA, lr x G (random real)",
    "cobra-balanced": "COBRA, lr x G (group-balanced start)",
}
DEFAULT_OUT = Path(__file__).parent / "results" / "convergence"
#: Files of the study folder that are not curves.
SIDE_FILES = ("lr_times_groups_check.json", "full_reference.json")


def distiller(curve, args, n_iter, n_groups):
    params = dict(CURVES[curve])
    lr = 1.0 * (n_groups if params.pop("lr_times_groups", False) else 1)
    return BarycentricDistiller(
        method=params.pop("method", "dm"),
        ipc=args.ipc,
        n_iter=n_iter,
        batch_real=args.batch_real,
        lr=lr,
        init=params.pop("init", "random_real"),
        augment="dsa",
        net_width=args.net_width,
        random_state=args.seed,
        checkpoint_dir=args.out / "checkpoints" / curve,
        checkpoint_every=args.every,
        device="cpu",
        **params,
    )


def score(X_syn, y_syn, data, args, seed):
    result = evaluate_synthetic(
        X_syn,
        y_syn,
        data.X_test,
        data.y_test,
        data.sensitive_features_test,
        n_runs=args.eval_runs,
        epochs=args.eval_epochs,
        augment="dsa",
        net_width=args.net_width,
        device="cpu",
        random_state=seed,
    )
    runs = result.runs
    return {
        "accuracy": [100 * float(v) for v in runs["accuracy"]],
        "eod_max": [100 * float(v) for v in runs["eod_max"]],
        "eod_mean": [100 * float(v) for v in runs["eod_mean"]],
    }


def run_curve(curve, data, args):
    path = args.out / f"{curve}.json"
    record = json.loads(path.read_text()) if path.exists() else None
    ignored = ("curves", "report", "out", "check_lrg", "full_epochs")
    settings = {k: v for k, v in vars(args).items() if k not in ignored}
    settings = {k: v for k, v in settings.items() if k != "iterations"}
    if record is None:
        record = {"curve": curve, "label": LABELS[curve], "settings": settings, "points": []}
    elif record["settings"] != settings:
        sys.exit(f"{path} was made with other settings ({record['settings']}); use another --out.")
    n_groups = len(np.unique(data.sensitive_features_train))
    done = {p["iteration"] for p in record["points"]}
    start = 0 if not args.evaluate_start or 0 in done else None
    shared = _shared_start(curve, settings, args.out) if start is None else None
    if shared is not None:  # same start, same evaluation: the point is the same
        record["points"].append(shared)
        _write(path, record)
    elif start is None:  # the initial set, before any iteration
        d = distiller(curve, args, 1, n_groups)
        d.set_params(checkpoint_dir=None, lr=1e-30)  # one inert step: the initial set
        d.fit(data.X_train, data.y_train, sensitive_features=data.sensitive_features_train)
        point = {"iteration": 0, "loss": None, "distil_seconds": 0.0}
        point.update(score(d.X_synthetic_, d.y_synthetic_, data, args, args.seed))
        record["points"].append(point)
        _write(path, record)
    for n_iter in range(args.every, args.iterations + 1, args.every):
        if n_iter in done:
            continue
        d = distiller(curve, args, n_iter, n_groups)
        tic = time.perf_counter()
        d.fit(
            data.X_train,
            data.y_train,
            sensitive_features=data.sensitive_features_train,
            resume=True,
        )
        fit_seconds = time.perf_counter() - tic
        tic = time.perf_counter()
        point = {
            "iteration": n_iter,
            "loss": float(d.history_["loss"].iloc[-1]),
            "distil_seconds": float(d.history_["seconds"].iloc[-1]),
            "segment_seconds": fit_seconds,
        }
        point.update(score(d.X_synthetic_, d.y_synthetic_, data, args, args.seed))
        point["eval_seconds"] = time.perf_counter() - tic
        record["points"].append(point)
        record["machine"] = machine("cpu")
        _write(path, record)
        acc, eod = np.mean(point["accuracy"]), np.mean(point["eod_max"])
        print(f"{curve:>15} it {n_iter:5d}: acc {acc:5.1f}  EOD_M {eod:5.1f}", flush=True)


def full_reference(data, args):
    """FULL: a ConvNet trained on all 4,000 training images to convergence, with its curve."""
    result = evaluate_synthetic(
        data.X_train,
        data.y_train,
        data.X_test,
        data.y_test,
        data.sensitive_features_test,
        n_runs=1,
        epochs=args.full_epochs,
        augment="dsa",
        net_width=args.net_width,
        curves=True,
        device="cpu",
        random_state=args.seed,
    )
    run = result.runs.iloc[0]
    record = {
        "epochs": args.full_epochs,
        "accuracy": 100 * float(run["accuracy"]),
        "eod_max": 100 * float(run["eod_max"]),
        "eod_mean": 100 * float(run["eod_mean"]),
        "curve": result.curves[0].to_dict(orient="list"),
        "machine": machine("cpu"),
    }
    (args.out / "full_reference.json").write_text(json.dumps(record, indent=1))
    print({k: v for k, v in record.items() if k not in ("curve", "machine")})


def check_lr_times_groups(data, args):
    """Short runs: COBRA at lr x G against FairDD at lr 1, same seed, batches and DSA draws.

    Every class of this data holds all G colours in every stratified batch, so under squared
    L2 FairDD's gradient is G times COBRA's and SGD with momentum takes the same steps: after
    one iteration the two sets agree to float rounding. Each further iteration is taken from
    slightly different points, and the rounding differences grow (instance norm over
    near-constant feature maps is very sensitive), so the runs are compared after 1, 2, 5, 10
    and ``--check-lrg`` iterations.
    """
    n_groups = len(np.unique(data.sensitive_features_train))
    start = distiller("cobra", args, 1, n_groups).set_params(checkpoint_dir=None, lr=1e-30)
    start.fit(data.X_train, data.y_train, sensitive_features=data.sensitive_features_train)
    initial = start.X_synthetic_.astype(np.float64)  # the set every run starts from
    rows = []
    for n_iter in sorted({1, 2, 5, 10, args.check_lrg}):
        sets = {}
        for curve in ("fairdd", "cobra-lrG", "cobra"):
            d = distiller(curve, args, n_iter, n_groups).set_params(checkpoint_dir=None)
            d.fit(data.X_train, data.y_train, sensitive_features=data.sensitive_features_train)
            sets[curve] = d.X_synthetic_.astype(np.float64)
        fairdd = sets["fairdd"]
        rows.append(
            {
                "iterations": n_iter,
                "max_abs_diff_cobra_lrG_vs_fairdd": float(np.abs(sets["cobra-lrG"] - fairdd).max()),
                "max_abs_diff_cobra_lr1_vs_fairdd": float(np.abs(sets["cobra"] - fairdd).max()),
                "max_abs_change_fairdd": float(np.abs(fairdd - initial).max()),
            }
        )
        print(rows[-1], flush=True)
    result = {"groups": n_groups, "scale": "pixel values, 0..255", "runs": rows}
    (args.out / "lr_times_groups_check.json").write_text(json.dumps(result, indent=1))


def _shared_start(curve, settings, out):
    """The iteration-0 point of another curve with the same start and evaluation, if any.

    The initial set depends on the seed and ``init`` only (not on the target, distance or
    lr), so curves that share them share their first point.
    """
    init = CURVES[curve].get("init", "random_real")
    for path in sorted(out.glob("*.json")):
        if path.name in SIDE_FILES:
            continue
        other = json.loads(path.read_text())
        if other.get("curve") == curve or other.get("settings") != settings:
            continue
        if CURVES[other["curve"]].get("init", "random_real") != init:
            continue
        first = [p for p in other["points"] if p["iteration"] == 0]
        if first:
            return {**first[0], "shared_with": other["curve"]}
    return None


def _write(path, record):
    record["points"].sort(key=lambda p: p["iteration"])
    write_text_atomic(path, json.dumps(record, indent=1))


def report(out):
    paths = [p for p in sorted(out.glob("*.json")) if p.name not in SIDE_FILES]
    records = [json.loads(p.read_text()) for p in paths]
    records.sort(key=lambda r: list(CURVES).index(r["curve"]))
    if not records:
        sys.exit(f"no curve in {out}")
    s = records[0]["settings"]
    runs = ", ".join(f"{r['curve']} {r['settings']['eval_runs']}" for r in records)
    lines = [
        "# Convergence: EOD_M and accuracy against DM iterations (CPU-sized)",
        "",
        f"Colored MNIST BG (embedded subset, 28x28, skew 0.9), DM, IPC {s['ipc']}, "
        f"{s['batch_real']} real images per class per iteration, DSA, ConvNet width "
        f"{s['net_width']}, lr 1 (lr x G for `cobra-lrG` and `cobra-balanced`), "
        f"seed {s['seed']}. Each point: "
        f"ConvNets trained {s['eval_epochs']} epochs with DSA on the synthetic set as learnt "
        f"(CPU-sized evaluation; runs per point: {runs}), mean ± std over the runs, in points. "
        "Command: `python benchmarks/convergence.py` (see the module docstring). `distil s` "
        "is the wall time of the fit up to that point, on a machine that also ran other work "
        "at times: compare iterations, not seconds.",
        "",
        "| curve | iteration | accuracy % | EOD_M | EOD_A | loss | distil s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in records:
        for p in r["points"]:
            loss = "-" if p["loss"] is None else f"{p['loss']:.4g}"
            lines.append(
                f"| {LABELS[r['curve']]} | {p['iteration']} | {_pm(p['accuracy'])} | "
                f"{_pm(p['eod_max'])} | {_pm(p['eod_mean'])} | {loss} | "
                f"{p['distil_seconds']:.0f} |"
            )
    lines += _side_tables(out)
    machine_info = next((r["machine"] for r in records if "machine" in r), {})
    lines += [
        "",
        f"Machine: {machine_info.get('processor', '?')}, "
        f"{machine_info.get('cpu_count', '?')} CPUs, torch {machine_info.get('torch', '?')}.",
    ]
    (out / "convergence.md").write_text("\n".join(lines) + "\n")
    _plot(records, out / "convergence.png")
    print("\n".join(lines))


def _side_tables(out):
    """FULL's reference line and the lr x G check, when their files are in ``out``."""
    lines = []
    full_path, check_path = out / "full_reference.json", out / "lr_times_groups_check.json"
    if full_path.exists():
        full = json.loads(full_path.read_text())
        last = full["curve"]["accuracy"][-1]
        lines += [
            "",
            f"FULL (a ConvNet trained on all 4,000 training images for {full['epochs']} epochs "
            f"with DSA, one run; final training accuracy {100 * last:.1f} %): accuracy "
            f"{full['accuracy']:.1f} %, EOD_M {full['eod_max']:.1f}, EOD_A "
            f"{full['eod_mean']:.1f}.",
        ]
    if check_path.exists():
        check = json.loads(check_path.read_text())
        lines += [
            "",
            f"COBRA at lr x G (G = {check['groups']}) against FairDD at lr 1, same seed "
            "(largest difference between the two synthetic sets, and FairDD's largest change "
            "from the initial set, in pixel values on the 0..255 scale):",
            "",
            "| iterations | COBRA lr x G vs FairDD | COBRA lr 1 vs FairDD | FairDD's change |",
            "| --- | --- | --- | --- |",
        ]
        lines += [
            f"| {r['iterations']} | {r['max_abs_diff_cobra_lrG_vs_fairdd']:.3g} | "
            f"{r['max_abs_diff_cobra_lr1_vs_fairdd']:.3g} | {r['max_abs_change_fairdd']:.3g} |"
            for r in check["runs"]
        ]
    return lines


def _pm(values):
    if len(values) == 1:  # one evaluation run: no spread to show
        return f"{values[0]:.1f}"
    return f"{np.mean(values):.1f} ± {np.std(values):.1f}"


def _plot(records, path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_eod, ax_acc = fig.subplots(1, 2)
    for r in records:
        it = [p["iteration"] for p in r["points"]]
        for ax, key in ((ax_eod, "eod_max"), (ax_acc, "accuracy")):
            mean = np.array([np.mean(p[key]) for p in r["points"]])
            std = np.array([np.std(p[key]) for p in r["points"]])
            (line,) = ax.plot(it, mean, marker="o", ms=3, label=LABELS[r["curve"]])
            ax.fill_between(it, mean - std, mean + std, color=line.get_color(), alpha=0.15)
    ax_eod.set(xlabel="DM iterations", ylabel="EOD_M (points)", ylim=(0, 102))
    ax_eod.set_title("fairness (lower is fairer)")
    ax_acc.set(xlabel="DM iterations", ylabel="accuracy (%)", ylim=(0, 100))
    ax_acc.set_title("accuracy, colour-balanced test")
    ax_acc.legend(fontsize=8)
    fig.savefig(path, dpi=120)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curves", nargs="+", default=list(CURVES), choices=list(CURVES))
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--ipc", type=int, default=10)
    parser.add_argument("--batch-real", type=int, default=64)
    parser.add_argument("--net-width", type=int, default=128)
    parser.add_argument("--eval-epochs", type=int, default=300)
    parser.add_argument("--eval-runs", type=int, default=2)
    parser.add_argument("--evaluate-start", action="store_true", default=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--report", action="store_true", help="only write the markdown and plot")
    parser.add_argument(
        "--full-epochs",
        type=int,
        default=0,
        metavar="E",
        help="instead of curves: train FULL (all training images) for E epochs, with DSA",
    )
    parser.add_argument(
        "--check-lrg",
        type=int,
        default=0,
        metavar="N",
        help="instead of curves: N iterations of COBRA at lr x G against FairDD",
    )
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run")
    args = parser.parse_args(argv)
    if args.smoke:
        args.iterations, args.every, args.net_width = 4, 2, 8
        args.eval_epochs, args.eval_runs, args.batch_real = 2, 1, 8
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.report:
        data = load_colored_mnist("bg", n_test=100 if args.smoke else None)
        if args.check_lrg:
            return check_lr_times_groups(data, args)
        if args.full_epochs:
            return full_reference(data, args)
        for curve in args.curves:
            run_curve(curve, data, args)
    report(args.out)


if __name__ == "__main__":
    main()
