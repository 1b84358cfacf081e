"""DC and IDC on the embedded Colored MNIST (background): vanilla vs COBRA vs FairDD at IPC 10.

CPU-sized settings (the image demo's for these methods): ConvNet width 64, 64 real images per
class, 10 iterations of 10 matching steps (DC: 10 inner epochs on the synthetic set between
steps; IDC: 2 real batches of 128), group-balanced real initialisation, random_state 0. Each
synthetic set is scored by one ConvNet (width 128) trained 100 epochs on it, on the
colour-balanced test split (every held-out digit in all ten colours).

    python benchmarks/gradient_matching_cmnist.py dc     # about 10 minutes on 2 CPU cores
    python benchmarks/gradient_matching_cmnist.py idc    # about 15 minutes
"""

import sys
import time

from skdistill import BarycentricDistiller
from skdistill.datasets import load_colored_mnist
from skdistill.evaluation import evaluate_synthetic
from skdistill.methods import DC, IDC

METHODS = {
    "dc": DC(outer_loop=10, inner_loop=10),
    "idc": IDC(outer_loop=10, inner_loop=2),
}


def main(method="dc", init="balanced", n_iter=10):
    data = load_colored_mnist("bg")
    for target in ["vanilla", "cobra", "fairdd"]:
        start = time.time()
        distiller = BarycentricDistiller(
            method=METHODS[method],
            target=target,
            ipc=10,
            n_iter=n_iter,
            batch_real=64,
            net_width=64,
            init=init,
            random_state=0,
        )
        distiller.fit(data.X_train, data.y_train, sensitive_features=data.sensitive_features_train)
        distil = time.time() - start
        X_syn, y_syn = distiller.X_synthetic_, distiller.y_synthetic_
        runs = evaluate_synthetic(
            X_syn,
            y_syn,
            data.X_test,
            data.y_test,
            data.sensitive_features_test,
            n_runs=1,
            epochs=100,
            random_state=0,
        ).runs
        print(
            method,
            init,
            target,
            f"distil {distil:.0f}s eval {time.time() - start - distil:.0f}s "
            f"acc {100 * runs.accuracy.mean():.1f} eod {100 * runs.eod_max.mean():.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "dc")
