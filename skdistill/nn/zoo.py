"""torchvision architectures for cross-architecture evaluation, adapted to small images.

Distilled sets are small images (8x8 to 64x64) with any number of channels, while
torchvision's ImageNet models expect 3x224x224. The adaptations follow the
dataset-distillation literature's small-input variants:

- the stem takes ``in_channels`` and keeps the resolution (3x3 convolution, stride 1, no
  ResNet max pooling);
- max pooling rounds up (``ceil_mode=True``), so even 8x8 inputs reach the head;
- the head is global average pooling and one linear layer (no 4096-unit ImageNet classifier);
- VGG11 and ResNet18 use instance normalisation (``GroupNorm(c, c)``) as in the reference
  code; AlexNet has none, as in torchvision.

Weights are random (PyTorch's default initialisation, re-drawn from the evaluation seed).
"""

from __future__ import annotations

import torch
from torch import nn


def _models():
    """``torchvision.models``, imported when a zoo model is built.

    Importing torchvision takes seconds (it loads ``torch._dynamo``), which
    ``import skdistill`` need not pay.
    """
    from torchvision import models

    return models


def _instance_norm(channels: int) -> nn.Module:
    return nn.GroupNorm(channels, channels, affine=True)


def _ceil_pools(module: nn.Module) -> None:
    """Replace every max pooling of ``module`` by a 2x2 one that rounds up."""
    for name, child in module.named_children():
        if isinstance(child, nn.MaxPool2d):
            setattr(module, name, nn.MaxPool2d(kernel_size=2, stride=2, ceil_mode=True))
        else:
            _ceil_pools(child)


def _alexnet(in_channels: int) -> tuple[nn.Module, int]:
    body = _models().alexnet(weights=None)
    body.features[0] = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1)
    _ceil_pools(body.features)
    body.avgpool = nn.AdaptiveAvgPool2d(1)
    body.classifier = nn.Identity()
    return body, 256


def _vgg11(in_channels: int) -> tuple[nn.Module, int]:
    body = _models().vgg11_bn(weights=None)
    layers = []
    for layer in body.features:
        if isinstance(layer, nn.BatchNorm2d):
            layer = _instance_norm(layer.num_features)
        layers.append(layer)
    layers[0] = nn.Conv2d(in_channels, 64, kernel_size=3, padding=1)
    body.features = nn.Sequential(*layers)
    _ceil_pools(body.features)
    body.avgpool = nn.AdaptiveAvgPool2d(1)
    body.classifier = nn.Identity()
    return body, 512


def _resnet18(in_channels: int) -> tuple[nn.Module, int]:
    body = _models().resnet18(weights=None, norm_layer=_instance_norm)
    body.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    body.maxpool = nn.Identity()
    body.fc = nn.Identity()
    return body, 512


_BODIES = {"alexnet": _alexnet, "vgg11": _vgg11, "resnet18": _resnet18}


class ZooNet(nn.Module):
    """A torchvision body (``"alexnet"``, ``"vgg11"`` or ``"resnet18"``) and a linear head.

    Parameters
    ----------
    arch : {"alexnet", "vgg11", "resnet18"}
        torchvision architecture.
    in_channels : int
        Channels of the input images.
    n_classes : int
        Output classes.
    """

    def __init__(self, arch: str, in_channels: int, n_classes: int):
        super().__init__()
        if arch not in _BODIES:
            raise ValueError(f"arch must be one of {sorted(_BODIES)}; got {arch!r}.")
        self.arch = arch
        self.features, self.embedding_dim = _BODIES[arch](in_channels)
        self.classifier = nn.Linear(self.embedding_dim, n_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Globally pooled features of the body."""
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits."""
        return self.classifier(self.embed(x))


ZOO = tuple(_BODIES)
