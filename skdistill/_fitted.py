"""The fitted attributes of a distiller, from its validated data and its engine."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import label_binarize

MSG_INTERRUPTED = (
    "fit interrupted after {done} of {n_iter} iterations; the estimator holds the synthetic set "
    "of the last completed iteration{saved}."
)

NO_TRANSFORM = (
    "BarycentricDistiller has no {name}(): it is a sampler (imbalanced-learn's contract), its "
    "output is a new training set rather than a transformation of X. Use "
    "X_syn, y_syn = distiller.fit_resample(X, y, sensitive_features=A), or read "
    "distiller.X_synthetic_ and distiller.y_synthetic_ after fit."
)


def data_attributes(data, index, imputation) -> dict:
    """What the data of a fit teach: classes, groups, their counts, the input's features."""
    classes, groups, codec = data.classes, data.groups, data.codec
    attributes = {
        "classes_": classes,
        "groups_": groups,
        "group_counts_": pd.DataFrame(
            index.counts,
            index=pd.Index(classes, name="class"),
            columns=pd.Index(groups, name="group"),
        ),
        "absent_cells_": [(classes[c], groups[g]) for c, g in zip(*np.nonzero(index.counts == 0))],
        "group_imputation_": imputation,
    }
    if codec.kind == "tabular":
        attributes["n_features_in_"] = codec.sample_shape[0]
        if codec.columns is not None:
            attributes["feature_names_in_"] = np.asarray(codec.columns, dtype=object)
    return attributes


def result_attributes(engine, data, classes, ipc, seconds, params) -> dict:
    """The synthetic set of the last completed iteration, its labels, history and state.

    ``params`` (the run's parameters) is kept with the engine's state, which ``partial_fit``
    continues.
    """
    state = {**engine.state_dict(), "params": params}
    synthetic = engine.result().detach().cpu()
    per_class = ipc * engine.method.samples_per_stored()
    labels = classes[np.arange(classes.shape[0]).repeat(per_class)]
    if isinstance(data.y, pd.Series):
        labels = pd.Series(labels, name=data.y.name, dtype=data.y.dtype)
    return {
        "_engine_state": state,
        "_codec": data.codec,
        "_synthetic_internal": synthetic,
        "X_synthetic_": data.codec.decode(synthetic),
        "y_synthetic_": labels,
        "n_iter_": engine.iteration,
        "fit_time_": seconds,
        "history_": history_frame(engine.history),
        **engine.method.fitted_attributes(state.get("method", {})),
    }


def history_frame(history):
    """The loss history as the distiller's ``history_`` table."""
    n = len(history["loss"])
    return pd.DataFrame({"iteration": np.arange(1, n + 1), **history})


def warn_interrupted(engine, *, checkpointed):
    """Say that a fit was interrupted, what the estimator holds, and how to continue."""
    saved = " (checkpointed: fit again with resume=True)" if checkpointed else ""
    warnings.warn(
        MSG_INTERRUPTED.format(done=engine.iteration, n_iter=engine.n_iter, saved=saved),
        RuntimeWarning,
        stacklevel=5,
    )


def copy_set(obj):
    """A copy of a fitted array, DataFrame, Series or tensor."""
    return obj.clone() if isinstance(obj, torch.Tensor) else obj.copy()


def resampled(estimator, X, y, *, one_hot=False):
    """Copies of the fitted synthetic set, in the containers ``X`` and ``y`` came in.

    The fitted attributes already follow arrays, DataFrames, Series and tensors; a list comes
    back as a list, labels given as a one-column DataFrame as one (its column), one-hot labels
    one-hot.
    """
    X_syn, y_syn = copy_set(estimator.X_synthetic_), copy_set(estimator.y_synthetic_)
    if one_hot:
        return _like(X, X_syn), label_binarize(y_syn, classes=estimator.classes_)
    return _like(X, X_syn), _like(y, y_syn)


def _like(given, result):
    if isinstance(given, list):
        return np.asarray(result).tolist()
    if isinstance(given, pd.DataFrame) and not isinstance(result, pd.DataFrame):  # labels
        return pd.DataFrame({given.columns[0]: np.asarray(result)})
    return result
