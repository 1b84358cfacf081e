"""How well groups found without labels recover the true ones (adjusted Rand index, per class).

For each dataset, :func:`skdistill.groups.discover_groups` runs on the training split with the
raw (standardised) inputs and with the features of a network trained on the labels, and
:func:`skdistill.groups.group_recovery` scores the result against the true groups. One run per
setting (``random_state=0``); the EOD reached when distilling with the found groups is not part
of this script.

    python benchmarks/discover_groups.py             # writes results/discover_groups.{json,md}
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from skdistill.benchmark import load_benchmark_dataset
from skdistill.groups import discover_groups, group_recovery

OUT = Path(__file__).parent / "results"
DATASETS = ["digits-bg", "cmnist-bg", "adult", "adult-sexrace"]


def main():
    rows = []
    for name in DATASETS:
        data = load_benchmark_dataset(name)
        for features in ("raw", "network"):
            start = time.perf_counter()
            found = discover_groups(
                data.X_train, data.y_train, features=features, max_groups=6, random_state=0
            )
            score = group_recovery(data.A_train, found.groups, data.y_train)
            rows.append(
                {
                    "dataset": name,
                    "title": data.title,
                    "features": features,
                    "true_groups": int(np.unique(data.A_train).shape[0]),
                    "k_per_class": {str(k): int(v) for k, v in found.n_groups.items()},
                    "ari": score.ari,
                    "seconds": time.perf_counter() - start,
                }
            )
            print(f"{name} {features}: ARI {score.ari:.3f}, K {found.n_groups}", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "discover_groups.json").write_text(json.dumps(rows, indent=1))
    lines = [
        "# Groups discovered without labels, against the true groups",
        "",
        "`skdistill.groups.discover_groups` (Gaussian mixtures per class on 10 PCA dimensions, "
        "K = 1..6 by BIC), scored by the adjusted Rand index per class, weighted by class size "
        "(1: recovered up to renaming, 0: chance). One run, `random_state=0`; network features: "
        "a ConvNet (images) or MLP (tables) trained 3 epochs on the labels. Made with "
        "`python benchmarks/discover_groups.py`.",
        "",
        "| dataset | true groups | features | K chosen per class | ARI | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ks = ", ".join(str(v) for v in r["k_per_class"].values())
        lines.append(
            f"| {r['title']} | {r['true_groups']} | {r['features']} | {ks} | {r['ari']:.3f} | "
            f"{r['seconds']:.0f} |"
        )
    (OUT / "discover_groups.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
