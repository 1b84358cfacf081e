import numpy as np
import pytest

from skdistill.evaluation import synthetic_set_residuals
from skdistill.metrics import residual_diagnostics


def one_dimensional(positions, counts):
    features = np.repeat(positions, counts).astype(float)[:, None]
    groups = np.repeat(np.arange(len(positions)), counts)
    return features, np.zeros(features.shape[0], dtype=int), groups


def test_condition_holds_and_cobra_reduces_the_worst_residual():
    # a large majority at 0, minorities at 1 and 10: vanilla sits near the majority
    features, y, groups = one_dimensional([0.0, 1.0, 10.0], [8, 1, 1])
    row = residual_diagnostics(features, y, groups).iloc[0]
    cobra, vanilla = 11 / 3, 1.1
    assert row.maxres_cobra == pytest.approx((10 - cobra) ** 2)
    assert row.maxres_vanilla == pytest.approx((10 - vanilla) ** 2)
    assert row.worst_group == 2
    assert row.condition == pytest.approx((10 - cobra) * (vanilla - cobra))
    assert row.condition_holds and row.cobra_not_worse
    assert row.maxres_cobra <= row.maxres_vanilla


def test_condition_fails_where_cobra_is_worse():
    # the two extremes are heavy, so the mixture sits near their midpoint; the group mean
    # is pulled toward the light groups near 0 and leaves the group at 10 far away
    features, y, groups = one_dimensional([0.0, 1.0, 2.0, 10.0], [5, 1, 1, 5])
    row = residual_diagnostics(features, y, groups).iloc[0]
    assert not row.condition_holds
    assert not row.cobra_not_worse and row.maxres_cobra > row.maxres_vanilla


def test_classes_with_one_group_are_skipped_and_barycenters_selectable():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(60, 3))
    y = np.repeat([0, 1, 2], 20)
    groups = np.where(y == 2, 0, np.tile([0, 1], 30))
    table = residual_diagnostics(features, y, groups)
    assert list(table.index) == [0, 1]
    assert (table.maxres_fairdd == table.maxres_cobra).all()  # both the group mean under L2
    l1 = residual_diagnostics(features, y, groups, barycenter_kind="l1")
    assert l1.shape == table.shape


def test_synthetic_set_residuals_on_a_tiny_table(tabular):
    X, y, groups = tabular
    table = synthetic_set_residuals(X[::10], y[::10], X, y, groups, epochs=2, net_width=8)
    assert list(table.index) == [0, 1, 2]
    assert (table[["maxres_vanilla", "maxres_cobra"]] >= 0).all().all()
