import numpy as np
import pytest

from skdistill import BarycentricDistiller
from skdistill.baselines import (
    FairFeatureExtractor,
    balanced_weights,
    fair_downstream_weights,
    fairlearn_mitigations,
)


@pytest.fixture
def binary():
    """Two classes, two groups; the label leaks through the group (group b mostly positive)."""
    rng = np.random.default_rng(0)
    n = 400
    groups = np.where(rng.random(n) < 0.7, "a", "b")
    X = rng.normal(size=(n, 4))
    X[:, 0] += 1.5 * (groups == "b")
    y = (X[:, 0] + 0.5 * rng.normal(size=n) > 0.6).astype(int)
    return X, y, groups


def test_fairlearn_mitigations_on_binary_tabular_data(binary):
    X, y, groups = binary
    table = fairlearn_mitigations(X, y, groups, X, y, groups, n_runs=2, random_state=0)
    assert table.shape[0] == 6 and (table.note == "").all()
    assert table[["accuracy", "eod_max"]].notna().all().all()
    # our equalized-odds metric agrees with fairlearn's on every row
    np.testing.assert_allclose(table.eod_max, table.eod_max_fairlearn, atol=1e-12)
    # the equalized-odds post-processing is fairer than the plain model on its training data
    from sklearn.linear_model import LogisticRegression

    from skdistill.metrics import equalized_odds_difference

    plain = LogisticRegression(max_iter=1000).fit(X, y).predict(X)
    plain_eod = equalized_odds_difference(y, plain, sensitive_features=groups)
    threshold = table[table.baseline.str.startswith("ThresholdOptimizer")]
    assert threshold.eod_max.mean() < plain_eod
    # labels need not be 0/1
    words = np.where(y == 1, "good", "bad")
    table = fairlearn_mitigations(X, words, groups, X, words, groups, random_state=0)
    assert table.accuracy.notna().all()


def test_fairlearn_mitigations_say_where_they_do_not_apply(binary, images):
    X, y, groups = binary
    y3 = y + (X[:, 1] > 1)
    table = fairlearn_mitigations(X, y3, groups, X, y3, groups)
    notes = dict(zip(table.baseline, table.note))
    assert notes["ThresholdOptimizer (equalized odds)"] == "binary labels only"
    assert notes["CorrelationRemover"] == ""
    assert table.loc[table.note != "", "accuracy"].isna().all()
    Xi, yi, gi = images
    table = fairlearn_mitigations(Xi, yi, gi, Xi, yi, gi)
    assert (table.note == "tabular data only").all()
    with pytest.raises(ValueError, match="unknown mitigation"):
        fairlearn_mitigations(X, y, groups, X, y, groups, mitigations=["magic"])


def test_balanced_weights_equalise_every_cell():
    y = np.array([0, 0, 0, 0, 1, 1])
    groups = np.array(["a", "a", "a", "b", "a", "b"])
    w = balanced_weights(y, groups)
    cells = {(c, g): w[(y == c) & (groups == g)].sum() for c, g in zip(y, groups)}
    assert np.allclose(list(cells.values()), 1.5)
    assert w.mean() == pytest.approx(1.0)


def test_fair_feature_extractor_then_vanilla_distillation(tabular, images):
    X, y, groups = tabular
    ext = FairFeatureExtractor(epochs=2, net_width=8).fit(X, y, sensitive_features=groups)
    Z = ext.transform(X)
    assert Z.shape == (len(y), 8)
    d = BarycentricDistiller(target="vanilla", ipc=2, n_iter=2, net_width=4, random_state=0)
    X_syn, y_syn = d.fit_resample(Z, y)
    assert X_syn.shape == (6, 8)
    Xi, yi, gi = images
    ext = FairFeatureExtractor(epochs=1, net_width=4, net_depth=2).fit(
        Xi, yi, sensitive_features=gi
    )
    assert ext.transform(Xi).shape == (len(yi), 4 * 2 * 2)
    # the fair objective changes the extractor
    other = FairFeatureExtractor(epochs=1, net_width=4, net_depth=2)
    other.fit(Xi, yi, sensitive_features=np.zeros(len(yi)))
    assert not np.allclose(ext.transform(Xi), other.transform(Xi))


def test_fair_downstream_weights_infer_groups(tabular):
    X, y, groups = tabular
    # group b is shifted by +2 in every feature: easy to infer
    weights, inferred = fair_downstream_weights(X[::4], y[::4], X, groups)
    assert (inferred == groups[::4]).mean() >= 0.85
    np.testing.assert_allclose(weights, balanced_weights(y[::4], inferred))
