"""The ConvNet of the dataset-distillation literature (width 128, depth 3, instance norm)."""

from __future__ import annotations

import torch
from torch import nn


class ConvNet(nn.Module):
    """``depth`` blocks of conv 3x3, normalisation, ReLU, 2x2 average pooling; a linear head.

    Instance normalisation (the default) is ``GroupNorm(width, width)``, as in the reference
    code; it normalises each sample on its own, so batching several classes together changes
    nothing. Batch normalisation couples the samples of a batch; gradient matching freezes its
    statistics (computed on real data) before matching.

    Parameters
    ----------
    in_channels : int
        Channels of the input images.
    n_classes : int
        Output classes of the linear head.
    image_size : tuple of int
        ``(H, W)`` of the input images.
    width : int, default=128
        Channels of every convolution.
    depth : int, default=3
        Number of conv blocks; each halves the spatial size.
    norm : {"instance", "batch", "none"}, default="instance"
        Normalisation after each convolution.
    """

    def __init__(self, in_channels, n_classes, image_size, width=128, depth=3, norm="instance"):
        super().__init__()
        layers = []
        h, w = image_size
        channels = in_channels
        for _ in range(depth):
            layers += [
                nn.Conv2d(channels, width, kernel_size=3, padding=1),
                _norm_layer(norm, width),
                nn.ReLU(inplace=True),
                nn.AvgPool2d(kernel_size=2, stride=2),
            ]
            channels = width
            h, w = h // 2, w // 2
        self.features = nn.Sequential(*layers)
        self.embedding_dim = width * h * w
        self.classifier = nn.Linear(self.embedding_dim, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Flattened output of the last conv block."""
        return self.features(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.classifier(self.embed(x))


NORMS = ("instance", "batch", "none")


def _norm_layer(norm, width):
    if norm == "instance":
        return nn.GroupNorm(width, width, affine=True)
    if norm == "batch":
        return nn.BatchNorm2d(width)
    if norm == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {list(NORMS)}; got {norm!r}.")


def min_image_size(depth: int) -> int:
    """Smallest side a ConvNet of this depth accepts (each block halves the size)."""
    return 2**depth
