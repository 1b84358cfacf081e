"""Evaluate a (synthetic) training set: fresh models trained on it, scored for accuracy and EOD."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone, is_classifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.utils import Bunch, check_random_state

from .._data import check_lengths, encode_labels, fit_codec
from .._device import resolve_device
from ..methods.augment import make_augment
from ..metrics import fairlearn_crosscheck, fairness_report, residual_diagnostics
from ..nn import ARCHITECTURES, build_model
from ._train import predict_codes, train_network

MSG_MODEL = (
    "model must be 'auto', one of {archs} or a scikit-learn classifier; got {model!r}. "
    "'mlp' takes any data, the other architectures need images, and a scikit-learn "
    "classifier needs tabular data."
)
IMAGE_ARCHITECTURES = tuple(a for a in ARCHITECTURES if a != "mlp")


def _train_torch(
    kind,
    X_train,
    y_train,
    seed,
    device,
    epochs,
    lr,
    batch_size,
    net_width,
    net_depth,
    augment=None,
    sample_weight=None,
    curve=None,
):
    """A fresh ConvNet/MLP trained on ``(X_train, y_train)``, with its input codec and classes."""
    codec = fit_codec(X_train)
    image_model = kind in IMAGE_ARCHITECTURES
    if image_model and codec.kind != "image":
        raise ValueError(MSG_MODEL.format(archs=list(ARCHITECTURES), model=kind))
    classes, codes = encode_labels(y_train)
    sample_shape = codec.sample_shape if image_model else (int(np.prod(codec.sample_shape)),)
    network = build_model(kind, sample_shape, classes.shape[0], net_width, net_depth)
    train_network(
        network,
        codec.encode(X_train).reshape(-1, *sample_shape),
        torch.as_tensor(codes),
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        seed=seed,
        device=device,
        augment=make_augment(augment, codec.sample_shape[0]) if image_model else None,
        sample_weight=sample_weight,
        curve=curve,
    )
    return network, codec, classes, sample_shape


def _fit_predict_torch(kind, X_train, y_train, X_test, seed, device, **train_kw):
    network, codec, classes, sample_shape = _train_torch(
        kind, X_train, y_train, seed, device, **train_kw
    )
    xte = codec.encode(X_test).reshape(-1, *sample_shape)
    return classes[predict_codes(network, xte, device=device)]


def synthetic_set_residuals(
    X_synthetic,
    y_synthetic,
    X_real,
    y_real,
    sensitive_features,
    *,
    epochs=300,
    net_width=None,
    net_depth=None,
    barycenter_kind="mean",
    device="auto",
    random_state=0,
):
    """The worst-case residual diagnostic of a synthetic set (COBRA paper, Appendix G.2).

    A fresh network (ConvNet for images, MLP for tables) is trained on the synthetic set with
    the evaluation protocol; its embeddings of the *real* samples give the group statistics
    ``Phi_{a|y}``, from which :func:`skdistill.metrics.residual_diagnostics` computes the
    vanilla / FairDD / COBRA worst-case residuals and Theorem 4.1's condition.

    Parameters
    ----------
    X_synthetic, y_synthetic : array-like
        The synthetic set (``BarycentricDistiller.fit_resample()``'s output).
    X_real, y_real, sensitive_features : array-like
        Real samples (e.g. the training set), their labels and groups.
    epochs : int, default=300
        Training epochs of the network.
    net_width, net_depth : int or None
        Network size (reference sizes when None).
    barycenter_kind : str, default="mean"
        COBRA's discrepancy.
    device : str, default="auto"
        Device of the network.
    random_state : int, default=0
        Seed of the network.

    Returns
    -------
    DataFrame
        As :func:`skdistill.metrics.residual_diagnostics`, one row per class.
    """
    check_lengths(X_real=X_real, y_real=y_real, sensitive_features=sensitive_features)
    dev = resolve_device(device)
    kind = "convnet" if np.ndim(X_synthetic) > 2 else "mlp"
    network, codec, _, sample_shape = _train_torch(
        kind, X_synthetic, y_synthetic, random_state, dev, epochs, 0.01, 256, net_width, net_depth
    )
    x = codec.encode(X_real).reshape(-1, *sample_shape)
    with torch.no_grad():
        features = torch.cat(
            [network.embed(x[i : i + 256].to(dev)).cpu() for i in range(0, x.shape[0], 256)]
        )
    return residual_diagnostics(
        features.numpy(), y_real, sensitive_features, barycenter_kind=barycenter_kind
    )


def evaluate_synthetic(
    X_train,
    y_train,
    X_test,
    y_test,
    sensitive_features_test,
    *,
    model="auto",
    n_runs=1,
    epochs=300,
    lr=0.01,
    batch_size=256,
    net_width=None,
    net_depth=None,
    augment=None,
    sample_weight=None,
    curves=False,
    predictions=False,
    device="auto",
    random_state=None,
):
    """Train fresh models on a (synthetic) training set and score them on real test data.

    Images are evaluated with the reference protocol of dataset distillation: a ConvNet
    (width 128, depth 3, instance norm) trained from scratch with SGD (lr 0.01, momentum 0.9,
    weight decay 5e-4, lr x0.1 at half the epochs). Tables are evaluated with a scikit-learn
    classifier (``LogisticRegression`` by default). Every run uses its own seed.

    Parameters
    ----------
    X_train, y_train : array-like
        The training set, e.g. ``BarycentricDistiller.fit_resample()``'s output.
    X_test, y_test : array-like
        Held-out real data, in the same container and layout as ``X_train``.
    sensitive_features_test : array-like
        Groups of the test samples.
    model : "auto", architecture name or scikit-learn classifier, default="auto"
        ``"auto"``: ConvNet for images, ``LogisticRegression(max_iter=1000)`` for tables.
        Names (:data:`skdistill.nn.ARCHITECTURES`): ``"convnet"``, ``"mlp"``, and the
        torchvision models ``"alexnet"``, ``"vgg11"``, ``"resnet18"`` adapted to small images
        (:class:`skdistill.nn.ZooNet`), trained from random weights.
    n_runs : int, default=1
        Independent trainings (seeds).
    epochs, lr, batch_size : training settings of the torch models.
    net_width, net_depth : int or None
        Size of the torch models (reference sizes when None).
    augment : {"dsa"}, DSA instance or None, default=None
        Augment every training mini-batch of the ConvNet with DSA (the reference protocol
        for sets distilled with DSA); images only.
    sample_weight : array-like of shape (n_train,) or None, default=None
        Weight of every training sample's loss (e.g. group-balancing weights for a fair
        downstream objective); passed to ``fit`` of a scikit-learn classifier.
    curves : bool, default=False
        Record the training curve of every torch model (per epoch: mean training loss and
        accuracy on the mini-batches it trained on), returned as ``curves``.
    predictions : bool, default=False
        Also return every run's predictions on ``X_test`` as ``predictions`` (one array per
        run), e.g. to compute a criterion per class and group (``recall_by_group``).
    device : str, default="auto"
        Device of the torch models.
    random_state : int or None
        Seed of the runs.

    Returns
    -------
    Bunch
        ``runs`` (DataFrame, one row per run: accuracy, eod_max, eod_mean and their
        fairlearn recomputation, and the criteria of :func:`skdistill.metrics.fairness_report`:
        demographic parity ``dp_*``, equal opportunity ``eop_*``, predictive parity ``ppd_*``,
        accuracy gap ``acc_gap_*`` (``*``: ``max`` or ``mean`` over classes) and
        ``worst_group_accuracy``) and ``summary`` (mean and std of each column, as a Series with a
        ``(metric, "mean"|"std")`` index), all in [0, 1]; with ``curves``, also ``curves``
        (one DataFrame per run: epoch, loss, accuracy); with ``predictions``, also
        ``predictions``.
    """
    model = _check_evaluation(
        X_train, y_train, X_test, y_test, sensitive_features_test, model, augment, sample_weight
    )
    dev = resolve_device(device)
    seeds = check_random_state(random_state).randint(np.iinfo(np.int32).max, size=n_runs)
    train_kw = dict(
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        net_width=net_width,
        net_depth=net_depth,
        augment=augment,
        sample_weight=sample_weight,
    )
    rows, training_curves, predicted = [], [], []
    for run, seed in enumerate(seeds):
        curve = [] if curves and isinstance(model, str) else None
        y_pred = _fit_predict(model, X_train, y_train, X_test, int(seed), dev, curve, train_kw)
        if curve is not None:
            training_curves.append(pd.DataFrame(curve))
        predicted.append(np.asarray(y_pred))
        rows.append({"run": run, **_scores(np.asarray(y_test), y_pred, sensitive_features_test)})
    runs = pd.DataFrame(rows)
    metrics = runs.drop(columns="run")
    summary = pd.concat({"mean": metrics.mean(), "std": metrics.std(ddof=0)}).swaplevel()
    result = Bunch(runs=runs, summary=summary.sort_index())
    if curves:
        result.curves = training_curves
    if predictions:
        result.predictions = predicted
    return result


def _check_evaluation(
    X_train, y_train, X_test, y_test, sensitive_features_test, model, augment, sample_weight
):
    """Check the inputs of :func:`evaluate_synthetic`; return the model (``"auto"`` resolved)."""
    if sample_weight is None:
        check_lengths(X_train=X_train, y_train=y_train)
    else:
        check_lengths(X_train=X_train, y_train=y_train, sample_weight=sample_weight)
        if np.any(np.asarray(sample_weight, dtype=float) < 0):
            raise ValueError("sample_weight must be non-negative.")
    check_lengths(X_test=X_test, y_test=y_test, sensitive_features_test=sensitive_features_test)
    image = np.ndim(X_train) > 2
    if model == "auto":
        model = "convnet" if image else LogisticRegression(max_iter=1000)
    if isinstance(model, str):
        if model not in ARCHITECTURES:
            raise ValueError(MSG_MODEL.format(archs=list(ARCHITECTURES), model=model))
    elif not is_classifier(model) or image:
        raise ValueError(MSG_MODEL.format(archs=list(ARCHITECTURES), model=model))
    if augment is not None and model not in IMAGE_ARCHITECTURES:
        raise ValueError(
            "augment applies to the evaluation of images by a convolutional architecture; "
            "leave it None."
        )
    return model


def _fit_predict(model, X_train, y_train, X_test, seed, device, curve, train_kw):
    """Predictions on ``X_test`` of ``model`` (a name or a classifier) trained with ``seed``."""
    if isinstance(model, str):
        return _fit_predict_torch(
            model, X_train, y_train, X_test, seed, device, curve=curve, **train_kw
        )
    est = clone(model)
    if "random_state" in est.get_params():
        est.set_params(random_state=seed)
    sample_weight = train_kw["sample_weight"]
    fit_kw = {} if sample_weight is None else {"sample_weight": np.asarray(sample_weight)}
    return est.fit(X_train, y_train, **fit_kw).predict(X_test)


def _scores(y_true, y_pred, sensitive_features):
    """Accuracy, equalized odds (and their fairlearn recomputation) and the other criteria."""
    check = fairlearn_crosscheck(y_true, y_pred, sensitive_features=sensitive_features)
    return {
        "accuracy": accuracy_score(y_true, y_pred),
        "eod_max": check.eod_max,
        "eod_mean": check.eod_mean,
        "eod_max_fairlearn": check.eod_max_fairlearn,
        "eod_mean_fairlearn": check.eod_mean_fairlearn,
        **fairness_report(y_true, y_pred, sensitive_features=sensitive_features),
    }
