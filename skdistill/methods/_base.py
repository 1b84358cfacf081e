"""What a matching method is: a representation of samples and a distance between statistics."""

from __future__ import annotations

import numpy as np
import torch

from ..targets import RowPlan

#: Samples per forward pass on the CPU. Instance-normalised networks treat every sample on its
#: own, so splitting a batch changes no result, while activations that stay in cache make the
#: memory-bound layers (norm, ReLU, pooling) about twice as fast on a 2-core CPU.
CPU_CHUNK = 32


def chunked(fn, x, chunk):
    """``fn(x)`` computed ``chunk`` samples at a time (all at once when ``chunk`` is None)."""
    if chunk is None or x.shape[0] <= chunk:
        return fn(x)
    return torch.cat([fn(x[i : i + chunk]) for i in range(0, x.shape[0], chunk)])


class Method:
    """Base class of matching methods.

    A method never knows which target is used. It computes, for the rows of a
    :class:`~skdistill.targets.RowPlan`, the weighted statistics of real samples, the
    per-class statistics of the synthetic samples, and a distance between them; the loss is
    ``sum_r D(real_r, synthetic_{row_class[r]})``.
    """

    name = "base"

    def __init__(self, device):
        self.device = device
        self.chunk = CPU_CHUNK if device.type == "cpu" else None

    def begin_iteration(self, seed: int) -> None:
        """Prepare the representation for one outer iteration (e.g. draw a fresh network)."""

    def real_statistics(self, x, plan: RowPlan) -> torch.Tensor:
        """``(n_rows, ...)`` statistics ``sum_{i in row r} weight_i phi(x_i)``."""
        raise NotImplementedError

    def synthetic_statistics(self, x_syn, ipc) -> torch.Tensor:
        """``(n_classes_in_x_syn, ...)`` statistics of consecutive ``ipc``-sized class blocks."""
        raise NotImplementedError

    def distance(self, real, synthetic) -> torch.Tensor:
        """Sum over rows of the distance between matched statistics."""
        raise NotImplementedError

    def match(self, x_real, plan: RowPlan, synthetic, ipc) -> torch.Tensor:
        """Back-propagate the matching loss into ``synthetic.grad`` and return its value.

        The real statistics of the plan's rows are turned into matched targets by
        ``plan.targets`` (identity, or e.g. a barycenter per class).

        The loss is a sum of per-class terms, each depending only on that class's synthetic
        block, so it is back-propagated one class at a time on the CPU (cache-sized passes)
        and in one pass on other devices; the gradients are the same.
        """
        real, row_class = plan.targets(self.real_statistics(x_real, plan))
        n_classes = synthetic.shape[0] // ipc
        blocks = [np.arange(n_classes)] if self.chunk is None else np.arange(n_classes)[:, None]
        total = torch.zeros((), device=synthetic.device)
        for classes in blocks:
            first = int(classes[0])
            syn = self.synthetic_statistics(synthetic[first * ipc : (classes[-1] + 1) * ipc], ipc)
            rows = np.flatnonzero(np.isin(row_class, classes))
            index = torch.as_tensor(row_class[rows] - first, device=syn.device)
            loss = self.distance(real[torch.as_tensor(rows, device=real.device)], syn[index])
            loss.backward()
            total += loss.detach()
        return total
