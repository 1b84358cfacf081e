"""A multilayer perceptron for tabular data."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """``depth`` hidden layers of ``width`` ReLU units, then a linear head.

    Parameters
    ----------
    n_features : int
        Input features.
    n_classes : int
        Output classes of the linear head.
    width : int, default=256
        Units of every hidden layer.
    depth : int, default=2
        Number of hidden layers.
    """

    def __init__(self, n_features, n_classes, width=256, depth=2):
        super().__init__()
        layers, dim = [], n_features
        for _ in range(depth):
            layers += [nn.Linear(dim, width), nn.ReLU(inplace=True)]
            dim = width
        self.features = nn.Sequential(*layers)
        self.embedding_dim = dim
        self.classifier = nn.Linear(dim, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Output of the last hidden layer."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.classifier(self.embed(x))
