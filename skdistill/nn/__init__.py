"""Networks used as representations during distillation and as evaluation models."""

from __future__ import annotations

import torch
from torch import nn

from .convnet import NORMS, ConvNet, min_image_size
from .mlp import MLP


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


__all__ = ["MLP", "NORMS", "ConvNet", "build_network", "min_image_size", "reinitialize_"]
