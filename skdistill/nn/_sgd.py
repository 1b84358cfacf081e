"""The one mini-batch training loop: the DM warm-up, the DC inner loop and the evaluator."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def train_epochs(
    network,
    X,
    y,
    optimizer,
    *,
    epochs,
    generator,
    batch_size=256,
    device=None,
    augment=None,
    chunk=None,
    sample_weight=None,
    scheduler=None,
    curve=None,
):
    """Train ``network`` with ``optimizer`` for ``epochs`` passes over shuffled mini-batches.

    Every epoch draws one permutation of the samples from ``generator``; every mini-batch is
    moved to ``device`` (``X``'s when None), augmented by ``augment(x, generator)`` when given
    (after the permutation, in mini-batch order, so the draws interleave the same way on every
    device), and back-propagated ``chunk`` samples at a time (all at once when None): the
    gradients of the chunks add up to that of the mean cross-entropy of the mini-batch.

    Parameters
    ----------
    network : torch.nn.Module
        Trained in place, in the mode the caller set.
    X, y : Tensor
        Samples and class codes.
    optimizer : torch.optim.Optimizer
        Optimiser of ``network``'s parameters; one step per mini-batch.
    epochs : int
        Passes over the data.
    generator : torch.Generator
        Source of the permutations and of the augmentation.
    batch_size : int, default=256
        Samples per mini-batch.
    device : torch.device, default=None
        Where the mini-batches are trained.
    augment : callable or None
        ``augment(x, generator)``, applied without autograd.
    chunk : int or None
        Samples per back-propagated chunk.
    sample_weight : Tensor or None
        Weight of each sample's loss (the mean over the mini-batch stays a plain mean of the
        weighted losses).
    scheduler : learning-rate scheduler or None
        Stepped once at the end of every epoch.
    curve : list or None
        Receives one ``{"epoch", "loss", "accuracy"}`` dict per epoch: the mean loss and
        accuracy of the epoch's (augmented) mini-batches, as they were trained on.
    """
    n = X.shape[0]
    device = X.device if device is None else device
    for epoch in range(epochs):
        seen = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, samples
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            xb, yb = _take(X, idx, device), _take(y, idx, device)
            wb = None if sample_weight is None else _take(sample_weight, idx, device)
            if augment is not None:
                with torch.no_grad():
                    xb = augment(xb, generator)
            optimizer.zero_grad(set_to_none=True)
            _backward(network, xb, yb, wb, chunk or xb.shape[0], None if curve is None else seen)
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        if curve is not None:
            loss_sum, correct, count = seen.tolist()
            curve.append(
                {"epoch": epoch + 1, "loss": loss_sum / count, "accuracy": correct / count}
            )
    return network


def _take(tensor, idx, device):
    """The rows ``idx`` of ``tensor``, on ``device``."""
    return tensor[idx.to(tensor.device)].to(device)


def _backward(network, xb, yb, wb, chunk, seen):
    """Back-propagate the mean (weighted) cross-entropy of a mini-batch, ``chunk`` at a time.

    ``seen`` (or None) accumulates the loss sum, the hits and the count of the mini-batch.
    """
    for i in range(0, xb.shape[0], chunk):
        logits = network(xb[i : i + chunk])
        loss = F.cross_entropy(logits, yb[i : i + chunk], reduction="none")
        if seen is not None:
            with torch.no_grad():
                hits = (logits.argmax(1) == yb[i : i + chunk]).sum()
                seen += torch.stack([loss.sum(), hits, torch.tensor(len(loss))]).cpu()
        if wb is not None:
            loss = loss * wb[i : i + chunk]
        (loss.sum() / xb.shape[0]).backward()
