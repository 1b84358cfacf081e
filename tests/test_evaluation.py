import numpy as np
import pytest
import torch
from sklearn.tree import DecisionTreeClassifier

from skdistill.baselines import random_subset
from skdistill.evaluation import evaluate_synthetic
from skdistill.nn import build_network, reinitialize_
from skdistill.nn._sgd import train_epochs


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
    with pytest.raises(ValueError, match="need images"):
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
    with pytest.raises(ValueError, match="augment applies to the evaluation of images"):
        evaluate_synthetic(Xt, yt, Xt, yt, gt, augment="dsa")


@pytest.mark.parametrize("arch", ["alexnet", "vgg11", "resnet18"])
def test_torchvision_architectures_train_on_small_images(images, arch):
    X, y, groups = images
    result = evaluate_synthetic(
        X, y, X, y, groups, model=arch, epochs=1, batch_size=64, random_state=0
    )
    if arch == "alexnet":  # the cheapest: same seed, same result
        again = evaluate_synthetic(
            X, y, X, y, groups, model=arch, epochs=1, batch_size=64, random_state=0
        )
        assert result.runs.equals(again.runs)
    assert 0.0 <= result.runs.accuracy.iloc[0] <= 1.0
    with pytest.raises(ValueError, match="need images"):
        X_tab = np.zeros((len(y), 5))
        evaluate_synthetic(X_tab, y, X_tab, y, groups, model=arch)


def test_zoo_models_are_torchvision_bodies_adapted_to_any_channels():
    import torch
    from torchvision.models import ResNet

    from skdistill.nn import build_model

    for shape in [(1, 8, 8), (5, 12, 12)]:
        for arch in ("alexnet", "vgg11", "resnet18"):
            net = build_model(arch, shape, 7)
            assert net(torch.zeros(2, *shape)).shape == (2, 7)
    assert isinstance(build_model("resnet18", (3, 8, 8), 2).features, ResNet)


def test_sample_weight_changes_training_and_is_validated(tabular, images):
    X, y, groups = images
    plain = evaluate_synthetic(X, y, X, y, groups, epochs=3, random_state=0)
    weight = np.where(np.asarray(y) == np.asarray(y)[0], 10.0, 0.1)
    weighted = evaluate_synthetic(
        X, y, X, y, groups, epochs=3, random_state=0, sample_weight=weight
    )
    assert not plain.runs.equals(weighted.runs)
    X, y, groups = tabular
    with pytest.raises(ValueError, match="non-negative"):
        evaluate_synthetic(X, y, X, y, groups, sample_weight=-np.ones(len(y)))


def _trained(chunk, sample_weight=None, curve=None):
    """An MLP trained three epochs by the one SGD loop, on fixed random data."""
    gen = torch.Generator().manual_seed(0)
    X, y = torch.randn(70, 5, generator=gen), torch.randint(0, 3, (70,), generator=gen)
    network = reinitialize_(build_network((5,), 3, width=8), 0)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1, momentum=0.9)
    train_epochs(
        network,
        X,
        y,
        optimizer,
        epochs=3,
        generator=torch.Generator().manual_seed(1),
        batch_size=32,
        chunk=chunk,
        sample_weight=sample_weight,
        curve=curve,
    )
    return torch.cat([p.detach().reshape(-1) for p in network.parameters()])


def test_one_sgd_loop_chunks_weights_and_curves():
    whole = _trained(None)
    # chunks add up to the mini-batch gradient; unit weights change nothing at all
    torch.testing.assert_close(_trained(5), whole, rtol=1e-5, atol=1e-6)
    assert torch.equal(_trained(None, sample_weight=torch.ones(70)), whole)
    assert not torch.equal(_trained(None, sample_weight=torch.linspace(0, 2, 70)), whole)
    curve = []
    assert torch.equal(_trained(None, curve=curve), whole)  # watching does not train
    assert [c["epoch"] for c in curve] == [1, 2, 3]
    assert all(0 <= c["accuracy"] <= 1 and c["loss"] > 0 for c in curve)


def test_predictions_are_the_ones_scored(tabular, images):
    from sklearn.metrics import accuracy_score

    from skdistill.metrics import recall_by_group

    for X, y, groups, kw in (
        (*tabular, dict(n_runs=2)),
        (*images, dict(n_runs=2, epochs=2, net_width=8)),
    ):
        half = len(y) // 2
        res = evaluate_synthetic(
            X[:half], y[:half], X[half:], y[half:], groups[half:], predictions=True, **kw
        )
        assert len(res.predictions) == 2
        for pred, (_, run) in zip(res.predictions, res.runs.iterrows()):
            assert pred.shape == (len(y) - half,)
            assert accuracy_score(y[half:], pred) == run["accuracy"]
            table = recall_by_group(y[half:], pred, sensitive_features=groups[half:])
            gaps = (table.max(axis=1) - table.min(axis=1)).max()
            assert gaps == pytest.approx(run["eod_max"])
        assert "predictions" not in evaluate_synthetic(
            X[:half], y[:half], X[half:], y[half:], groups[half:], **kw
        )
