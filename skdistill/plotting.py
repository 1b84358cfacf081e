"""Plots: fairness-accuracy trade-offs and grids of synthetic images.

Functions draw on a matplotlib ``Axes`` (a new ``Figure`` when none is given, without
pyplot, so they work headless) and return it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from torchvision.utils import make_grid

from ._data import fit_codec


def _new_axes(figsize):
    return Figure(figsize=figsize, layout="constrained").add_subplot()


def plot_fairness_accuracy(table: pd.DataFrame, *, ax=None, title=None):
    """Scatter EOD_M (x, lower is fairer) against accuracy (y, higher is better).

    Parameters
    ----------
    table : DataFrame
        One row per run kind (index: its name) with columns ``accuracy_mean``,
        ``accuracy_std``, ``eod_max_mean``, ``eod_max_std``, in [0, 1].
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    title : str, default=None
        Axes title.

    Returns
    -------
    Axes
    """
    ax = ax if ax is not None else _new_axes((6, 4.5))
    cmap = colormaps["tab10"]
    for i, (name, row) in enumerate(table.iterrows()):
        color = cmap(i % 10)
        ax.errorbar(
            100 * row["eod_max_mean"],
            100 * row["accuracy_mean"],
            xerr=100 * row["eod_max_std"],
            yerr=100 * row["accuracy_std"],
            fmt="o",
            capsize=3,
            color=color,
            label=str(name),
        )
        ax.annotate(
            str(name),
            (100 * row["eod_max_mean"], 100 * row["accuracy_mean"]),
            textcoords="offset points",
            xytext=(5, 5),
            fontsize=8,
        )
    ax.set_xlabel("EOD_M (points, lower is fairer)")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title)
    return ax


def plot_synthetic_images(X, y, *, ax=None, title=None, max_per_class=10):
    """Show synthetic images as a grid: one row per class, up to ``max_per_class`` columns.

    Parameters
    ----------
    X : array-like or Tensor
        Images ``(N, C, H, W)``, ``(N, H, W, C)`` or ``(N, H, W)``, uint8 or float, as
        returned by :meth:`BarycentricDistiller.transform`.
    y : array-like of shape (N,)
        Their labels; each row of the grid is one class, labelled on the left.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    title : str, default=None
        Axes title.
    max_per_class : int, default=10
        Columns of the grid.

    Returns
    -------
    Axes
    """
    codec = fit_codec(X)
    if codec.kind != "image":
        raise ValueError(
            "plot_synthetic_images needs images (N, C, H, W), (N, H, W, C) or (N, H, W)."
        )
    images = (
        codec.encode(X) * torch.as_tensor(codec.scale, dtype=torch.float32)[None, :, None, None]
    )
    images = images + torch.as_tensor(codec.mean, dtype=torch.float32)[None, :, None, None]
    if codec.dtype != np.uint8:  # float images: show their own range
        low, high = codec.value_range
        images = (images - low) / max(high - low, 1e-12)
    labels = np.asarray(y)
    classes = np.unique(labels)
    cols = min(max_per_class, max(int((labels == c).sum()) for c in classes))
    tiles = []
    for c in classes:
        idx = np.flatnonzero(labels == c)[:cols]
        block = images[idx]
        if block.shape[0] < cols:  # pad short classes with blank tiles
            pad = torch.ones((cols - block.shape[0], *block.shape[1:]))
            block = torch.cat([block, pad])
        tiles.append(block)
    grid = make_grid(torch.cat(tiles).clamp(0, 1), nrow=cols, padding=2, pad_value=1.0)
    h = codec.sample_shape[1]
    ax = ax if ax is not None else _new_axes((0.6 * cols + 1, 0.6 * len(classes) + 0.6))
    ax.imshow(grid.permute(1, 2, 0).numpy().squeeze(), cmap="gray" if grid.shape[0] == 1 else None)
    ax.set_yticks([2 + (h + 2) * i + h / 2 for i in range(len(classes))])
    ax.set_yticklabels([str(c) for c in classes], fontsize=8)
    ax.set_xticks([])
    if title:
        ax.set_title(title)
    return ax
