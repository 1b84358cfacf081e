"""Dataset condensation with gradient matching (DC; with ``augment="dsa"``, DSA)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .._device import cpu_chunk
from .._transfer import to_device
from ..nn import build_network, reinitialize_
from ..nn._sgd import train_epochs
from ._base import Method
from ._rowgrad import RowGradients, weighted_cross_entropy

#: The reference (outer_loop, inner_loop) schedule per IPC.
REFERENCE_LOOPS = {1: (1, 1), 10: (10, 50), 20: (20, 25), 30: (30, 20), 40: (40, 15), 50: (50, 10)}

#: Real samples per class that set batch-norm statistics before matching (reference value).
BN_SAMPLES_PER_CLASS = 16

DISTANCES = ("layerwise", "mse", "cos")


def reference_loops(ipc):
    """``(outer_loop, inner_loop)`` of the reference code for ``ipc``.

    The reference defines IPC 1, 10, 20, 30, 40 and 50; another IPC up to 50 takes the
    schedule of the next defined one, and IPC above 50 takes ``(100, 10)``.
    """
    if ipc > 50:
        return 100, 10
    return REFERENCE_LOOPS[min(k for k in REFERENCE_LOOPS if k >= ipc)]


def layerwise_distance(real, synthetic, shapes):
    """The reference layer-wise gradient distance, summed over rows.

    Each parameter's gradient is viewed as ``(out, rest)``; the distance adds ``1 - cosine``
    over its output rows. 1-D parameters (biases, norms) contribute nothing.
    """
    total = real.new_zeros(())
    start = 0
    for shape in shapes:
        size = math.prod(shape)
        if len(shape) >= 2:
            r = real[:, start : start + size].reshape(real.shape[0], shape[0], -1)
            s = synthetic[:, start : start + size].reshape(real.shape[0], shape[0], -1)
            cos = (r * s).sum(-1) / (r.norm(dim=-1) * s.norm(dim=-1) + 1e-6)
            total = total + (1 - cos).sum()
        start += size
    return total


class GradientMatching(Method):
    """DC (Zhao et al., 2021): match the gradients of the classification loss, class by class.

    Each iteration draws a fresh network. It then runs ``outer_loop`` matching steps; between
    two steps the network is trained for ``inner_loop`` epochs on the synthetic set (SGD,
    ``lr_net``). The real statistic of a row is the gradient of the *weighted* cross-entropy
    of its samples, ``grad_theta sum_i w_i l(x_i)``: one backward pass gives the class mean
    (vanilla) or the mean of group means (COBRA), since gradients are linear in the loss.
    FairDD's per-group gradients come from each group's own samples (the groups partition the
    batch); small rows share forward/backward passes, their per-row weight gradients formed
    from each layer's inputs and output gradients
    (:class:`~skdistill.methods._rowgrad.RowGradients`), so every target costs about one pass
    over the batch.

    Batch-norm networks (``net_norm="batch"``) get their statistics at every matching step as
    in the reference (``BN_flag``, ``BNSizePC = 16``): 16 real samples per class drawn afresh
    at random from the whole class (not from the matching batch, which is group-stratified
    and may be sorted by group), *not* augmented, are forwarded once in training mode; every
    batch-norm layer is then frozen in evaluation mode for the step, so that every sample's
    gradient depends on that sample alone. The estimator provides these samples through
    :attr:`sample_real_class`; without it (a method used on its own) they are drawn at random
    from the un-augmented matching batch.

    Parameters
    ----------
    sample_shape : tuple of int
        ``(C, H, W)`` (ConvNet) or ``(d,)`` (MLP).
    n_classes : int
        Number of classes.
    ipc : int
        Synthetic samples per class (chooses the reference loop schedule).
    net_width, net_depth : int or None
        Network size; ``None`` takes the reference defaults.
    net_norm : {"instance", "batch", "none"} or None
        ConvNet normalisation; instance norm when None.
    distance : {"layerwise", "mse", "cos"} or None
        Gradient distance; ``"layerwise"`` (the reference's) when None.
    outer_loop, inner_loop : int or None
        Matching steps per iteration and network-training epochs between them; the reference
        schedule for ``ipc`` when None.
    device : torch.device
        Where the network runs.
    augment : DSA or None
        Siamese augmentation while matching; also applied (non-siamese) in the inner loop.

    Attributes
    ----------
    sample_real_class : callable or None
        ``sample_real_class(cls, n)`` returns ``min(n, n_cls)`` real samples of class ``cls``
        (a tensor ``(m, *sample_shape)`` in internal units, not augmented), drawn at random
        without replacement from the whole class. Set once by the estimator; used for the
        batch-norm statistics (:data:`BN_SAMPLES_PER_CLASS` per class and matching step).
    """

    name = "dc"
    options = frozenset({"ipc", "net_norm", "distance", "augment", "outer_loop", "inner_loop"})
    per_class = True
    default_lr = 0.1
    distances = DISTANCES
    lr_net = 0.01

    def __init__(
        self,
        sample_shape,
        n_classes,
        *,
        ipc=10,
        net_width=None,
        net_depth=None,
        net_norm=None,
        distance=None,
        outer_loop=None,
        inner_loop=None,
        device,
        augment=None,
    ):
        super().__init__(device, augment)
        self.distance_name = distance or self.distances[0]
        if self.distance_name not in self.distances:
            raise ValueError(
                f"distance must be one of {list(self.distances)} for method={self.name!r}; "
                f"got {distance!r}."
            )
        self.n_classes = n_classes
        self.network = build_network(sample_shape, n_classes, net_width, net_depth, net_norm)
        self.network.to(device)
        if self.chunk is not None:
            self.chunk = cpu_chunk(self.network, sample_shape)
        self.template = None
        if device.type != "cpu":
            self.template = build_network(sample_shape, n_classes, net_width, net_depth, net_norm)
        self.batch_norms = [
            m for m in self.network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
        ]
        default_outer, default_inner = self.default_loops(ipc)
        self.outer_loop = default_outer if outer_loop is None else outer_loop
        self.inner_loop = default_inner if inner_loop is None else inner_loop
        self.params = [p for p in self.network.parameters() if self.matches_parameter(p)]
        self.shapes = [tuple(p.shape) for p in self.params]
        self.row_gradients = RowGradients(self.network, self.params)
        self.optimizer = None
        self.sample_real_class = None

    def default_loops(self, ipc):
        """The ``(outer_loop, inner_loop)`` used when none is given."""
        return reference_loops(ipc)

    def matches_parameter(self, parameter) -> bool:
        """Whether a parameter's gradient is part of the matched statistic."""
        return parameter.ndim >= 2 or self.distance_name != "layerwise"

    def begin_iteration(self, seed):
        """Draw a fresh network and its optimiser."""
        super().begin_iteration(seed)
        reinitialize_(self.network, seed, self.template)
        self.network.train()
        self.optimizer = torch.optim.SGD(self.network.parameters(), lr=self.lr_net)

    # ------------------------------------------------------------------ gradients
    def match(self, x_real, plan, synthetic, ipc):
        """Set and freeze the batch-norm statistics, then match (see :class:`Method`).

        ``x_real`` is still un-augmented here: the fallback of :meth:`_freeze_batch_norm`
        (no :attr:`sample_real_class`) sees the real images, as the reference's do.
        """
        self._freeze_batch_norm(x_real, plan)
        return super().match(x_real, plan, synthetic, ipc)

    def _batch_norm_samples(self, x, plan):
        """:data:`BN_SAMPLES_PER_CLASS` real samples of every class, not augmented.

        Fresh random samples of the whole class from :attr:`sample_real_class` (the
        reference's ``get_images(c, BNSizePC)``); without it, samples of the class drawn at
        random from the matching batch ``x``.
        """
        if self.sample_real_class is not None:
            return torch.cat(
                [
                    to_device(self.sample_real_class(c, BN_SAMPLES_PER_CLASS), self.device)
                    for c in range(self.n_classes)
                ]
            )
        sample_class = plan.row_class[plan.row]
        pick = []
        for c in range(self.n_classes):
            members = np.flatnonzero(sample_class == c)
            order = torch.randperm(members.shape[0], generator=self.generator).numpy()
            pick.append(members[order[:BN_SAMPLES_PER_CLASS]])
        return x[to_device(np.concatenate(pick), x.device)]

    def _freeze_batch_norm(self, x, plan):
        """Batch-norm statistics from one training-mode pass over real samples, then frozen.

        As the reference: the whole network in training mode forwards
        :data:`BN_SAMPLES_PER_CLASS` un-augmented real samples per class once (every running
        mean and variance moves by the layer's momentum towards their statistics), then every
        batch-norm layer is put in evaluation mode until the network trains again.
        """
        if not self.batch_norms:
            return
        x_bn = self._batch_norm_samples(x, plan)
        self.network.train()
        with torch.no_grad():
            self.network(x_bn)
        for bn in self.batch_norms:
            bn.eval()

    def weighted_gradient(self, x, labels, weights, *, create_graph=False):
        """Flat gradient of ``sum_i weights_i * CE(x_i, labels_i)`` w.r.t. the matched parameters.

        Without ``create_graph`` (real data), the batch is processed in cache-sized chunks on
        the CPU, their gradients summed.
        """
        chunk = x.shape[0] if (self.chunk is None or create_graph) else self.chunk
        total = None
        for i in range(0, x.shape[0], chunk):
            logits = self.network(x[i : i + chunk])
            loss = weighted_cross_entropy(logits, labels[i : i + chunk], weights[i : i + chunk])
            grads = torch.autograd.grad(loss, self.params, create_graph=create_graph)
            flat = torch.cat([g.reshape(-1) for g in grads])
            total = flat if total is None else total + flat
        return total

    def real_statistics(self, x, plan):
        """Per-row gradients, each from its own samples, in shared passes over the batch.

        Rows share forward/backward passes (:class:`~skdistill.methods._rowgrad.RowGradients`)
        of at most one class's worth of samples (cache-sized chunks on the CPU); a network
        that couples samples falls back to one pass per row.
        """
        if any(bn.training for bn in self.batch_norms):  # called on its own, not via match
            self._freeze_batch_norm(x, plan)
        sample_class = plan.row_class[plan.row]
        labels = to_device(sample_class, x.device)
        weights = to_device(plan.weight, x.device, x.dtype)
        if self.row_gradients.supported:
            cap = self.chunk or int(np.bincount(sample_class).max())
            return self.row_gradients(x, labels, weights, plan.row, plan.n_rows, cap)
        order = np.argsort(plan.row, kind="stable")
        bounds = np.searchsorted(plan.row[order], np.arange(plan.n_rows + 1))
        rows = []
        for r in range(plan.n_rows):
            idx = to_device(order[bounds[r] : bounds[r + 1]], x.device)
            rows.append(self.weighted_gradient(x[idx], labels[idx], weights[idx]).detach())
        return torch.stack(rows)

    def synthetic_statistics(self, x_syn, ipc, classes):
        """Gradient of the mean cross-entropy of each class block, differentiable in ``x_syn``."""
        stats = []
        for k, c in enumerate(classes):
            views = self.views(x_syn[k * ipc : (k + 1) * ipc], ipc, [c])
            labels = torch.full((views.shape[0],), int(c), device=views.device)
            weights = views.new_full((views.shape[0],), 1.0 / views.shape[0])
            stats.append(self.weighted_gradient(views, labels, weights, create_graph=True))
        return torch.stack(stats)

    def distance(self, real, synthetic):
        """The chosen gradient distance, summed over rows."""
        if self.distance_name == "layerwise":
            return layerwise_distance(real, synthetic, self.shapes)
        if self.distance_name == "mse":
            return ((real - synthetic) ** 2).sum()
        cos = (real * synthetic).sum(1) / (real.norm(dim=1) * synthetic.norm(dim=1) + 1e-6)
        return (1 - cos).sum()

    # ------------------------------------------------------------------ inner loop
    def inner_update(self, synthetic, synthetic_labels, sample_real):
        """Train the network for ``inner_loop`` epochs on the synthetic set."""
        x_all = self.decode(synthetic, None)
        labels = to_device(np.repeat(synthetic_labels, self.samples_per_stored()), synthetic.device)
        self.network.train()
        train_epochs(
            self.network,
            x_all,
            labels,
            self.optimizer,
            epochs=self.inner_loop,
            generator=self.generator,
            augment=self.augment,
        )
