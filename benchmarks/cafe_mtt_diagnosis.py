"""What the `cafe-mtt` sets learnt on Colored MNIST BG: why a target lowers EOD_M or not.

Reads the synthetic sets that ``skdistill benchmark --preset cafe-mtt`` cached (nothing is
distilled again; a cell whose set is not cached is skipped) and, for every CAFE and MTT set:

- **moved**: ``||x - x0|| / ||x0||``, ``x0`` the set's start (the same fit run for one
  iteration at an image learning rate of 1e-30: the references' random real start of that seed);
- **majority background**: the share of synthetic images whose background (the median colour of
  the 2-pixel border; the digits are drawn in black on a coloured background) is nearest to
  its class's majority colour (digit ``k``'s is palette colour ``k``), at the start and at the
  end, and how far (RGB, 0-255) the border colours moved from the start on average;
- **recall per class and colour** of the benchmark's first evaluation model of the set (same
  evaluator settings and seed, so its accuracy and EOD_M equal the first run of the record,
  which the table checks): the classes with a colour group at recall 0, and EOD per class;
- **the expert checkpoints as classifiers** (per MTT seed, from the benchmark's expert
  buffers): test accuracy and EOD_M of the all-data expert (vanilla MTT's start and target
  points), of the mean of the ten colour groups' experts (COBRA-MTT's barycentric points) and
  of one colour group's expert, at several epochs, mean over the experts; and how much of
  each colour group's training data is one digit.

    python benchmarks/cafe_mtt_diagnosis.py [--seeds 0 1 2] [--out DIR]

Writes ``diagnosis.json`` and ``diagnosis.md`` into that folder.
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

from skdistill import BarycentricDistiller
from skdistill.benchmark import load_benchmark_dataset, machine, make_config, markdown_table, plan
from skdistill.benchmark.plan import task_key
from skdistill.benchmark.runner import Runner
from skdistill.datasets._colors import COLOR_NAMES, PALETTE
from skdistill.evaluation import evaluate_synthetic
from skdistill.methods import load_experts
from skdistill.methods._experts import ExpertNetwork, parameter_splitter
from skdistill.metrics import class_gaps, equalized_odds_difference, recall_by_group

DATASET = "cmnist-bg"
DEFAULT_OUT = Path(__file__).parent / "results" / "benchmark_cafe_mtt"
#: Expert epochs at which the checkpoints are scored (the CPU budget's points reach epoch 11).
EXPERT_EPOCHS = (1, 3, 6, 11)


def border_colours(X) -> np.ndarray:
    """``(N, 3)`` median RGB of the 2-pixel border of every ``(3, H, W)`` image."""
    X = np.asarray(X, dtype=np.float64)
    mask = np.ones(X.shape[-2:], dtype=bool)
    mask[2:-2, 2:-2] = False
    return np.median(X[:, :, mask], axis=2)


def majority_colours(data) -> dict:
    """Palette index of every class's most frequent colour group in the training split."""
    names = list(map(str, COLOR_NAMES))
    out = {}
    for c in np.unique(data.y_train):
        groups, counts = np.unique(data.A_train[data.y_train == c], return_counts=True)
        out[int(c)] = names.index(str(groups[np.argmax(counts)]))
    return out


def majority_share(colours, y, majority) -> float:
    """Share of images whose border colour is nearest to their class's majority colour."""
    nearest = np.argmin(((colours[:, None, :] - PALETTE[None]) ** 2).sum(-1), axis=1)
    return float(np.mean(nearest == np.array([majority[int(c)] for c in y])))


def start_of(runner, data, kwargs):
    """The cell's start ``(X, y)``: its fit for one iteration at an image learning rate of 1e-30."""
    start = BarycentricDistiller(**{**kwargs, "n_iter": 1, "lr": 1e-30}, device=runner.device)
    start.fit(data.X_train, data.y_train, sensitive_features=data.A_train)
    return np.asarray(start.X_synthetic_, dtype=np.float64), np.asarray(start.y_synthetic_)


