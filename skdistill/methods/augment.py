"""Differentiable siamese augmentation (DSA, Zhao & Bilen, 2021).

Every call draws *one* transform family (colour, crop, cutout, flip, scale or rotate). A
siamese pair — the real and the synthetic batch of one class — is augmented with the same
:class:`AugmentParams`. As in the reference code (``DiffAugment`` with a seed, i.e.
``Siamese=True``), the default draws *one* parameter set per call and applies it to every
sample of the real batch and of the synthetic batch alike: one brightness, one crop offset,
one rotation angle... for the whole class. ``DSA(pairing="per_sample")`` instead draws
per-sample parameters and gives sample ``i`` of the real batch the parameters of sample
``i`` of the synthetic batch. Outside a siamese pair (``DSA.__call__``, used to train
evaluation networks) every sample gets its own parameters, as the reference's unseeded
``DiffAugment`` does. Every transform is differentiable with respect to the images (affine
resampling, masks, indexing), so the matching loss back-propagates through it into the
synthetic images.

Parameters are drawn from an explicit :class:`torch.Generator`, never from the clock or the
global random state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .._transfer import to_device

#: Reference parameters of the DSA paper.
DEFAULTS = {
    "brightness": 1.0,
    "saturation": 2.0,
    "contrast": 0.5,
    "crop": 0.125,
    "cutout": 0.5,
    "flip": 0.5,
    "scale": 1.2,
    "rotate": 15.0,
}

FAMILIES = ("color", "crop", "cutout", "flip", "scale", "rotate")
PAIRINGS = ("shared", "per_sample")


@dataclass
class AugmentParams:
    """One drawn transform family and its parameters.

    ``shared``: one parameter set (drawn for a single sample) that every sample gets;
    otherwise one parameter set per sample.
    """

    family: str
    values: dict
    shared: bool = False

    def take(self, n, device):
        """The parameters of ``n`` samples (the first ``n``, or the shared one ``n`` times)."""
        if self.shared:
            return {k: to_device(v.expand(n, *v.shape[1:]), device) for k, v in self.values.items()}
        return {k: to_device(v[:n], device) for k, v in self.values.items()}


class DSA:
    """Differentiable siamese augmentation of image batches ``(N, C, H, W)``.

    Parameters
    ----------
    flip : bool, default=True
        Include horizontal flips (switch them off for digits, whose mirror images are not
        digits).
    pairing : {"shared", "per_sample"}, default="shared"
        How a siamese pair (the real and the synthetic batch of a class) shares parameters:
        ``"shared"`` (the reference): one draw per call, applied to every sample of both
        batches; ``"per_sample"``: per-sample draws, real sample ``i`` paired with
        synthetic sample ``i``.
    **overrides
        Replace any value of :data:`DEFAULTS`.

    Examples
    --------
    >>> import torch
    >>> dsa = DSA()
    >>> gen = torch.Generator().manual_seed(0)
    >>> real, syn = torch.rand(8, 3, 16, 16), torch.rand(2, 3, 16, 16)
    >>> params = dsa.draw_pair(8, 2, gen, (16, 16))
    >>> dsa.apply(real, params).shape, dsa.apply(syn, params).shape
    (torch.Size([8, 3, 16, 16]), torch.Size([2, 3, 16, 16]))
    """

    def __init__(self, flip=True, pairing="shared", **overrides):
        unknown = set(overrides) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown DSA parameter(s) {sorted(unknown)}; known: {list(DEFAULTS)}")
        if pairing not in PAIRINGS:
            raise ValueError(f"pairing must be one of {list(PAIRINGS)}; got {pairing!r}.")
        self.settings = {**DEFAULTS, **overrides}
        self.families = FAMILIES if flip else tuple(f for f in FAMILIES if f != "flip")
        self.pairing = pairing

    def __repr__(self):
        changed = {k: v for k, v in self.settings.items() if DEFAULTS[k] != v}
        args = ([] if "flip" in self.families else ["flip=False"]) + [
            f"{k}={v!r}" for k, v in changed.items()
        ]
        if self.pairing != "shared":
            args.append(f"pairing={self.pairing!r}")
        return f"DSA({', '.join(args)})"

    def __eq__(self, other):
        return (
            isinstance(other, DSA)
            and self.settings == other.settings
            and self.families == other.families
            and self.pairing == other.pairing
        )

    __hash__ = None

    def draw(self, n, generator, image_size=None) -> AugmentParams:
        """Draw one transform family and parameters for ``n`` samples.

        ``image_size`` ``(H, W)`` is needed by crop and cutout (pixel offsets).
        """
        s = self.settings
        family = self.families[int(torch.randint(len(self.families), (1,), generator=generator))]

        def rand(*shape):
            return torch.rand(n, *shape, generator=generator)

        if family == "color":
            values = {"brightness": rand(), "saturation": rand(), "contrast": rand()}
        elif family == "flip":
            values = {"flip": rand()}
        elif family == "scale":
            values = {"scale": rand(2)}
        elif family == "rotate":
            values = {"rotate": rand()}
        else:
            if image_size is None:
                raise ValueError(f"DSA {family!r} needs image_size")
            h, w = image_size
            if family == "crop":
                sh, sw = int(h * s["crop"] + 0.5), int(w * s["crop"] + 0.5)
                values = {
                    "dy": torch.randint(-sh, sh + 1, (n,), generator=generator),
                    "dx": torch.randint(-sw, sw + 1, (n,), generator=generator),
                }
            else:
                ch, cw = int(h * s["cutout"] + 0.5), int(w * s["cutout"] + 0.5)
                values = {
                    "cy": torch.randint(0, h + (1 - ch % 2), (n,), generator=generator),
                    "cx": torch.randint(0, w + (1 - cw % 2), (n,), generator=generator),
                }
        return AugmentParams(family, values)

    def draw_pair(self, n_real, n_synthetic, generator, image_size) -> AugmentParams:
        """The parameters of one siamese pair of ``n_real`` real and ``n_synthetic`` samples.

        With ``pairing="shared"`` one parameter set, applied to every sample of both batches;
        with ``"per_sample"`` ``max(n_real, n_synthetic)`` sets, paired by position.
        """
        if self.pairing == "shared":
            params = self.draw(1, generator, image_size)
            params.shared = True
            return params
        return self.draw(max(n_real, n_synthetic), generator, image_size)

    def __call__(self, x, generator):
        """Augment ``x`` with freshly drawn parameters (non-siamese use, e.g. training)."""
        return self.apply(x, self.draw(x.shape[0], generator, x.shape[-2:]))

    def apply(self, x, params: AugmentParams):
        """Apply drawn parameters to the first ``len(x)`` samples' worth of ``params``."""
        p = params.take(x.shape[0], x.device)
        s = self.settings
        family = params.family
        if family == "color":
            x = x + (p["brightness"].to(x.dtype) - 0.5).view(-1, 1, 1, 1) * s["brightness"]
            mean = x.mean(dim=1, keepdim=True)
            x = (x - mean) * (p["saturation"].to(x.dtype) * s["saturation"]).view(
                -1, 1, 1, 1
            ) + mean
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            return (x - mean) * (p["contrast"].to(x.dtype) + s["contrast"]).view(-1, 1, 1, 1) + mean
        if family == "flip":
            flip = (p["flip"] < s["flip"]).view(-1, 1, 1, 1)
            return torch.where(flip, x.flip(3), x)
        if family in ("scale", "rotate"):
            n = x.shape[0]
            theta = x.new_zeros(n, 2, 3)
            if family == "scale":
                r = s["scale"]
                factors = p["scale"].to(x.dtype) * (r - 1.0 / r) + 1.0 / r
                theta[:, 0, 0], theta[:, 1, 1] = factors[:, 0], factors[:, 1]
            else:
                angle = (p["rotate"].to(x.dtype) - 0.5) * 2 * s["rotate"] * math.pi / 180
                cos, sin = torch.cos(angle), torch.sin(angle)
                theta[:, 0, 0], theta[:, 0, 1] = cos, sin
                theta[:, 1, 0], theta[:, 1, 1] = -sin, cos
            grid = F.affine_grid(theta, list(x.shape), align_corners=True)
            return F.grid_sample(x, grid, align_corners=True)
        h, w = x.shape[-2:]
        rows = torch.arange(h, device=x.device)
        cols = torch.arange(w, device=x.device)
        if family == "crop":
            # translate by (dy, dx) pixels; what enters from outside the image is zero
            src_r = rows[None, :] + p["dy"][:, None]  # (n, h)
            src_c = cols[None, :] + p["dx"][:, None]
            valid = ((src_r >= 0) & (src_r < h))[:, :, None] & ((src_c >= 0) & (src_c < w))[:, None]
            src_r, src_c = src_r.clamp(0, h - 1), src_c.clamp(0, w - 1)
            batch = torch.arange(x.shape[0], device=x.device)[:, None, None]
            moved = x.permute(0, 2, 3, 1)[batch, src_r[:, :, None], src_c[:, None, :]]
            return moved.permute(0, 3, 1, 2) * valid[:, None].to(x.dtype)
        # cutout: a zeroed square centred at (cy, cx)
        ch, cw = int(h * s["cutout"] + 0.5), int(w * s["cutout"] + 0.5)
        top = p["cy"][:, None] - ch // 2
        left = p["cx"][:, None] - cw // 2
        in_r = (rows[None] >= top) & (rows[None] < top + ch)
        in_c = (cols[None] >= left) & (cols[None] < left + cw)
        keep = ~(in_r[:, :, None] & in_c[:, None, :])
        return x * keep[:, None].to(x.dtype)


def make_augment(augment, n_channels):
    """The augmentation object for the ``augment`` option: ``None``, ``"dsa"`` or a :class:`DSA`.

    With ``"dsa"``, flips are left out for single-channel images (digits), as in the
    reference code; pass ``DSA(flip=False)`` for coloured digits.
    """
    if augment is None or isinstance(augment, DSA):
        return augment
    if augment == "dsa":
        return DSA(flip=n_channels != 1)
    raise ValueError(f"augment must be None, 'dsa' or a DSA instance; got {augment!r}.")
