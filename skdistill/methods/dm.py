"""Distribution matching (DM): match mean embeddings of a freshly drawn random network."""

from __future__ import annotations

import torch

from .._device import chunked
from .._transfer import to_device
from ..nn import build_network, reinitialize_
from ..nn._sgd import train_epochs
from ._base import Method


def weighted_row_sums(values, plan, *, start=0, out=None):
    """``(n_rows, d)`` sums of ``weight_i * values_i`` per row, in one scatter.

    ``values`` may hold the samples ``start, start + 1, ...`` of the batch only (one chunk);
    their sums are then added into ``out`` when given.
    """
    stop = start + values.shape[0]
    row = to_device(plan.row[start:stop], values.device)
    weight = to_device(plan.weight[start:stop], values.device, values.dtype)
    if out is None:
        out = values.new_zeros((plan.n_rows, values.shape[1]))
    return out.index_add_(0, row, values * weight[:, None])


class DistributionMatching(Method):
    """DM (Zhao & Bilen, 2023): squared L2 between mean embeddings of a fresh random network.

    Parameters
    ----------
    sample_shape : tuple of int
        ``(C, H, W)`` for images (ConvNet embedding) or ``(d,)`` for rows (MLP embedding).
    n_classes : int
        Number of classes.
    net_width, net_depth : int or None
        Network size; ``None`` takes the reference defaults.
    distance : {"l2", "l1"} or None
        Squared L2 (the reference, when None) or L1 distance between mean embeddings.
    device : torch.device
        Where the network runs.
    augment : DSA or None
        Siamese augmentation of each class's real and synthetic batch.
    net_warmup_epochs : int or None
        Epochs of training of each fresh network on the current synthetic set before
        matching (SGD, lr 0.01, momentum 0.9, batches of 256); ``None``/0: random network.
    """

    name = "dm"
    options = frozenset({"distance", "augment", "net_warmup_epochs"})
    plan_kinds = frozenset({"rows", "clouds"})
    distances = ("l2", "l1")
    default_lr = 1.0
    default_augment = "dsa"  # the reference DM always uses DSA on images

    def __init__(
        self,
        sample_shape,
        n_classes,
        *,
        net_width=None,
        net_depth=None,
        distance=None,
        device,
        augment=None,
        net_warmup_epochs=None,
    ):
        super().__init__(device, augment)
        self.distance_name = distance or "l2"
        self.net_warmup_epochs = net_warmup_epochs or 0
        self.network = build_network(sample_shape, n_classes, net_width, net_depth).to(device)
        self.network.requires_grad_(False)  # only the synthetic samples are optimised
        self.template = None
        if device.type != "cpu":
            self.template = build_network(sample_shape, n_classes, net_width, net_depth)

    def begin_iteration(self, seed):
        """Draw a fresh random network (and seed the augmentation)."""
        super().begin_iteration(seed)
        reinitialize_(self.network, seed, self.template)

    def prepare(self, synthetic, synthetic_labels):
        """Warm the fresh network up on the synthetic set (``net_warmup_epochs`` epochs)."""
        if not self.net_warmup_epochs:
            return
        x_all = self.decode(synthetic, None)
        labels = to_device(synthetic_labels, x_all.device)
        self.network.requires_grad_(True).train()
        optimizer = torch.optim.SGD(self.network.parameters(), lr=0.01, momentum=0.9)
        train_epochs(
            self.network,
            x_all,
            labels,
            optimizer,
            epochs=self.net_warmup_epochs,
            generator=self.generator,
        )
        self.network.requires_grad_(False)

    def real_representations(self, x):
        """Embeddings of a real batch, in one pass without autograd."""
        with torch.no_grad():
            return chunked(self.network.embed, x, self.chunk)

    def synthetic_representations(self, x_syn, ipc, classes):
        """Embeddings of the (augmented) views of the class blocks."""
        return self.network.embed(self.views(x_syn, ipc, classes))

    def real_statistics(self, x, plan):
        """Weighted mean embeddings of every row, from one pass over the batch."""
        return weighted_row_sums(self.real_representations(x).float(), plan)

    def synthetic_statistics(self, x_syn, ipc, classes):
        """Mean embedding of each class block."""
        emb = self.synthetic_representations(x_syn, ipc, classes).float()
        return emb.reshape(-1, ipc, emb.shape[1]).mean(dim=1)

    def distance(self, real, synthetic):
        """Sum of squared L2 (or L1) distances."""
        diff = real - synthetic
        return (diff**2).sum() if self.distance_name == "l2" else diff.abs().sum()
