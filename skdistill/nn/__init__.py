"""Networks used as representations during distillation and as evaluation models."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .convnet import NORMS, ConvNet, min_image_size
from .mlp import MLP
from .zoo import ZOO, ZooNet

#: Evaluation architectures: the reference ConvNet and MLP, and torchvision's models.
ARCHITECTURES = ("convnet", "mlp", *ZOO)


def build_network(sample_shape, n_classes, width=None, depth=None, norm=None) -> nn.Module:
    """A ConvNet for ``(C, H, W)`` samples, an MLP for ``(d,)`` samples.

    ``width``/``depth`` default to the reference values: 128/3 for the ConvNet, 256/2 for the MLP;
    ``norm`` (ConvNet only) to instance normalisation.
    """
    # Construction draws initial weights; they are always re-drawn by reinitialize_ from an
    # explicit seed, so keep the caller's global random state out of it.
    with torch.random.fork_rng(devices=[]):
        if len(sample_shape) == 3:
            c, h, w = sample_shape
            return ConvNet(
                c, n_classes, (h, w), width=width or 128, depth=depth or 3, norm=norm or "instance"
            )
        return MLP(sample_shape[0], n_classes, width=width or 256, depth=depth or 2)


def build_model(arch, sample_shape, n_classes, width=None, depth=None) -> nn.Module:
    """An evaluation network by name (see :data:`ARCHITECTURES`).

    ``"convnet"`` and the torchvision models (``"alexnet"``, ``"vgg11"``, ``"resnet18"``) take
    ``(C, H, W)`` images; ``"mlp"`` flattens any sample. ``width``/``depth`` size the ConvNet
    and the MLP only.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"architecture must be one of {list(ARCHITECTURES)}; got {arch!r}.")
    if arch == "mlp":
        return build_network((int(np.prod(sample_shape)),), n_classes, width, depth)
    if len(sample_shape) != 3:
        raise ValueError(
            f"architecture {arch!r} needs images (C, H, W); got samples of shape "
            f"{tuple(sample_shape)}. Use 'mlp' or a scikit-learn classifier for tables."
        )
    if arch == "convnet":
        return build_network(sample_shape, n_classes, width, depth)
    with torch.random.fork_rng(devices=[]):
        return ZooNet(arch, sample_shape[0], n_classes)


def reinitialize_(module: nn.Module, seed: int, template: nn.Module | None = None) -> nn.Module:
    """Re-draw every parameter with PyTorch's default initialisation, from ``seed`` alone.

    The global random state of the caller is left untouched. Parameters are drawn on the CPU
    (into ``template`` when given) and copied to ``module``, so a CUDA run draws the same
    networks as a CPU run.
    """
    source = module if template is None else template
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        for sub in source.modules():
            if hasattr(sub, "reset_parameters"):
                sub.reset_parameters()  # batch norm: also resets its running statistics
    if template is not None:
        with torch.no_grad():
            for dst, src in zip(module.state_dict().values(), template.state_dict().values()):
                dst.copy_(src, non_blocking=True)
    return module


__all__ = [
    "ARCHITECTURES",
    "MLP",
    "NORMS",
    "ConvNet",
    "ZooNet",
    "build_model",
    "build_network",
    "min_image_size",
    "reinitialize_",
]
