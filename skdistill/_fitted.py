"""The fitted attributes of a distiller, from its validated data and its engine."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

MSG_INTERRUPTED = (
    "fit interrupted after {done} of {n_iter} iterations; the estimator holds the synthetic set "
    "of the last completed iteration{saved}."
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
