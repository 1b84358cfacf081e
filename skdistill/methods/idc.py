"""IDC: gradient matching with multi-formation synthetic images (Kim et al., 2022)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..nn import reinitialize_
from .dc import GradientMatching

#: Real samples the network trains on between two matching steps (the reference ``n_data``).
REAL_SAMPLES_PER_UPDATE = 500
REAL_BATCH = 128


class InformationIntensiveMatching(GradientMatching):
    """IDC: each stored image holds ``factor**2`` smaller images; gradients matched on conv weights.

    A stored synthetic image of size ``(H, W)`` is cut into a ``factor x factor`` grid of tiles,
    each upsampled (bilinear) back to ``(H, W)``: the training set has ``ipc * factor**2``
    images per class for the storage of ``ipc``. Stored images stay in the input's value range
    (clamped after every step). The matching network is trained on *real* data between
    matching steps (SGD, lr 0.01, momentum 0.9, weight decay 5e-4, ``inner_loop`` batches of
    128) and re-drawn every ``fix_iter`` iterations; the distance is the squared L2 (``"mse"``)
    or L1 (``"l1"``) difference of the convolution-weight gradients.

    Parameters
    ----------
    factor : int, default=2
        Multi-formation factor; image sides must be divisible by it.
    fix_iter : int, default=50
        Iterations between two fresh networks.
    bounds : tuple of Tensor or None
        ``(low, high)`` internal-unit bounds of the stored images, broadcastable to
        ``(1, C, 1, 1)``.
    **kwargs
        As for :class:`~skdistill.methods.dc.GradientMatching`.
    """

    name = "idc"
    options = GradientMatching.options | {"factor", "bounds"}
    per_class = True
    default_lr = 0.05
    distances = ("mse", "l1")

    def __init__(self, sample_shape, n_classes, *, factor=None, fix_iter=50, bounds=None, **kwargs):
        factor = factor or 2
        if len(sample_shape) != 3:
            raise ValueError("method='idc' needs images; use 'dc' or 'dm' for tabular data.")
        h, w = sample_shape[1:]
        if h % factor or w % factor:
            raise ValueError(
                f"method='idc' cuts images into a {factor}x{factor} grid: the image size "
                f"{h}x{w} must be divisible by factor={factor}."
            )
        self.factor = factor
        self.fix_iter = fix_iter
        self.bounds = bounds
        self.iteration = 0
        super().__init__(sample_shape, n_classes, **kwargs)
        self.size = (h, w)

    def default_loops(self, ipc):
        """100 matching steps per iteration, 4 real batches (500 samples) between them."""
        return 100, -(-REAL_SAMPLES_PER_UPDATE // REAL_BATCH)

    def matches_parameter(self, parameter):
        """Only convolution weights are matched."""
        return parameter.ndim == 4

    # ------------------------------------------------------------------ multi-formation
    def samples_per_stored(self):
        """``factor**2`` training images per stored image."""
        return self.factor**2

    def decode(self, synthetic, ipc):
        """Cut every stored image into ``factor x factor`` tiles and upsample each to full size."""
        n, c, h, w = synthetic.shape
        f = self.factor
        tiles = synthetic.reshape(n, c, f, h // f, f, w // f).permute(0, 2, 4, 1, 3, 5)
        tiles = tiles.reshape(n * f * f, c, h // f, w // f)
        return F.interpolate(tiles, size=(h, w), mode="bilinear", align_corners=False)

    def encode_initial(self, real):
        """Stored images made of ``factor**2`` downsampled real images each (tiles in order)."""
        f = self.factor
        n, c, h, w = real.shape
        small = F.interpolate(real, size=(h // f, w // f), mode="area")
        small = small.reshape(n // (f * f), f, f, c, h // f, w // f).permute(0, 3, 1, 4, 2, 5)
        return small.reshape(n // (f * f), c, h, w).contiguous()

    def after_step(self, synthetic):
        """Clamp the stored images to the input's value range."""
        if self.bounds is not None:
            with torch.no_grad():
                synthetic.copy_(
                    torch.maximum(torch.minimum(synthetic, self.bounds[1]), self.bounds[0])
                )

    # ------------------------------------------------------------------ network
    def begin_iteration(self, seed):
        """Re-draw the network every ``fix_iter`` iterations; otherwise keep training it."""
        self.generator.manual_seed(seed)
        if self.iteration % self.fix_iter == 0:
            reinitialize_(self.network, seed, self.template)
            self.optimizer = torch.optim.SGD(
                self.network.parameters(), lr=self.lr_net, momentum=0.9, weight_decay=5e-4
            )
        self.network.train()
        self.iteration += 1

    def inner_update(self, synthetic, synthetic_labels, sample_real):
        """Train the network on ``inner_loop`` batches of real data."""
        self.network.train()
        for _ in range(self.inner_loop):
            x, labels = sample_real(REAL_BATCH)
            self._train_step(x, labels)

    def distance(self, real, synthetic):
        """Squared L2 or L1 difference of the conv-weight gradients."""
        diff = real - synthetic
        return (diff**2).sum() if self.distance_name == "mse" else diff.abs().sum()

    def state_dict(self):
        """The network, its optimiser and the iteration count (the network outlives iterations)."""
        return {
            "iteration": self.iteration,
            "network": {k: v.detach().cpu().clone() for k, v in self.network.state_dict().items()},
            "optimizer": None if self.optimizer is None else self.optimizer.state_dict(),
        }

    def load_state_dict(self, state):
        """Restore :meth:`state_dict`."""
        self.iteration = state["iteration"]
        self.network.load_state_dict(state["network"])
        self.optimizer = torch.optim.SGD(
            self.network.parameters(), lr=self.lr_net, momentum=0.9, weight_decay=5e-4
        )
        if state["optimizer"] is not None:
            self.optimizer.load_state_dict(state["optimizer"])
