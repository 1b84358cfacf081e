"""Data-parallel fits under :mod:`torch.distributed`: every rank holds one slice of the data.

When a process group is initialised (e.g. under ``torchrun``), a fit splits the real samples
into contiguous slices, one per rank, and each rank encodes and reads only its own. The
synthetic set is small and replicated: every rank runs the same iterations with the same
generator, so every rank draws the same global batch of indices and the same network seed.
Each rank then embeds only the samples of the batch that lie in its slice and forms their
weighted row sums; one ``all_reduce(SUM)`` of those sums (:class:`SlicedRowPlan`) gives
every rank the statistics of the whole batch — the same class means, group means and
barycenters as one process would compute, to float rounding. Samples needed whole by every
rank (the initial synthetic set, a method's extra real draws) are assembled the same way:
each rank fills the rows it owns, zeros elsewhere, and the sum is the full batch.

This module is the only place that knows about the process group; the methods and targets
never do.
"""

from __future__ import annotations

import dataclasses
import functools
import numbers
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from .targets._base import RowPlan

MSG_WORLD_SIZE = (
    "the process group has {world} processes (world size) but X has only {n} samples: every "
    "rank needs at least one. Launch at most {n} processes (torchrun --nproc_per_node)."
)
MSG_SEEDS = (
    "random_state differs between ranks ({values}): every rank must draw the same batches. "
    "Pass the same integer random_state to fit on every rank."
)
MSG_DATA = (
    "the ranks were given different data (X, y and sensitive_features must be the same on "
    "every rank; {what} differ: {values}). Pass every rank the same inputs; each rank reads "
    "only its own slice of them."
)
MSG_METHOD = (
    "method={method!r} cannot fit under torch.distributed: only methods whose real statistics "
    "are weighted row sums are split across processes (dm, dc, idc, and cafe without its "
    "discrimination loss; mtt trains experts on whole data). Fit it in one process."
)
MSG_TARGET = (
    "target={target!r} cannot fit under torch.distributed: it matches whole distributions of "
    "real representations, not weighted row sums. Use a row target (vanilla, uniform, fairdd, "
    "cobra, reweighted), or fit in one process."
)
MSG_PAIRING = (
    "augment={augment!r} pairs real and synthetic samples one by one, which a rank holding "
    "part of the batch cannot do. Use DSA(pairing='shared') (the default), or fit in one "
    "process."
)


def process_group():
    """``(rank, world_size)`` of the initialised process group, or None in one process."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    return dist.get_rank(), dist.get_world_size()


def is_main_process() -> bool:
    """Whether this process writes outputs: rank 0, or the only process."""
    group = process_group()
    return group is None or group[0] == 0


def _communication_device(device):
    """Where a collective's tensors live: a CUDA device under nccl, the CPU otherwise."""
    if dist.get_backend() != "nccl":
        return torch.device("cpu")
    return device if device.type == "cuda" else torch.device("cuda", torch.cuda.current_device())


def all_reduce_sum(tensor):
    """``tensor`` summed over the ranks (a new tensor on ``tensor``'s device)."""
    buffer = tensor.to(_communication_device(tensor.device), copy=True)
    dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
    return buffer.to(tensor.device)


def broadcast_object(obj):
    """Rank 0's ``obj`` on every rank (``obj`` itself in one process)."""
    if process_group() is None:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _gather_objects(obj):
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def shared_seed(seed, random_state):
    """The generator seed of a fit, the same on every rank.

    With ``random_state=None`` rank 0's seed is taken; an explicit ``random_state`` that gives
    different seeds on different ranks is refused.
    """
    if process_group() is None:
        return seed
    if random_state is None:
        return broadcast_object(seed)
    given = random_state if isinstance(random_state, numbers.Integral) else "a generator"
    found = _gather_objects((int(seed), given))
    if len({s for s, _ in found}) > 1:
        raise ValueError(MSG_SEEDS.format(values=[g for _, g in found]))
    return seed


def check_components(method, target):
    """Refuse a method, target or augmentation that needs more than row sums."""
    if "rows" not in method.plan_kinds or not getattr(method, "row_sums_only", True):
        raise ValueError(MSG_METHOD.format(method=method.name))
    if target.plan_kind != "rows":
        raise ValueError(MSG_TARGET.format(target=target.name))
    augment = getattr(method, "augment", None)
    if augment is not None and getattr(augment, "pairing", "shared") != "shared":
        raise ValueError(MSG_PAIRING.format(augment=augment))


