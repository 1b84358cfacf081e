"""What a fit holds while it runs: its checkpoint folder, locked, and a share of the cores."""

from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext

import torch
from threadpoolctl import threadpool_limits

from ._distributed import is_main_process
from ._persistence import CheckpointFolder


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def resolve_threads(n_threads) -> int:
    """The thread count for ``n_threads``: ``None`` half the cores, ``-1`` all of them.

    The default is a fixed share of this machine's cores, never a function of the current
    load: the result of a fit can depend on the thread count (the order of floating-point
    sums), and the same seed on the same machine must give the same synthetic set.
    """
    cores = available_cores()
    if n_threads is None:
        return max(1, cores // 2)
    if n_threads == -1:
        return cores
    return int(n_threads)


@contextmanager
def limit_threads(n: int):
    """Run the block with ``n`` threads, restoring the previous settings on exit.

    Covers torch and the BLAS/OpenMP pools of numpy and scikit-learn (threadpoolctl).
    """
    before = torch.get_num_threads()
    with threadpool_limits(limits=n):
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(before)


@contextmanager
def fit_resources(checkpoint_dir, n_threads):
    """The locked checkpoint folder (or None) and the fit's threads, for its duration.

    The folder is checked writable and locked before the data are read; under a process
    group, by rank 0 alone (the other ranks have no folder).
    """
    if not is_main_process():
        checkpoint_dir = None
    folder = CheckpointFolder(checkpoint_dir) if checkpoint_dir is not None else None
    with folder or nullcontext(), limit_threads(resolve_threads(n_threads)):
        yield folder