def diagnose(runner, task, data, record, majority):
    """The diagnosis of one cached cell (None when its set is not cached)."""
    method, seed = task["method"], task["seed"]
    kwargs, name = runner.distiller_kwargs(
        DATASET, method, task["target"], task["ipc"], seed, task["params"]
    )
    if not (runner.cache / f"{name}.npz").exists():
        return None
    X, y, _ = runner.distil(
        data, DATASET, method, task["target"], task["ipc"], seed, task["params"]
    )
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=int)
    x0, _ = start_of(runner, data, kwargs)
    budget = runner.budget(DATASET, method)
    result = evaluate_synthetic(
        X,
        y,
        data.X_test,
        data.y_test,
        data.A_test,
        model=task["arch"],
        n_runs=1,
        epochs=budget["eval_epochs"],
        augment=budget.get("eval_augment"),
        random_state=seed,
        device=runner.device,
        predictions=True,
    )
    recall = recall_by_group(data.y_test, result.predictions[0], sensitive_features=data.A_test)
    gaps = class_gaps(recall)
    zero = {
        int(c): sorted(str(g) for g in recall.columns[(recall.loc[c] == 0).to_numpy()])
        for c in recall.index
        if (recall.loc[c] == 0).any()
    }
    c0, c1 = border_colours(x0), border_colours(X)
    first = result.runs.iloc[0]
    return {
        "entry": task["entry"],
        "seed": seed,
        "moved": float(np.linalg.norm(X - x0) / np.linalg.norm(x0)),
        "majority_background_start": majority_share(c0, y, majority),
        "majority_background_end": majority_share(c1, y, majority),
        "border_shift_rgb": float(np.linalg.norm(c1 - c0, axis=1).mean()),
        "accuracy": float(first["accuracy"]),
        "eod_max": float(first["eod_max"]),
        "eod_mean": float(first["eod_mean"]),
        "record_first_run": {k: record["runs"][0][k] for k in ("accuracy", "eod_max")},
        "eod_per_class": {int(c): float(v) for c, v in gaps.items()},
        "zero_recall": zero,
    }


def checkpoint_scores(network, flat, x_test, data) -> dict:
    """Test accuracy and EOD_M of ``network`` with the flat parameter vector ``flat``."""
    params = parameter_splitter(network)(flat.float())
    with torch.no_grad():
        logits = torch.cat(
            [torch.func.functional_call(network, params, (b,)) for b in x_test.split(1000)]
        )
    pred = logits.argmax(1).numpy()
    return {
        "accuracy": float(np.mean(pred == np.asarray(data.y_test))),
        "eod_max": float(
            equalized_odds_difference(data.y_test, pred, sensitive_features=data.A_test)
        ),
    }


def expert_diagnosis(runner, task, data):
    """The expert checkpoints of an MTT COBRA cell's seed, scored as classifiers."""
    seed = task["seed"]
    kwargs, _ = runner.distiller_kwargs(DATASET, "mtt", "cobra", task["ipc"], seed, task["params"])
    folder = Path(kwargs["method"].expert_dir)
    if not folder.is_dir():
        return None
    buffers = load_experts(folder)
    groups = sorted((k for k in buffers.keys() if k.startswith("group-")), key=lambda k: int(k[6:]))
    if "all" not in buffers or not groups:
        return None
    # the experts' input units: the fit's standardisation of the training data
    fitted = BarycentricDistiller(**{**kwargs, "n_iter": 1, "lr": 1e-30}, device="cpu")
    fitted.fit(data.X_train, data.y_train, sensitive_features=data.A_train)
    network_info = buffers.info["all"]["network"]
    network = ExpertNetwork(
        tuple(network_info["sample_shape"]),
        network_info["n_classes"],
        network_info["net_width"],
        network_info["net_depth"],
        network_info["net_norm"],
    ).build()
    network.eval()
    x_test = fitted._codec.encode(np.asarray(data.X_test)).reshape(
        -1, *network_info["sample_shape"]
    )
    x_test = x_test.float().cpu()
    rows = []
    n_experts = buffers["all"].shape[0]
    for epoch in EXPERT_EPOCHS:
        kinds = {
            "all-data expert (vanilla MTT)": [buffers["all"][e, epoch] for e in range(n_experts)],
            "mean of the group experts (COBRA-MTT)": [
                torch.stack([buffers[g][e, epoch] for g in groups]).mean(0)
                for e in range(n_experts)
            ],
            "one colour group's expert": [buffers[g][0, epoch] for g in groups],
        }
        for kind, points in kinds.items():
            scores = [checkpoint_scores(network, p, x_test, data) for p in points]
            rows.append(
                {
                    "seed": seed,
                    "epoch": epoch,
                    "checkpoint": kind,
                    "n": len(scores),
                    "accuracy": float(np.mean([s["accuracy"] for s in scores])),
                    "eod_max": float(np.mean([s["eod_max"] for s in scores])),
                }
            )
    table = pd.crosstab(pd.Series(data.A_train, name="group"), pd.Series(data.y_train))
    top = table.max(axis=1) / table.sum(axis=1)
    return {
        "seed": seed,
        "rows": rows,
        "group_top_class_share": {str(g): float(v) for g, v in top.items()},
    }


