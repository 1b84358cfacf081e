"""fairlearn's mitigations trained on the full data: the baselines a fairness user already knows."""

from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.postprocessing import ThresholdOptimizer
from fairlearn.preprocessing import CorrelationRemover
from fairlearn.reductions import EqualizedOdds, ExponentiatedGradient
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from .._data import check_lengths, encode_groups
from ..metrics import fairlearn_crosscheck

MITIGATIONS = ("threshold_optimizer", "exponentiated_gradient", "correlation_remover")
LABELS = {
    "threshold_optimizer": "ThresholdOptimizer (equalized odds)",
    "exponentiated_gradient": "ExponentiatedGradient (EqualizedOdds)",
    "correlation_remover": "CorrelationRemover",
}


def _group_column(sensitive_features, n):
    """One label per sample (intersectional columns joined), as fairlearn expects."""
    groups, codes = encode_groups(sensitive_features, n)
    return np.array([str(groups[c]) for c in codes], dtype=object)


def _limits(name, X, y):
    """Why ``name`` does not apply to this data, or None."""
    if np.ndim(X) != 2:
        return "tabular data only"
    if name != "correlation_remover" and np.unique(np.asarray(y)).shape[0] != 2:
        return "binary labels only"
    return None


def fairlearn_mitigations(
    X_train,
    y_train,
    sensitive_features_train,
    X_test,
    y_test,
    sensitive_features_test,
    *,
    estimator=None,
    mitigations=MITIGATIONS,
    n_runs=1,
    random_state=None,
):
    """Train fairlearn's mitigations on the full training set and score them on the test set.

    - ``threshold_optimizer``: :class:`fairlearn.postprocessing.ThresholdOptimizer` with
      ``constraints="equalized_odds"`` (post-processing; needs the groups at prediction);
    - ``exponentiated_gradient``: :class:`fairlearn.reductions.ExponentiatedGradient` with
      :class:`~fairlearn.reductions.EqualizedOdds` (reductions; randomised predictions);
    - ``correlation_remover``: :class:`fairlearn.preprocessing.CorrelationRemover` removing
      the linear correlation of the features with the one-hot groups, then ``estimator``.

    ThresholdOptimizer and ExponentiatedGradient with equalized odds take binary labels only,
    and all three take tabular features only: where a mitigation does not apply, its row
    holds NaN and the reason in ``note``.

    Parameters
    ----------
    X_train, y_train, sensitive_features_train : array-like
        The full training set (numeric features) and its groups.
    X_test, y_test, sensitive_features_test : array-like
        Held-out data.
    estimator : scikit-learn classifier, default=None
        The base model (``LogisticRegression(max_iter=1000)`` when None).
    mitigations : sequence of str, default=all three
        Which mitigations to run (names as above).
    n_runs : int, default=1
        Runs with different seeds (the randomised predictions of both reductions and
        post-processing, and the estimator's seed where it has one).
    random_state : int or None
        Seed of the runs.

    Returns
    -------
    DataFrame
        One row per (mitigation, run): ``baseline``, ``run``, ``accuracy``, ``eod_max``,
        ``eod_mean`` and their fairlearn recomputation, ``note``.
    """
    unknown = [m for m in mitigations if m not in MITIGATIONS]
    if unknown:
        raise ValueError(f"unknown mitigation(s) {unknown}; choose from {list(MITIGATIONS)}.")
    check_lengths(
        X_train=X_train, y_train=y_train, sensitive_features_train=sensitive_features_train
    )
    check_lengths(X_test=X_test, y_test=y_test, sensitive_features_test=sensitive_features_test)
    base = LogisticRegression(max_iter=1000) if estimator is None else estimator
    A = _group_column(sensitive_features_train, len(y_train))
    A_test = _group_column(sensitive_features_test, len(y_test))
    y_true = np.asarray(y_test)
    seeds = np.random.default_rng(random_state).integers(np.iinfo(np.int32).max, size=n_runs)
    rows = []
    for name in mitigations:
        reason = _limits(name, X_train, y_train)
        for run, seed in enumerate(int(s) for s in seeds):
            row = {"baseline": LABELS[name], "run": run, "note": reason or ""}
            if reason is None:
                y_pred = _predict(name, clone(base), X_train, y_train, A, X_test, A_test, seed)
                check = fairlearn_crosscheck(y_true, y_pred, sensitive_features=A_test)
                row.update(
                    accuracy=accuracy_score(y_true, y_pred),
                    eod_max=check.eod_max,
                    eod_mean=check.eod_mean,
                    eod_max_fairlearn=check.eod_max_fairlearn,
                    eod_mean_fairlearn=check.eod_mean_fairlearn,
                )
            rows.append(row)
    columns = ["baseline", "run", "accuracy", "eod_max", "eod_mean"]
    columns += ["eod_max_fairlearn", "eod_mean_fairlearn", "note"]
    return pd.DataFrame(rows).reindex(columns=columns)


def _predict(name, estimator, X, y, A, X_test, A_test, seed):
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=seed)
    if name != "correlation_remover":
        # fairlearn's equalized-odds mitigations take labels 0 and 1
        classes, codes = np.unique(np.asarray(y), return_inverse=True)
        pred = _predict_binary(name, estimator, X, codes, A, X_test, A_test, seed)
        return classes[np.asarray(pred, dtype=np.int64)]
    onehot = OneHotEncoder(sparse_output=False).fit(A.reshape(-1, 1))
    ids = list(range(X.shape[1], X.shape[1] + onehot.categories_[0].shape[0]))

    def with_groups(X_, A_):
        return np.hstack([np.asarray(X_, dtype=np.float64), onehot.transform(A_.reshape(-1, 1))])

    model = make_pipeline(CorrelationRemover(sensitive_feature_ids=ids), estimator)
    model.fit(with_groups(X, A), y)
    return model.predict(with_groups(X_test, A_test))


def _predict_binary(name, estimator, X, y, A, X_test, A_test, seed):
    if name == "threshold_optimizer":
        model = ThresholdOptimizer(
            estimator=estimator, constraints="equalized_odds", predict_method="predict_proba"
        )
        model.fit(X, y, sensitive_features=A)
        return model.predict(X_test, sensitive_features=A_test, random_state=seed)
    if name == "exponentiated_gradient":
        model = ExponentiatedGradient(estimator, constraints=EqualizedOdds())
        model.fit(X, y, sensitive_features=A)
        return model.predict(X_test, random_state=seed)
