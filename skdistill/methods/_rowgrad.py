"""Parameter gradients of many disjoint sample sets ("rows") from shared forward/backward passes.

Gradient matching needs, for every row ``r`` of a :class:`~skdistill.targets.RowPlan`, the
gradient ``grad_theta sum_{i in r} w_i l(x_i)``. Back-propagating each row on its own costs one
pass per row: with FairDD's (class, group) rows that is ``G`` times as many passes as vanilla,
each over ``1/G`` of the samples, and at small shapes the fixed cost per operation dominates.

When every sample's output depends on that sample alone (instance norm, frozen batch norm,
no norm), the weight gradient of a layer is a sum over samples of a product of the layer's
input and the gradient at its output. :class:`RowGradients` therefore runs one forward and one
backward pass over several rows at once, records each layer's input and output gradient with
hooks, and forms the per-row weight gradients itself: a grouped ``conv2d_weight`` for
convolutions (rows stacked along the channel axis), a batched matrix product for linear layers,
segment sums for biases and norm affines. The arithmetic is that of ordinary back-propagation;
rows are cut into equal-sized *sub-rows* (padded with zero-weight samples) so that they stack.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.grad import conv2d_weight

from .._transfer import to_device

try:
    from torch.autograd.graph import get_gradient_edge
except ImportError:  # torch < 2.2: every row gets its own pass (see ``supported``)
    get_gradient_edge = None

#: Extra (padded) samples tolerated when cutting rows into equal sub-rows.
PADDING_SLACK = 1.10

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


def weighted_cross_entropy(logits, labels, weights):
    """``sum_i weights_i * CE(logits_i, labels_i)``: the loss whose gradients are matched."""
    return (F.cross_entropy(logits, labels, reduction="none") * weights).sum()


def subrow_size(sizes, cap):
    """The largest sub-row size ``<= cap`` whose padding stays within :data:`PADDING_SLACK`.

    Every row of ``sizes[r]`` samples is cut into ``ceil(sizes[r] / n)`` sub-rows of ``n`` slots.
    """
    sizes = np.asarray(sizes)
    sizes = sizes[sizes > 0]
    n = np.arange(1, max(1, min(int(cap), int(sizes.max()))) + 1)
    padded = (np.ceil(sizes[None, :] / n[:, None]) * n[:, None]).sum(axis=1)
    return int(n[padded <= PADDING_SLACK * sizes.sum()].max())


def _layout(row, sizes, n):
    """Slots of the sub-rows (``-1`` = padding) and the row of each sub-row.

    ``sizes[r]`` is the number of samples of row ``r`` (``np.bincount(row)``).
    """
    per_row = -(-sizes // n)
    order = np.argsort(row, kind="stable")
    sorted_rows = row[order]
    position = np.arange(row.shape[0]) - (np.cumsum(sizes) - sizes)[sorted_rows]
    first_subrow = np.cumsum(per_row) - per_row
    slot = (first_subrow[sorted_rows] + position // n) * n + position % n
    slots = np.full(int(per_row.sum()) * n, -1, dtype=np.int64)
    slots[slot] = order
    return slots, np.repeat(np.arange(sizes.shape[0]), per_row)


class RowGradients:
    """Per-row gradients of a weighted cross-entropy w.r.t. some of a network's parameters.

    Parameters
    ----------
    network : nn.Module
        The network; it must treat every sample on its own (checked by :attr:`supported`).
    params : list of Parameter
        The parameters whose gradients are wanted, in the order of the flat result.
    """

    def __init__(self, network, params):
        self.network = network
        self.params = list(params)
        owner = {}
        for module in network.modules():
            for name, parameter in module.named_parameters(recurse=False):
                owner[id(parameter)] = (module, name)
        self.entries = [owner.get(id(p)) for p in self.params]
        self.modules = list(dict.fromkeys(m for m, _ in filter(None, self.entries)))
        self._static = get_gradient_edge is not None and all(
            e is not None and self._module_ok(e[0]) for e in self.entries
        )
        self._batch_norms = [m for m in network.modules() if isinstance(m, _BATCH_NORMS)]

    @staticmethod
    def _module_ok(module):
        if isinstance(module, nn.Conv2d):
            return (
                module.groups == 1
                and module.padding_mode == "zeros"
                and not isinstance(module.padding, str)
            )
        if isinstance(module, _BATCH_NORMS):
            return module.track_running_stats
        return isinstance(module, (nn.Linear, nn.GroupNorm))

    @property
    def supported(self):
        """Whether rows can share passes: known layers, no training batch norm, torch >= 2.2."""
        return self._static and not any(bn.training for bn in self._batch_norms)

    def __call__(self, x, labels, weights, row, n_rows, cap):
        """``(n_rows, P)`` flat gradients of ``sum_{i in row r} weights_i CE(x_i, labels_i)``.

        ``row`` (numpy) gives each sample's row; one pass holds at most ``cap`` samples
        (rounded to whole sub-rows).
        """
        sizes = np.bincount(row, minlength=n_rows)
        n = subrow_size(sizes, cap)
        slots, subrow_row = _layout(row, sizes, n)
        per_pass = max(1, int(cap) // n)
        slots = _interleave(slots, n, per_pass)
        slots_t = to_device(slots, x.device)
        valid = slots_t >= 0
        index = slots_t.clamp(min=0)
        # padding slots repeat sample 0 with weight 0: their output gradients are exactly zero
        x_all, labels_all = x.detach()[index], labels[index]
        weights_all = torch.where(valid, weights[index], torch.zeros((), dtype=weights.dtype))
        subrow_row_t = to_device(subrow_row, x.device)
        total = x.new_zeros((n_rows, sum(p.numel() for p in self.params)))

        calls = []  # (module, input, gradient edge of the output) of every hooked call
        recording = [False]

        def forward_hook(module, args, output):
            if recording[0]:
                # the edge is taken before any in-place op on ``output`` (e.g. ReLU): its
                # gradient is d loss / d output, and back-propagation stops there
                calls.append((module, args[0].detach(), get_gradient_edge(output)))

        handles = [m.register_forward_hook(forward_hook) for m in self.modules]
        try:
            for start in range(0, subrow_row.shape[0], per_pass):
                stop = min(start + per_pass, subrow_row.shape[0])
                sl = slice(start * n, stop * n)
                calls.clear()
                # a single sub-row: plain back-propagation (one fused call per layer)
                recording[0] = stop - start > 1
                flat = self._pass(x_all[sl], labels_all[sl], weights_all[sl], calls, n)
                total.index_add_(0, subrow_row_t[start:stop], flat.to(total.dtype))
        finally:
            for handle in handles:
                handle.remove()
        return total

    def _pass(self, x, labels, weights, calls, n):
        """``(k, P)`` gradients of the ``k`` sub-rows of ``n`` samples in one pass over ``x``.

        ``calls`` fills with the hooked layer calls of the forward pass when ``k > 1``.
        """
        k = x.shape[0] // n
        with torch.enable_grad():
            loss = weighted_cross_entropy(self.network(x), labels, weights)
            wanted = self.params if k == 1 else [edge for _, _, edge in calls]
            grads = torch.autograd.grad(loss, wanted, allow_unused=True)
        if k == 1:
            return torch.cat(
                [
                    p.new_zeros(1, p.numel()) if g is None else g.reshape(1, -1)
                    for p, g in zip(self.params, grads, strict=True)
                ],
                dim=1,
            )
        per_call = [(m, a, g) for (m, a, _), g in zip(calls, grads, strict=True)]
        return torch.cat(
            [
                _subrow_grad(entry, p, per_call, k, n)
                for entry, p in zip(self.entries, self.params, strict=True)
            ],
            dim=1,
        )


def _subrow_grad(entry, parameter, calls, k, n):
    """``(k, numel)`` gradient of ``parameter`` per sub-row, summed over its module's calls."""
    module, name = entry
    total = parameter.new_zeros((k, parameter.numel()))
    for owner, a, g in calls:
        if owner is module and g is not None:  # None: the call did not reach the loss
            total += _one_call(module, name, a, g, k, n).reshape(k, -1)
    return total


