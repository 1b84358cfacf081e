"""Plots: fairness-accuracy trade-offs, sweeps, t-SNE embeddings and grids of synthetic images.

Functions draw on a matplotlib ``Axes`` (a new ``Figure`` when none is given, without
pyplot, so they work headless) and return it. matplotlib is optional:
``pip install "skdistill[plot]"``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ._data import fit_codec
from ._optional import import_optional


def new_figure(figsize):
    """A matplotlib ``Figure`` with constrained layout, drawn without pyplot.

    matplotlib is an optional dependency (``pip install "skdistill[plot]"``); a clear
    ``ImportError`` says so when it is missing.
    """
    figure = import_optional("matplotlib.figure", "plot", "skdistill.plotting")
    return figure.Figure(figsize=figsize, layout="constrained")


def _colormap(name="tab10"):
    return import_optional("matplotlib", "plot", "skdistill.plotting").colormaps[name]


def _entry_color(i):
    """The colour of the ``i``-th entry of a plot.

    tab10's ten colours, then their lighter tab20 twins: up to 20 entries (a benchmark
    table's rows) never share one.
    """
    tab20 = _colormap("tab20")
    i %= 20
    return tab20(2 * i) if i < 10 else tab20(2 * (i - 10) + 1)


def _new_axes(figsize):
    return new_figure(figsize).add_subplot()


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
    x = 100 * table["eod_max_mean"].to_numpy(dtype=float)
    y = 100 * table["accuracy_mean"].to_numpy(dtype=float)
    labels = []
    for i, (name, row) in enumerate(table.iterrows()):
        color = _entry_color(i)
        ax.errorbar(
            x[i],
            y[i],
            xerr=100 * row["eod_max_std"],
            yerr=100 * row["accuracy_std"],
            fmt="o",
            capsize=3,
            color=color,
            label=str(name),
        )
        labels.append(
            ax.annotate(
                str(name),
                (x[i], y[i]),
                textcoords="offset points",
                xytext=_LABEL_SPOTS[0],
                fontsize=8,
                color=color,
                # a leader line, shown when the label had to move away from its point
                arrowprops=dict(arrowstyle="-", color=color, lw=0.6, alpha=0.7, shrinkB=4),
            )
        )
    ax.margins(x=0.06, y=0.12)  # room for the labels
    ax.set_xlabel("EOD_M (points, lower is fairer)")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    # beside the axes: inside, it would hide the points or their labels
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    if title:
        ax.set_title(_wrapped_title(ax, title))
    _place_labels(ax, labels)
    return ax


def _wrapped_title(ax, title):
    """``title`` broken into lines that fit the axes' width (at the title's font size)."""
    import textwrap

    from matplotlib import rcParams
    from matplotlib.font_manager import FontProperties

    size = FontProperties(size=rcParams["axes.titlesize"]).get_size_in_points()
    width = ax.get_position().width * ax.figure.get_figwidth() * 72  # points
    # about 0.6 em per character in the default sans-serif font
    return "\n".join(textwrap.wrap(title, max(20, int(width / (0.6 * size)))))


#: Label offsets (points from the marker) tried in turn: right of it, then alternately
#: below and above, then the same on its left.
_LABEL_SPOTS = [(5, 5)] + [(5, 5 + d) for k in range(1, 7) for d in (-12 * k, 12 * k)]
_LABEL_SPOTS += [(-5, y) for _, y in _LABEL_SPOTS]


def _place_labels(ax, labels):
    """Move each label, in order, to its first free spot among :data:`_LABEL_SPOTS`.

    A spot is free when the label lies inside the axes there and overlaps no label placed
    before it; a label with no free spot goes back to the first one. A label beside its
    point hides its leader line; a moved one keeps it, so that it still points at its marker.
    """
    from matplotlib.text import Text

    ax.figure.draw_without_rendering()  # fixes the layout and the axes' limits
    inside = ax.get_window_extent()
    placed = []
    for label in labels:
        for dx, dy in _LABEL_SPOTS:
            label.xyann = (dx, dy)
            label.set_horizontalalignment("left" if dx > 0 else "right")
            box = Text.get_window_extent(label)  # without its leader line
            fits = inside.x0 <= box.x0 and box.x1 <= inside.x1
            fits = fits and inside.y0 <= box.y0 and box.y1 <= inside.y1
            if fits and not any(box.overlaps(other) for other in placed):
                break
        else:
            label.xyann = _LABEL_SPOTS[0]
            label.set_horizontalalignment("left")
            box = Text.get_window_extent(label)  # without its leader line
        label.arrow_patch.set_visible(tuple(label.xyann) != _LABEL_SPOTS[0])
        placed.append(box)


def plot_synthetic_images(X, y, *, ax=None, title=None, max_per_class=10):
    """Show synthetic images as a grid: one row per class, up to ``max_per_class`` columns.

    Parameters
    ----------
    X : array-like or Tensor
        Images ``(N, C, H, W)``, ``(N, H, W, C)`` or ``(N, H, W)``, uint8 or float, as
        returned by :meth:`BarycentricDistiller.fit_resample`.
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
    from torchvision.utils import make_grid  # imported here: it loads torch._dynamo

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


