"""The COBRA paper's fairness interventions around vanilla distillation (its Table 18).

- **RF** (representation level): a feature extractor trained with a fair objective, applied
  before distillation — :class:`FairFeatureExtractor`;
- **DF** (data level): subgroup-aware loss reweighting during distillation — the
  ``target="reweighted"`` of :class:`skdistill.BarycentricDistiller`;
- **MF** (model level): the vanilla synthetic set unchanged, a fair objective when training
  the downstream model — :func:`fair_downstream_weights`.

The fair objective of RF and MF is group-balanced reweighting: every (class, group) cell
weighs the same in the loss (:func:`balanced_weights`).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from .._data import check_lengths, encode_groups, encode_labels, fit_codec
from .._device import resolve_device
from ..evaluation import predict_codes, train_network
from ..nn import build_network


def balanced_weights(y, sensitive_features):
    """Per-sample weights giving every (class, group) cell the same total weight (mean 1).

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Labels.
    sensitive_features : array-like of shape (n_samples,) or (n_samples, n_attrs)
        Groups.

    Returns
    -------
    ndarray of shape (n_samples,)
        ``n / (n_cells * n_cell(i))``.
    """
    check_lengths(y=y, sensitive_features=sensitive_features)
    _, y_codes = encode_labels(y)
    _, g_codes = encode_groups(sensitive_features, y_codes.shape[0])
    _, cell = np.unique(y_codes * (g_codes.max() + 1) + g_codes, return_inverse=True)
    counts = np.bincount(cell)
    return y_codes.shape[0] / (counts.shape[0] * counts[cell])


class FairFeatureExtractor(TransformerMixin, BaseEstimator):
    """RF: a network trained on real data with group-balanced weights; its embeddings as features.

    ``fit`` trains a ConvNet (images) or an MLP (tables) from scratch with the evaluation
    protocol, every (class, group) cell weighing the same in the loss, so that minority
    groups shape the representation as much as majority ones. ``transform`` returns the
    network's penultimate features (a table), on which vanilla distillation and the
    downstream model then work.

    Parameters
    ----------
    epochs : int, default=5
        Training epochs.
    batch_size : int, default=256
        Mini-batch size.
    net_width, net_depth : int or None
        Network size (reference sizes when None).
    device : str, default="auto"
        Device of the network.
    random_state : int, default=0
        Seed of the network.
    """

    def __init__(
        self,
        epochs=5,
        batch_size=256,
        net_width=None,
        net_depth=None,
        device="auto",
        random_state=0,
    ):
        self.epochs = epochs
        self.batch_size = batch_size
        self.net_width = net_width
        self.net_depth = net_depth
        self.device = device
        self.random_state = random_state

    def fit(self, X, y, *, sensitive_features):
        """Train the extractor on ``(X, y)`` with group-balanced weights."""
        check_lengths(X=X, y=y, sensitive_features=sensitive_features)
        self.codec_ = fit_codec(X)
        self.classes_, codes = encode_labels(y)
        device = resolve_device(self.device)
        shape = self._sample_shape()
        self.network_ = build_network(shape, self.classes_.shape[0], self.net_width, self.net_depth)
        train_network(
            self.network_,
            self.codec_.encode(X).reshape(-1, *shape),
            torch.as_tensor(codes),
            epochs=self.epochs,
            batch_size=self.batch_size,
            seed=int(self.random_state),
            device=device,
            sample_weight=balanced_weights(y, sensitive_features),
        )
        self.network_.cpu()
        return self

    def _sample_shape(self):
        shape = self.codec_.sample_shape
        return shape if self.codec_.kind == "image" else (int(np.prod(shape)),)

    @torch.no_grad()
    def transform(self, X):
        """Penultimate features of ``X``, shape ``(n_samples, embedding_dim)``."""
        check_is_fitted(self, "network_")
        x = self.codec_.encode(X).reshape(-1, *self._sample_shape())
        parts = [self.network_.embed(x[i : i + 256]) for i in range(0, x.shape[0], 256)]
        return torch.cat(parts).numpy()


def fair_downstream_weights(
    X_synthetic,
    y_synthetic,
    X_real,
    sensitive_features_real,
    *,
    epochs=3,
    net_width=None,
    random_state=0,
):
    """MF: group-balanced weights for training the downstream model on a synthetic set.

    A synthetic set carries no group labels, so they are inferred: a classifier trained on
    the real samples to predict the group (a ConvNet for images, ``LogisticRegression`` for
    tables) labels every synthetic sample; the weights then balance the (class, inferred
    group) cells (:func:`balanced_weights`). Pass them as ``sample_weight`` to
    :func:`skdistill.evaluation.evaluate_synthetic`.

    Parameters
    ----------
    X_synthetic, y_synthetic : array-like
        The synthetic set.
    X_real, sensitive_features_real : array-like
        Real samples and their groups, to learn the group classifier.
    epochs : int, default=3
        Training epochs of the image group classifier.
    net_width : int or None, default=None
        Width of its ConvNet (128 when None).
    random_state : int, default=0
        Seed of the group classifier.

    Returns
    -------
    weights : ndarray of shape (n_synthetic,)
    groups : ndarray of shape (n_synthetic,)
        The inferred group of every synthetic sample.
    """
    infer = fit_group_classifier(
        X_real,
        sensitive_features_real,
        epochs=epochs,
        net_width=net_width,
        random_state=random_state,
    )
    inferred = infer(X_synthetic)
    return balanced_weights(y_synthetic, inferred), inferred


def fit_group_classifier(X, sensitive_features, *, epochs=3, net_width=None, random_state=0):
    """A function mapping samples to their predicted group (as :func:`fair_downstream_weights`).

    A ConvNet for images (``epochs`` of the evaluation protocol), ``LogisticRegression`` for
    tables; fitted once, it labels any number of synthetic sets.
    """
    check_lengths(X=X, sensitive_features=sensitive_features)
    groups, g_codes = encode_groups(sensitive_features, len(X))
    codec = fit_codec(X)
    if codec.kind == "image":
        network = build_network(codec.sample_shape, groups.shape[0], net_width)
        train_network(
            network,
            codec.encode(X),
            torch.as_tensor(g_codes),
            epochs=epochs,
            seed=int(random_state),
        )
        return lambda X_new: groups[predict_codes(network, codec.encode(X_new))]
    model = LogisticRegression(max_iter=1000).fit(codec.encode(X).numpy(), g_codes)
    return lambda X_new: groups[model.predict(codec.encode(X_new).numpy())]
