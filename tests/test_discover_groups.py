"""Fairness without group labels: groups discovered per class, scored against true ones."""

import numpy as np
import pytest

from skdistill import BarycentricDistiller
from skdistill.groups import discover_groups, group_recovery


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
