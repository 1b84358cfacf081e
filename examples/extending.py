"""Extending skdistill: a new matching method and a new target, from outside the package.

Each is one class plus one registry line. Import this module (or pass it to the command line
with ``skdistill --plugin examples/extending.py ...``) and both names work everywhere a
built-in one does: ``BarycentricDistiller(method="projection", target="tempered")``, grid
searches over ``target__alpha``, ``skdistill benchmark --methods projection --targets
tempered`` and ``skdistill demo``. Run it as a script for a small comparison on Adult.

- ``RandomProjectionMatching`` ("projection"): distribution matching without a network. Each
  iteration draws a fresh random ReLU feature map ``phi(x) = relu(W x + b)`` of the flattened
  sample (seeded by the iteration, so fits are reproducible), and matches the target's
  weighted real mean of ``phi`` against each class's synthetic mean in squared L2.
- ``TemperedTarget`` ("tempered"): one row per class whose samples weigh
  ``n_{a|y}^(-alpha)`` (``n_{a|y}``: the batch count of the sample's group in its class),
  renormalised per class. ``alpha=0`` is vanilla's class mean, ``alpha=1`` the mean of the
  group means (COBRA's mean barycenter on the batch); values between trade the majority's
  share for the minorities'.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval

from skdistill.methods import METHODS, Method, weighted_row_sums
from skdistill.targets import TARGETS, RowPlan, Target


class RandomProjectionMatching(Method):
    """Match mean random ReLU features of real and synthetic samples (no network).

    Parameters
    ----------
    sample_shape : tuple of int
        Shape of one sample, e.g. ``(d,)`` for rows or ``(C, H, W)`` for images.
    n_classes : int
        Number of classes (unused: the features do not depend on the labels).
    net_width : int or None
        Number of random features; 256 when None.
    net_depth : int or None
        Unused (the map has one layer); accepted as every method is built with it.
    device : torch.device
        Where the features are computed.
    augment : DSA or None
        Siamese augmentation, applied by :meth:`~skdistill.methods.Method.views`.
    """

    name = "projection"
    label = "RP"
    default_lr = 1.0

    def __init__(
        self, sample_shape, n_classes, *, net_width=None, net_depth=None, device, augment=None
    ):
        super().__init__(device, augment)
        self.n_inputs = int(np.prod(sample_shape))
        self.n_features = net_width or 256
        self.weight = self.bias = None

    def begin_iteration(self, seed):
        """Draw this iteration's feature map from ``seed``."""
        super().begin_iteration(seed)
        generator = torch.Generator().manual_seed(seed)
        scale = self.n_inputs**-0.5
        self.weight = torch.randn(self.n_inputs, self.n_features, generator=generator) * scale
        self.bias = torch.rand(self.n_features, generator=generator) * 2 - 1
        self.weight, self.bias = self.weight.to(self.device), self.bias.to(self.device)

    def features(self, x):
        return torch.relu(x.flatten(1) @ self.weight + self.bias)

    def real_statistics(self, x, plan):
        """Weighted sums of the real features per row of the target's plan."""
        with torch.no_grad():
            return weighted_row_sums(self.features(x), plan)

    def synthetic_statistics(self, x_syn, ipc, classes):
        """Mean features of each class's block of ``ipc`` synthetic samples."""
        features = self.features(self.views(x_syn, ipc, classes))
        return features.reshape(-1, ipc, self.n_features).mean(dim=1)

    def distance(self, real, synthetic):
        """Sum over rows of squared L2 distances."""
        return ((real - synthetic) ** 2).sum()


class TemperedTarget(Target):
    """Class means that weigh every group ``n_{a|y}^(-alpha)``: vanilla at 0, balanced at 1.

    Parameters
    ----------
    alpha : float in [0, 1], default=0.5
        The tempering exponent.
    """

    name = "tempered"
    label = "tempered"
    stratified = False  # the batch is drawn as vanilla's: the weights do the balancing
    _parameter_constraints = {"alpha": [Interval(Real, 0, 1, closed="both")]}

    def __init__(self, alpha=0.5):
        self.alpha = alpha

    def plan(self, classes, groups, n_classes, n_groups):
        """One row per class; weights ``count(class, group)^-alpha``, summing to 1 per class."""
        cells = classes * n_groups + groups
        counts = np.bincount(cells, minlength=n_classes * n_groups)
        weight = counts[cells].astype(np.float64) ** -self.alpha
        weight /= np.bincount(classes, weights=weight, minlength=n_classes)[classes]
        return RowPlan(row=classes, weight=weight, row_class=np.arange(n_classes))


# the two registry lines
METHODS["projection"] = RandomProjectionMatching
TARGETS["tempered"] = TemperedTarget


if __name__ == "__main__":
    from sklearn.linear_model import LogisticRegression

    from skdistill import BarycentricDistiller
    from skdistill.datasets import adult_preprocessor, load_adult
    from skdistill.evaluation import evaluate_synthetic

    data = load_adult(sensitive="sex")
    prep = adult_preprocessor().fit(data.X_train)
    X_train, X_test = prep.transform(data.X_train), prep.transform(data.X_test)
    for alpha in [0.0, 0.5, 1.0]:
        distiller = BarycentricDistiller(
            method="projection", target=TemperedTarget(alpha), ipc=10, n_iter=100, random_state=0
        )
        X_syn, y_syn = distiller.fit_resample(
            X_train, data.y_train, sensitive_features=data.sensitive_features_train
        )
        result = evaluate_synthetic(
            X_syn,
            y_syn,
            X_test,
            data.y_test,
            data.sensitive_features_test,
            model=LogisticRegression(max_iter=1000),
        )
        acc, eod = result.summary[("accuracy", "mean")], result.summary[("eod_max", "mean")]
        print(f"tempered alpha={alpha:.1f}: accuracy {100 * acc:.1f}%  EOD_M {100 * eod:.1f}")
