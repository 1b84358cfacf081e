import numpy as np
import pytest
from sklearn.tree import DecisionTreeClassifier

from skdistill.baselines import random_subset
from skdistill.evaluation import evaluate_synthetic


def test_tabular_evaluation_with_any_sklearn_classifier(tabular):
    X, y, groups = tabular
    res = evaluate_synthetic(X[::2], y[::2], X[1::2], y[1::2], groups[1::2], random_state=0)
    assert list(res.runs.columns[:4]) == ["run", "accuracy", "eod_max", "eod_mean"]
    assert 0.5 < res.runs.accuracy[0] <= 1.0
    np.testing.assert_allclose(res.runs.eod_max, res.runs.eod_max_fairlearn, atol=1e-9)
    tree = evaluate_synthetic(
        X[::2],
        y[::2],
        X[1::2],
        y[1::2],
        groups[1::2],
        model=DecisionTreeClassifier(),
        n_runs=3,
        random_state=0,
    )
    assert len(tree.runs) == 3 and ("accuracy", "std") in tree.summary.index


def test_image_evaluation_trains_convnets_reproducibly(images):
    X, y, groups = images
    kw = dict(n_runs=2, epochs=2, net_width=4, net_depth=2, random_state=0)
    a = evaluate_synthetic(X[:40], y[:40], X[40:], y[40:], groups[40:], **kw)
    b = evaluate_synthetic(X[:40], y[:40], X[40:], y[40:], groups[40:], **kw)
    assert len(a.runs) == 2
    np.testing.assert_array_equal(a.runs.to_numpy(), b.runs.to_numpy())


def test_model_argument_is_checked(tabular, images):
    X, y, groups = tabular
    with pytest.raises(ValueError, match="model must be"):
        evaluate_synthetic(X, y, X, y, groups, model="forest")
    with pytest.raises(ValueError, match="'convnet' needs images"):
        evaluate_synthetic(X, y, X, y, groups, model="convnet")


def test_random_subset(tabular):
    X, y, groups = tabular
    X_r, y_r = random_subset(X, y, 4, random_state=0)
    assert X_r.shape == (12, 5)
    np.testing.assert_array_equal(y_r, np.repeat([0, 1, 2], 4))
    X_b, _ = random_subset(X, y, 4, sensitive_features=groups, balanced=True, random_state=0)
    rows = [np.flatnonzero(np.all(X == r, axis=1))[0] for r in X_b]
    assert sorted(groups[rows][:4]) == ["a", "a", "b", "b"]
    with pytest.raises(ValueError, match="fewer than ipc=81"):
        random_subset(X, y, 81)


def test_dsa_training_of_the_evaluator_is_seeded_and_changes_training(images, tabular):
    X, y, groups = images
    kw = dict(epochs=3, net_width=4, net_depth=2, random_state=0)
    a = evaluate_synthetic(X, y, X, y, groups, augment="dsa", **kw).runs
    b = evaluate_synthetic(X, y, X, y, groups, augment="dsa", **kw).runs
    assert a.equals(b)
    Xt, yt, gt = tabular
    with pytest.raises(ValueError, match="augment applies to the ConvNet"):
        evaluate_synthetic(Xt, yt, Xt, yt, gt, augment="dsa")
