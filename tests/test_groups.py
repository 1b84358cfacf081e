import numpy as np
import pandas as pd
import pytest
from conftest import TINY

from skdistill import BarycentricDistiller
from skdistill.groups import corrupt_groups, hide_groups, impute_groups
from skdistill.metrics import recall_by_group
from skdistill.targets import TARGETS, CobraTarget


def separated(n=400, seed=0):
    """Two classes, two groups; group b is shifted by +6 on every feature."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    groups = np.where(rng.random(n) < 0.7, "a", "b")
    X = rng.normal(size=(n, 3)) + y[:, None] + 6.0 * (groups == "b")[:, None]
    return X, y, groups


def test_corrupt_groups_flips_exactly_a_fraction_to_wrong_groups():
    groups = np.repeat(["a", "b", "c"], 100)
    noisy, flipped = corrupt_groups(groups, 0.2, random_state=0)
    assert flipped.sum() == 60
    assert (noisy[flipped] != groups[flipped]).all() and (noisy[~flipped] == groups[~flipped]).all()
    assert set(noisy[flipped]) == {"a", "b", "c"}
    again, _ = corrupt_groups(groups, 0.2, random_state=0)
    np.testing.assert_array_equal(noisy, again)
    with pytest.raises(ValueError, match="rate must lie"):
        corrupt_groups(groups, 1.5)


def test_hide_groups_keeps_a_fraction():
    groups = np.repeat(["a", "b"], 50)
    partial, known = hide_groups(groups, 0.25, random_state=0)
    assert known.sum() == 25 and all(v is None for v in partial[~known])
    np.testing.assert_array_equal(partial[known], groups[known])


def test_impute_groups_recovers_separated_groups():
    X, _, groups = separated()
    partial, known = hide_groups(groups, 0.25, random_state=1)
    imputed, info = impute_groups(X, partial, random_state=0)
    assert info.n_missing == 300 and info.fraction_missing == pytest.approx(0.75)
    np.testing.assert_array_equal(imputed[known], groups[known])
    assert (imputed == groups).mean() > 0.95


def test_distiller_refuses_or_imputes_missing_groups():
    X, y, groups = separated()
    partial, _ = hide_groups(groups, 0.5, random_state=0)
    with pytest.raises(ValueError, match="missing_groups='impute'"):
        BarycentricDistiller(**TINY).fit(X, y, sensitive_features=partial)
    d = BarycentricDistiller(**TINY, missing_groups="impute").fit(
        X, y, sensitive_features=pd.Series(partial)
    )
    info = d.group_imputation_
    assert (info["n_missing"], info["fraction_missing"], info["n_clusters"]) == (200, 0.5, 2)
    np.testing.assert_array_equal(info["imputed"], pd.isna(partial))
    assert (d.groups_[info["codes"]] == groups).mean() > 0.95
    assert list(d.groups_) == ["a", "b"]
    truth = pd.crosstab(y, groups).to_numpy()
    assert np.abs(d.group_counts_.to_numpy() - truth).max() <= 0.05 * len(y)
    full = BarycentricDistiller(**TINY, missing_groups="impute").fit(
        X, y, sensitive_features=groups
    )
    assert full.group_imputation_ is None


def test_intersectional_groups_end_to_end():
    X, y, groups = separated()
    second = np.tile(["x", "y"], len(y) // 2)
    sf = pd.DataFrame({"g": groups, "h": second})
    d = BarycentricDistiller(**TINY, target="fairdd").fit(X, y, sensitive_features=sf)
    assert list(d.groups_) == ["g=a, h=x", "g=a, h=y", "g=b, h=x", "g=b, h=y"]
    table = recall_by_group(y, y, sensitive_features=sf)
    assert list(table.columns) == list(d.groups_)


@pytest.mark.parametrize("kind", ["l1", "l2", "linf", "cosine", "huber"])
def test_every_barycenter_fits(kind):
    X, y, groups = separated()
    d = BarycentricDistiller(**TINY, target=CobraTarget(barycenter=kind))
    d.fit(X, y, sensitive_features=groups)
    assert np.isfinite(d.X_synthetic_).all() and np.isfinite(d.history_.loss).all()


def test_two_group_l1_barycenter_equals_the_mean_path():
    # the median of two points is their midpoint: the per-group path must agree with the
    # one-pass weighted mean
    X, y, groups = separated()
    mean = BarycentricDistiller(**TINY).fit(X, y, sensitive_features=groups).X_synthetic_
    l1 = BarycentricDistiller(**TINY, target=CobraTarget(barycenter="l1"))
    l1.fit(X, y, sensitive_features=groups)
    np.testing.assert_allclose(l1.X_synthetic_, mean, rtol=1e-4, atol=1e-5)


def test_barycenter_weights():
    classes = np.array([0, 0, 0, 0])
    groups = np.array([0, 0, 0, 1])
    feats = np.array([[0.0], [0.0], [0.0], [4.0]])
    for weights, expected in (([1.0, 1.0], 2.0), ([3.0, 1.0], 1.0), ([0.0, 1.0], 4.0)):
        plan = CobraTarget(weights=weights).plan(classes, groups, 1, 2)
        assert (plan.weight * feats[:, 0]).sum() == pytest.approx(expected)
    X, y, groups = separated()
    uniform = BarycentricDistiller(**TINY).fit(X, y, sensitive_features=groups)
    explicit = BarycentricDistiller(**TINY, target=CobraTarget(weights={"a": 2, "b": 2})).fit(
        X, y, sensitive_features=groups
    )
    np.testing.assert_array_equal(uniform.X_synthetic_, explicit.X_synthetic_)
    with pytest.raises(ValueError, match="one non-negative weight per group"):
        BarycentricDistiller(**TINY, target=CobraTarget(weights={"a": 1})).fit(
            X, y, sensitive_features=groups
        )
    with pytest.raises(ValueError, match="barycenter applies to target='cobra' only"):
        BarycentricDistiller(**TINY, target="fairdd", barycenter="l2").fit(X, y)
    assert set(TARGETS) == {
        "vanilla",
        "uniform",
        "fairdd",
        "cobra",
        "reweighted",
        "wasserstein",
        "mmd",
    }
