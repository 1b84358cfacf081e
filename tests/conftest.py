import os

import numpy as np
import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one test process per core (pytest -n): one torch thread each, in this process and in
    # the processes its tests start, so that the workers do not oversubscribe the cores
    import torch

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


@pytest.fixture
def tabular():
    """3 classes x 2 groups, every cell populated, 5 features."""
    rng = np.random.default_rng(0)
    n = 240
    y = np.repeat([0, 1, 2], n // 3)
    groups = np.where(rng.random(n) < 0.75, "a", "b")
    X = rng.normal(size=(n, 5)) + y[:, None] + 2.0 * (groups == "b")[:, None]
    return X, y, groups


@pytest.fixture
def images():
    """60 uint8 RGB images 8x8 (NHWC), 2 classes, 2 groups."""
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, size=(60, 8, 8, 3), dtype=np.uint8)
    y = np.repeat([0, 1], 30)
    groups = np.tile([0, 0, 1], 20)
    return X, y, groups


TINY = dict(n_iter=3, batch_real=16, net_width=4, net_depth=2, random_state=0)


def tiny_fit(X, y, groups=None, **params):
    """Fit a tiny distiller (3 iterations, 3 samples per class) with overrides."""
    from skdistill import BarycentricDistiller

    kw = dict(TINY, ipc=3)
    kw.update(params)
    return BarycentricDistiller(**kw).fit(X, y, sensitive_features=groups)


def tiny_german_config(path, n_iter=2, **fields):
    """Write a one-seed, one-evaluation benchmark configuration on German at IPC 2."""
    import json

    tiny = {"tabular": {"n_iter": n_iter, "batch_real": 16, "net_width": 8}}
    config = {"datasets": ["german"], "ipc": [2], "seeds": 1, "eval_runs": 1, "budgets": tiny}
    path.write_text(json.dumps({**config, **fields}))
    return path
