import re
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.image import imread
from matplotlib.text import Text

from skdistill.plotting import plot_fairness_accuracy, plot_metric_curves, plot_synthetic_images


def test_fairness_accuracy_plot_png(tmp_path):
    table = pd.DataFrame(
        {
            "accuracy_mean": [0.8, 0.9],
            "accuracy_std": [0.01, 0.02],
            "eod_max_mean": [0.9, 0.1],
            "eod_max_std": [0.05, 0.01],
        },
        index=["vanilla", "cobra"],
    )
    ax = plot_fairness_accuracy(table, title="t")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["vanilla", "cobra"]
    path = tmp_path / "fa.png"
    ax.figure.savefig(path, dpi=50)
    img = imread(path)
    assert img.shape[0] == 4.5 * 50 and img.shape[1] == 6 * 50 and img.std() > 0


def test_metric_curves_draw_one_panel_per_metric():
    frame = pd.DataFrame(
        {
            "entry": ["vanilla", "vanilla", "cobra", "cobra"],
            "iteration": [0, 300, 0, 300],
            **{f"{m}_mean": [1.0, 0.9, 1.0, 0.5] for m in ("eod_max", "eod_mean", "accuracy")},
            **{f"{m}_std": [0.0, 0.1, 0.0, 0.05] for m in ("eod_max", "eod_mean", "accuracy")},
        }
    )
    default = plot_metric_curves(frame, x="iteration")
    assert [a.get_ylabel() for a in default] == ["EOD_M (points, lower is fairer)", "accuracy (%)"]
    panels = plot_metric_curves(frame, x="iteration", metrics=("eod_max", "eod_mean", "accuracy"))
    assert [a.get_ylabel()[:5] for a in panels] == ["EOD_M", "EOD_A", "accur"]
    cobra = panels[1].containers[-1].lines[0]  # the EOD_A line of the second entry, in points
    assert list(cobra.get_ydata()) == [100.0, 50.0]
    with pytest.raises(ValueError, match="metrics must be"):
        plot_metric_curves(frame, x="iteration", metrics=("eod_max", "recall"))


def test_fairness_accuracy_long_title_stays_inside_the_figure():
    table = pd.DataFrame(
        {"accuracy_mean": [0.8, 0.7], "accuracy_std": [0.0, 0.0]}
        | {"eod_max_mean": [0.2, 0.5], "eod_max_std": [0.0, 0.0]},
        index=["cobra", "vanilla"],
    )
    title = "Colored MNIST (BG), ConvNet trained with DSA on the distilled images, seed 0"
    ax = plot_fairness_accuracy(table, title=title)
    canvas = FigureCanvasAgg(ax.figure)
    canvas.draw()
    box = ax.title.get_window_extent(canvas.get_renderer())
    assert box.x0 >= 0 and box.x1 <= ax.figure.bbox.width
    assert ax.get_title().replace("\n", " ") == title  # every word kept


def test_fairness_accuracy_labels_of_close_points_do_not_overlap():
    table = pd.DataFrame(
        {
            "accuracy_mean": [0.75, 0.889, 0.895, 0.896],
            "accuracy_std": [0.0] * 4,
            "eod_max_mean": [1.0, 0.27, 0.21, 0.26],
            "eod_max_std": [0.0] * 4,
        },
        index=["vanilla", "uniform", "fairdd", "cobra"],
    )
    ax = plot_fairness_accuracy(table)
    canvas = FigureCanvasAgg(ax.figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    boxes = {t.get_text(): Text.get_window_extent(t, renderer) for t in ax.texts}
    assert set(boxes) == set(table.index)
    names = list(boxes)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not boxes[a].overlaps(boxes[b]), (a, b)


def test_fairness_accuracy_labels_of_a_cluster_at_the_top_stay_inside_the_axes():
    # the inits table's shape: five fair rows crowded near the top, three unfair ones below
    names = ["FULL", "RANDOM", "RANDOM balanced", "vanilla", "vanilla balanced"]
    names += ["FairDD", "FairDD balanced", "COBRA", "COBRA balanced"]
    table = pd.DataFrame(
        {
            "accuracy_mean": [0.837, 0.292, 0.884, 0.246, 0.288, 0.898, 0.916, 0.899, 0.915],
            "accuracy_std": [0.01] * 9,
            "eod_max_mean": [0.993, 1.0, 0.344, 1.0, 1.0, 0.258, 0.209, 0.269, 0.2],
            "eod_max_std": [0.04] * 9,
        },
        index=names,
    )
    ax = plot_fairness_accuracy(table, title="cmnist-bg, IPC 10, convnet")
    canvas = FigureCanvasAgg(ax.figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    # the texts' own boxes (an annotation's extent also covers its leader line)
    boxes = {t.get_text(): Text.get_window_extent(t, renderer) for t in ax.texts}
    for name, box in boxes.items():
        assert inside.y0 <= box.y0 and box.y1 <= inside.y1, name
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not boxes[a].overlaps(boxes[b]), (a, b)
    # a label moved away from its marker keeps a leader line to it; one beside it has none
    lines = {t.get_text(): t.arrow_patch.get_visible() for t in ax.texts}
    moved = {t.get_text(): tuple(t.xyann) != (5, 5) for t in ax.texts}
    assert lines == moved and any(moved.values()) and not all(moved.values())


def test_synthetic_grid_shows_every_class(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(12, 3, 8, 8), dtype=np.uint8)
    y = np.repeat(["a", "b", "c"], 4)
    ax = plot_synthetic_images(X, y, title="grid")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    shown = ax.get_images()[0].get_array()
    assert shown.shape[:2] == (2 + 3 * (8 + 2), 2 + 4 * (8 + 2))  # 3 rows x 4 columns of tiles
    ax.figure.savefig(tmp_path / "grid.png")
    assert imread(tmp_path / "grid.png").std() > 0


def test_plots_without_matplotlib_name_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # makes the import fail
    table = pd.DataFrame(
        {"accuracy_mean": [0.8], "accuracy_std": [0.0], "eod_max_mean": [0.1], "eod_max_std": [0]},
        index=["cobra"],
    )
    with pytest.raises(ImportError, match=re.escape('pip install "skdistill[plot]"')):
        plot_fairness_accuracy(table)


def test_fairness_accuracy_plot_gives_up_to_20_entries_distinct_colours():
    # a benchmark table holds more than tab10's ten rows: none may share a colour
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    n = 14
    table = pd.DataFrame(
        {
            "accuracy_mean": np.linspace(0.2, 0.9, n),
            "accuracy_std": 0.01,
            "eod_max_mean": np.linspace(1.0, 0.1, n),
            "eod_max_std": 0.01,
        },
        index=[f"entry {i}" for i in range(n)],
    )
    ax = plot_fairness_accuracy(table)
    colours = [to_hex(bar.lines[0].get_color()) for bar in ax.containers]
    assert len(set(colours)) == n
    # the first ten keep tab10's colours, as plots of fewer entries have them
    assert colours[:10] == [to_hex(colormaps["tab10"](i)) for i in range(10)]