def _interleave(slots, n, per_pass):
    """Reorder every pass's slots from sub-row-major to slot-major.

    Within a pass of ``k`` sub-rows, sample ``j`` of sub-row ``s`` moves to position
    ``j * k + s``: a ``(n * k, C, ...)`` activation is then, without a copy, the
    ``(n, k * C, ...)`` tensor whose channel group ``s`` is sub-row ``s``.
    """
    out = slots.copy()
    for start in range(0, slots.shape[0], per_pass * n):
        block = slots[start : start + per_pass * n]
        k = block.shape[0] // n
        out[start : start + k * n] = block.reshape(k, n).T.reshape(-1)
    return out


def _one_call(module, name, a, g, k, n):
    """Per-sub-row gradient of ``module.<name>`` from one call's input ``a`` and output grad ``g``.

    Samples are slot-major (see :func:`_interleave`): sample ``j * k + s`` is in sub-row ``s``.
    Computed in float32 (under autocast ``a`` or ``g`` may be of a lower precision).
    """
    a, g = a.float(), g.float()
    if isinstance(module, nn.Linear):
        # (n * k, ..., features) -> (k, n * ..., features)
        a = a.reshape(n, k, -1, a.shape[-1]).transpose(0, 1).reshape(k, -1, a.shape[-1])
        g = g.reshape(n, k, -1, g.shape[-1]).transpose(0, 1).reshape(k, -1, g.shape[-1])
        return g.sum(1) if name == "bias" else torch.bmm(g.transpose(1, 2), a)
    channels = g.shape[1]
    if name == "bias":
        return g.reshape(n, k, channels, -1).sum((0, 3))
    if isinstance(module, nn.Conv2d):
        out_channels, in_channels, kh, kw = module.weight.shape
        return conv2d_weight(
            a.reshape(n, k * in_channels, *a.shape[2:]),
            (k * out_channels, in_channels, kh, kw),
            g.reshape(n, k * out_channels, *g.shape[2:]),
            stride=module.stride,
            padding=module.padding,
            dilation=module.dilation,
            groups=k,
        )
    # norm affine weight: sum of output gradient times the normalised input
    if isinstance(module, nn.GroupNorm):
        normalised = F.group_norm(a, module.num_groups, eps=module.eps)
    else:  # frozen batch norm
        normalised = F.batch_norm(
            a, module.running_mean, module.running_var, training=False, eps=module.eps
        )
    return (g * normalised).reshape(n, k, channels, -1).sum((0, 3))
