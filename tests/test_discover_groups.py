"""Fairness without group labels: groups discovered per class, scored against true ones."""

import numpy as np
import pytest

from skdistill import BarycentricDistiller
from skdistill.groups import density_weights, discover_groups, group_recovery


def planted(n=600, shift=8.0, seed=0):
    """Three classes; inside each, a 30 % group shifted along one feature."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    groups = np.where(rng.random(n) < 0.7, "a", "b")
    X = rng.normal(size=(n, 6))
    X[:, 0] += 3 * y
    X[:, 1] += shift * (groups == "b")
    return X, y, groups


def test_planted_groups_are_recovered_and_structureless_classes_stay_whole():
    X, y, groups = planted()
    found = discover_groups(X, y, features="raw")
    assert set(found.n_groups.values()) == {2}  # BIC picks K = 2 in every class
    assert group_recovery(groups, found.groups, y).ari == pytest.approx(1.0)
    noise = np.random.default_rng(1).normal(size=X.shape)
    assert set(discover_groups(noise, y, features="raw").n_groups.values()) == {1}
    assert set(found.bic["k"]) == {1, 2, 3, 4}


def test_recovery_is_per_class_and_invariant_to_renaming():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    true = np.array(["a", "a", "b", "b", "a", "b", "a", "b"])
    renamed = np.where(true == "a", "cluster 1", "cluster 0")
    assert group_recovery(true, renamed, y).ari == 1.0
    one = group_recovery(true, np.zeros(8), y)
    assert one.ari == 0.0 and list(one.by_class.index) == [0, 1]


def test_discovered_groups_drive_a_fair_target_and_network_features_run():
    X, y, groups = planted(n=240)
    found = discover_groups(X, y, features="network", epochs=1, net_width=8)
    assert found.groups.shape == (240,) and all(1 <= k <= 4 for k in found.n_groups.values())
    d = BarycentricDistiller(target="cobra", ipc=2, n_iter=2, net_width=4, random_state=0)
    d.fit(X, y, sensitive_features=discover_groups(X, y, features="raw").groups)
    assert sorted(d.groups_) == ["cluster 0", "cluster 1"]


def test_bad_arguments():
    X, y, _ = planted(n=60)
    with pytest.raises(ValueError, match="features must be"):
        discover_groups(X, y, features="pixels")
    with pytest.raises(ValueError, match="max_groups must be at least 1"):
        discover_groups(X, y, max_groups=0)
    with pytest.raises(ValueError, match="inconsistent|length|samples"):
        discover_groups(X, y[:-1])


# ---------------------------------------------------------------- label-free reweighting
def test_density_weights_are_uniform_on_uniform_data_and_lift_a_rare_mode():
    angles = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    ring = np.c_[np.cos(angles), np.sin(angles)]  # every point has the same neighbourhood
    X = np.r_[ring, ring + 5.0]
    y = np.repeat([0, 1], 200)
    np.testing.assert_allclose(density_weights(X, y), 1.0, rtol=1e-6)
    rng = np.random.default_rng(0)
    rare = rng.random(400) < 0.1
    X = rng.normal(size=(400, 3)) + 6.0 * rare[:, None]
    y = np.repeat([0, 1], 200)
    w = density_weights(X, y)
    assert np.allclose([w[y == 0].mean(), w[y == 1].mean()], 1.0)
    assert w[rare].mean() > 4 * w[~rare].mean()  # the rare mode weighs several times more
    assert np.allclose(density_weights(X, y, power=0.0), 1.0)
    assert density_weights(X, y, max_weight=2.0).max() <= 2.0 + 1e-9


def test_sample_weight_reweights_each_row_and_keeps_its_total():
    from skdistill.targets import TARGETS
    from skdistill.targets._base import reweight_plan

    classes = np.array([0, 0, 0, 1, 1, 1])
    groups = np.array([0, 0, 1, 0, 1, 1])
    plan = TARGETS["cobra"]().plan(classes, groups, 2, 2)
    weights = np.array([1.0, 3.0, 1.0, 0.0, 2.0, 2.0])
    new = reweight_plan(plan, weights)
    np.testing.assert_allclose(
        np.bincount(new.row, weights=new.weight), np.bincount(plan.row, weights=plan.weight)
    )
    assert new.weight[1] == pytest.approx(3 * new.weight[0]) and new.weight[3] == 0.0
    fairdd = TARGETS["fairdd"]().plan(classes, groups, 2, 2)  # a row per (class, group) cell
    kept = reweight_plan(fairdd, np.array([1.0, 1.0, 1.0, 0.0, 1.0, 1.0]))
    assert kept.weight[3] == fairdd.weight[3]  # a row weighing nothing keeps its weights


def test_fit_with_sample_weight():
    X, y, groups = planted(n=240)
    kw = dict(target="vanilla", ipc=2, n_iter=3, net_width=4, random_state=0)
    plain = BarycentricDistiller(**kw).fit(X, y)
    ones = BarycentricDistiller(**kw).fit(X, y, sample_weight=np.ones(240))
    np.testing.assert_allclose(ones.X_synthetic_, plain.X_synthetic_, rtol=1e-5, atol=1e-6)
    weighted = BarycentricDistiller(**kw).fit(X, y, sample_weight=density_weights(X, y))
    assert not np.allclose(weighted.X_synthetic_, plain.X_synthetic_)
    for bad, match in (
        (-np.ones(240), "negative or non-finite"),
        (np.ones(239), r"shape \(239,\) for 240 samples"),
        (np.where(y == 0, 0.0, 1.0), r"weights of class\(es\) \[0\] are all zero"),
    ):
        with pytest.raises(ValueError, match=match):
            BarycentricDistiller(**kw).fit(X, y, sample_weight=bad)