def markdown(rows, meta, experts=()) -> str:
    """The tables of the diagnosis: one row per set, then the expert checkpoints."""
    table = [
        {
            "set": r["entry"],
            "seed": r["seed"],
            "moved from start": f"{r['moved']:.3f}",
            "majority bg, start": f"{100 * r['majority_background_start']:.0f} %",
            "majority bg, end": f"{100 * r['majority_background_end']:.0f} %",
            "border shift (RGB)": f"{r['border_shift_rgb']:.1f}",
            "Acc": f"{100 * r['accuracy']:.1f}",
            "EOD_M": f"{100 * r['eod_max']:.1f}",
            "EOD_A": f"{100 * r['eod_mean']:.1f}",
            "classes with a colour at recall 0": len(r["zero_recall"]),
            "classes with EOD ≥ 90": sum(v >= 0.9 for v in r["eod_per_class"].values()),
        }
        for r in rows
    ]
    same = all(
        abs(r["accuracy"] - r["record_first_run"]["accuracy"]) < 1e-9
        and abs(r["eod_max"] - r["record_first_run"]["eod_max"]) < 1e-9
        for r in rows
    )
    lines = [
        "# What the CAFE and MTT sets learnt (Colored MNIST BG, IPC 10, CPU-sized)",
        "",
        f"`{meta['command']}`, on the sets cached by `skdistill benchmark --preset cafe-mtt`. "
        "*moved*: ||x − x0|| / ||x0|| from the set's random real start; *majority bg*: share of "
        "synthetic images whose border colour is nearest to their class's majority colour; "
        "*border shift*: mean RGB distance (0–255) that the border colours moved; Acc, EOD_M, "
        "EOD_A: the benchmark's first evaluation model of the set (ConvNet, same settings and "
        "seed), per class and colour. The first evaluation model's accuracy and EOD_M "
        + ("equal" if same else "**differ from**")
        + " the benchmark record's first run for every set.",
        "",
        markdown_table(pd.DataFrame(table).set_index("set"), "set"),
        "",
        "Colour groups at recall 0, per class (first evaluation model):",
        "",
    ]
    for r in rows:
        cells = "; ".join(f"{c}: {', '.join(g)}" for c, g in r["zero_recall"].items()) or "none"
        lines.append(f"- {r['entry']}, seed {r['seed']}: {cells}")
    if experts:
        lines += [
            "",
            "## The expert checkpoints as classifiers",
            "",
            "MTT's start and target points, scored on the test split as networks (no synthetic "
            "data involved): the all-data expert is vanilla MTT's; the mean of the ten colour "
            "groups' experts (expert `e` of every group, from one initialisation) is COBRA-MTT's "
            "barycentric point; the last row scores one colour group's expert alone. Accuracy "
            "and EOD_M in points, mean over the experts (5 all-data experts, 5 barycenters, "
            "10 group experts).",
            "",
        ]
        table = pd.DataFrame(
            [
                {
                    "seed": r["seed"],
                    "epoch": r["epoch"],
                    "checkpoint": r["checkpoint"],
                    "Acc": f"{100 * r['accuracy']:.1f}",
                    "EOD_M": f"{100 * r['eod_max']:.1f}",
                }
                for found in experts
                for r in found["rows"]
            ]
        )
        lines += [markdown_table(table.set_index("seed"), "seed"), ""]
        shares = [v for found in experts[:1] for v in found["group_top_class_share"].values()]
        lines.append(
            "Share of a colour group's training digits that are its most frequent digit: "
            f"{100 * min(shares):.0f}–{100 * max(shares):.0f} % (the ten groups)."
        )
    lines += ["", f"Machine: {meta['machine']['processor']}; wall time {meta['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seeds", nargs="+", type=int, help="seeds to read (default: all)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1, as the benchmark; others change the evaluation models)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    config = make_config("cafe-mtt")
    runner = Runner(config, args.out, print)
    records = {r["key"]: r for r in runner.records}
    data = load_benchmark_dataset(DATASET)
    majority = majority_colours(data)
    rows = []
    for task in (t for tasks in plan(config).values() for t in tasks if t.get("method")):
        record = records.get(task_key(task))
        if record is None or (args.seeds is not None and task["seed"] not in args.seeds):
            continue
        row = diagnose(runner, task, data, record, majority)
        if row is not None:
            rows.append(row)
            print(
                f"[diagnosis] {row['entry']} seed {row['seed']}: moved {row['moved']:.3f}, "
                f"majority bg {row['majority_background_start']:.2f} -> "
                f"{row['majority_background_end']:.2f}, EOD_M {row['eod_max']:.2f}",
                flush=True,
            )
    experts = []
    for task in (t for tasks in plan(config).values() for t in tasks):
        if task.get("method") != "mtt" or task["target"] != "cobra":
            continue
        if args.seeds is not None and task["seed"] not in args.seeds:
            continue
        found = expert_diagnosis(runner, task, data)
        if found is not None:
            experts.append(found)
            print(f"[diagnosis] expert checkpoints, seed {task['seed']}: done", flush=True)
    meta = {
        "command": "python benchmarks/cafe_mtt_diagnosis.py " + " ".join(argv or sys.argv[1:]),
        "machine": machine(runner.device),
        "seconds": time.perf_counter() - start,
    }
    (args.out / "diagnosis.json").write_text(
        json.dumps({"meta": meta, "rows": rows, "experts": experts}, indent=1)
    )
    (args.out / "diagnosis.md").write_text(markdown(rows, meta, experts))
    print(markdown(rows, meta, experts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