def slice_bounds(n, rank, world):
    """``(start, stop)`` of rank ``rank``'s contiguous slice of ``n`` samples."""
    if world > n:
        raise ValueError(MSG_WORLD_SIZE.format(world=world, n=n))
    edges = np.linspace(0, n, world + 1).round().astype(np.int64)
    return int(edges[rank]), int(edges[rank + 1])


def _check_same_data(data):
    """All ranks must see the same labels and groups (a cheap checksum of the codes)."""
    codes = np.stack([data.y_codes, data.g_codes])
    summary = (int(codes.shape[1]), int((codes * np.arange(1, codes.shape[1] + 1)).sum()))
    summaries = _gather_objects(summary)
    if len(set(summaries)) > 1:
        what = "sample counts" if len({s[0] for s in summaries}) > 1 else "labels or groups"
        raise ValueError(MSG_DATA.format(what=what, values=[s[0] for s in summaries]))


def rank_slice(data):
    """The :class:`RankSlice` of this rank, from a validated fit's data (a ``FitData``)."""
    rank, world = process_group()
    _check_same_data(data)
    n = int(data.y_codes.shape[0])
    start, stop = slice_bounds(n, rank, world)
    local = data.encoded(start, stop)
    return RankSlice(local, start, stop, (n, *data.codec.sample_shape))


class RankSlice:
    """The real samples of a data-parallel fit, as one rank holds them.

    Parameters
    ----------
    local : Tensor or lazy samples
        The encoded samples ``start:stop`` (a tensor, indexed from 0), or a lazy reader of the
        whole data indexed by global position (only this slice's positions are read).
    start, stop : int
        This rank's slice of the global positions.
    shape : tuple
        ``(n_samples, *sample_shape)`` of the whole data.
    """

    def __init__(self, local, start, stop, shape):
        self.local = local
        self.start = start
        self.stop = stop
        self.shape = tuple(shape)

    def __len__(self):
        return self.shape[0]

    def read(self, positions):
        """The encoded samples at global ``positions``, all inside this rank's slice."""
        if torch.is_tensor(self.local):
            return self.local[torch.as_tensor(positions - self.start)]
        return self.local[positions]

    def owned(self, positions):
        """Mask of the ``positions`` inside this rank's slice."""
        return (positions >= self.start) & (positions < self.stop)

    def __getitem__(self, positions):
        """The samples at any global ``positions``, assembled from every rank (a collective)."""
        positions = np.atleast_1d(np.asarray(positions, dtype=np.int64))
        out = torch.zeros((positions.shape[0], *self.shape[1:]))
        mine = self.owned(positions)
        if mine.any():
            out[torch.as_tensor(mine)] = self.read(positions[mine])
        return all_reduce_sum(out)

    def local_batch(self, batch, plan):
        """The samples of a global ``batch`` held by this rank, and their :class:`SlicedRowPlan`.

        A rank without samples in the batch reads its first sample with weight zero, so that
        every rank runs the same passes and collectives.
        """
        keep = np.flatnonzero(self.owned(batch))
        positions, weight = batch[keep], plan.weight[keep]
        if keep.size == 0:
            keep = np.zeros(1, dtype=np.int64)
            positions, weight = np.array([self.start]), np.zeros(1)
        fields = {f.name: getattr(plan, f.name) for f in dataclasses.fields(plan)}
        sliced = SlicedRowPlan(**dict(fields, row=plan.row[keep], weight=weight))
        return self.read(positions), sliced

    def fingerprint_parts(self):
        """Tensors that identify this rank's slice (checkpoints resume on the same layout)."""
        lazy = getattr(self.local, "fingerprint_parts", None)
        parts = lazy() if lazy is not None else [self.local]
        return parts + [torch.as_tensor([self.start, self.stop, self.shape[0]])]


@dataclasses.dataclass
class SlicedRowPlan(RowPlan):
    """A :class:`~skdistill.targets.RowPlan` of one rank's part of a batch.

    Its row statistics are summed over the ranks before they become targets, so every rank
    matches the statistics of the whole batch.
    """

    def targets(self, statistics):
        """The matched targets of the whole batch, from this rank's row statistics."""
        return super().targets(all_reduce_sum(statistics))


def main_process_writes(save):
    """Decorate ``save(estimator, path)`` so that rank 0 alone writes under a process group.

    The other ranks return ``Path(path)`` without writing.
    """

    @functools.wraps(save)
    def wrapper(estimator, path, *args, **kwargs):
        if not is_main_process():
            return Path(path)
        return save(estimator, path, *args, **kwargs)

    return wrapper