#: Axis labels of the metrics that :func:`plot_metric_curves` draws.
CURVE_LABELS = {
    "eod_max": "EOD_M (points, lower is fairer)",
    "eod_mean": "EOD_A (points, lower is fairer)",
    "accuracy": "accuracy (%)",
}


def plot_metric_curves(
    frame: pd.DataFrame,
    *,
    x,
    ax=None,
    title=None,
    xlabel=None,
    metrics=("eod_max", "accuracy"),
):
    """Metrics (mean ± std; EOD_M and accuracy by default) against a swept setting, per entry.

    The setting is IPC, SKEW, GAP, iterations...

    Parameters
    ----------
    frame : DataFrame
        One row per (entry, x value) with columns ``entry``, ``x`` (named by the ``x``
        argument), and ``<metric>_mean`` and ``<metric>_std`` of every metric, in [0, 1].
    x : str
        Column of the swept setting.
    ax : sequence of matplotlib Axes, default=None
        One panel per metric; a new figure with one panel per metric when None.
    title : str, default=None
        Figure title.
    xlabel : str, default=None
        Label of the x axis (``x`` when None).
    metrics : sequence of str, default=("eod_max", "accuracy")
        The metrics drawn, one panel each, among ``"eod_max"``, ``"eod_mean"`` and
        ``"accuracy"``.

    Returns
    -------
    tuple of Axes
        The panels, in the order of ``metrics``.
    """
    unknown = [m for m in metrics if m not in CURVE_LABELS]
    if unknown or not metrics:
        raise ValueError(
            f"metrics must be a non-empty sequence of {sorted(CURVE_LABELS)}; got {list(metrics)}."
        )
    if ax is None:
        fig = new_figure((5 * len(metrics), 4))
        ax = fig.subplots(1, len(metrics), squeeze=False)[0]
    for i, (entry, rows) in enumerate(frame.groupby("entry", sort=False)):
        rows = rows.sort_values(x)
        for panel, metric in zip(ax, metrics):
            panel.errorbar(
                rows[x],
                100 * rows[f"{metric}_mean"],
                yerr=100 * rows[f"{metric}_std"],
                marker="o",
                capsize=3,
                color=_entry_color(i),
                label=str(entry),
            )
    for panel, metric in zip(ax, metrics):
        panel.set_ylabel(CURVE_LABELS[metric])
        panel.set_xlabel(xlabel or x)
        panel.grid(alpha=0.3)
    ax[0].legend(fontsize=8, loc="best")
    if title:
        ax[0].figure.suptitle(title)
    return tuple(ax)


def plot_embedding(features, y, sensitive_features, *, axes=None, title=None, random_state=0):
    """t-SNE of learned features, coloured by class and by group (COBRA paper, Fig. 3).

    Parameters
    ----------
    features : array-like of shape (n_samples, n_dims)
        Features, e.g. embeddings of real test samples by a network trained on a synthetic
        set.
    y, sensitive_features : array-like of shape (n_samples,)
        Class and group of every sample.
    axes : pair of matplotlib Axes, default=None
        Where to draw the two panels; a new figure when None.
    title : str, default=None
        Title above the class panel.
    random_state : int, default=0
        Seed of :class:`sklearn.manifold.TSNE`.

    Returns
    -------
    tuple of Axes
    """
    from sklearn.manifold import TSNE

    features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    perplexity = float(min(30.0, max(2.0, (features.shape[0] - 1) / 3)))
    points = TSNE(perplexity=perplexity, init="pca", random_state=random_state).fit_transform(
        features
    )
    if axes is None:
        fig = new_figure((9, 4.4))
        axes = fig.subplots(1, 2)
    for panel, values, name in zip(axes, (y, sensitive_features), ("class", "group")):
        values = np.asarray(values)
        cmap = _colormap()
        for i, v in enumerate(np.unique(values)):
            keep = values == v
            panel.scatter(*points[keep].T, s=6, color=cmap(i % 10), label=str(v))
        panel.set_xticks([])
        panel.set_yticks([])
        panel.set_title(f"coloured by {name}" if title is None or name == "group" else title)
        panel.legend(fontsize=6, markerscale=2, loc="best", title=name, title_fontsize=7)
    return tuple(axes)


def plot_training_curves(curves, *, title=None):
    """Training loss and accuracy against epochs, one line per run (e.g. the FULL model).

    Parameters
    ----------
    curves : list of DataFrame or dict
        One curve per run, with ``epoch``, ``loss`` and ``accuracy`` columns (the ``curves``
        of :func:`skdistill.evaluation.evaluate_synthetic`).
    title : str, default=None
        Figure title.

    Returns
    -------
    ndarray of Axes
        The loss and the accuracy axes.
    """
    fig = new_figure((8, 3.2))
    axes = fig.subplots(1, 2)
    for k, curve in enumerate(curves):
        curve = pd.DataFrame(curve)
        axes[0].plot(curve["epoch"], curve["loss"], label=f"run {k + 1}")
        axes[1].plot(curve["epoch"], 100 * curve["accuracy"], label=f"run {k + 1}")
    axes[0].set(xlabel="epoch", ylabel="training loss", yscale="log")
    axes[1].set(xlabel="epoch", ylabel="training accuracy (%)")
    axes[1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return axes
