"""Train a torch network from scratch with the dataset-distillation evaluation protocol."""

from __future__ import annotations

import torch
from torch import nn

from .._device import CPU_CHUNK
from ..nn import reinitialize_
from ..nn._sgd import train_epochs

CPU = torch.device("cpu")


def train_network(
    network: nn.Module,
    X,
    y,
    *,
    epochs=300,
    lr=0.01,
    momentum=0.9,
    weight_decay=5e-4,
    batch_size=256,
    seed=0,
    device=CPU,
    augment=None,
    sample_weight=None,
    curve=None,
):
    """Train ``network`` (re-initialised from ``seed``) on ``(X, y)`` and return it in eval mode.

    SGD with momentum and weight decay; the learning rate drops x0.1 at half the epochs, as
    in the reference evaluation of dataset distillation. ``X`` is a float tensor, ``y`` a
    tensor of class codes. On the CPU each mini-batch is back-propagated in cache-sized
    chunks whose gradients add up to the mini-batch gradient. ``augment`` (e.g.
    :class:`skdistill.methods.DSA`) transforms every mini-batch with parameters drawn from
    ``seed`` (DSA training of the evaluation protocol). ``sample_weight`` (a tensor, one
    non-negative weight per sample, scaled to mean 1) weighs each sample's loss. ``curve``, a
    list, receives one ``{"epoch", "loss", "accuracy"}`` dict per epoch: the mean training
    loss and accuracy of the epoch's (augmented) mini-batches, as they were trained on.
    """
    reinitialize_(network, seed)
    network.to(device).train()
    gen = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(
        network.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay
    )
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [max(epochs // 2, 1)], 0.1)
    weight = None
    if sample_weight is not None:
        weight = torch.as_tensor(sample_weight, dtype=torch.float32)
        weight = weight / weight.mean()
    train_epochs(
        network,
        X,
        y,
        optimizer,
        epochs=epochs,
        generator=gen,
        batch_size=batch_size,
        device=device,
        augment=augment,
        chunk=CPU_CHUNK if device.type == "cpu" else batch_size,
        sample_weight=weight,
        scheduler=scheduler,
        curve=curve,
    )
    return network.eval()


@torch.no_grad()
def predict_codes(network: nn.Module, X, *, device=CPU):
    """Arg-max class codes of ``network`` on ``X``, in batches."""
    batch_size = CPU_CHUNK if device.type == "cpu" else 1024
    out = [
        network(X[i : i + batch_size].to(device)).argmax(1).cpu()
        for i in range(0, X.shape[0], batch_size)
    ]
    return torch.cat(out).numpy()
