"""The distiller as an imbalanced-learn sampler: fit_resample, its containers, the Pipeline."""

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from imblearn.pipeline import Pipeline
from imblearn.utils.estimator_checks import parametrize_with_checks
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skdistill import BarycentricDistiller
from skdistill.datasets import load_adult

FAST = dict(n_iter=5, batch_real=32, net_width=8, net_depth=1, random_state=0)


# imbalanced-learn's sampler checks, every one of them, none expected to fail
@parametrize_with_checks([BarycentricDistiller(ipc=1, **FAST)])
def test_imblearn_sampler_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def table():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 1).astype(int)
    return X, y, rng.integers(0, 2, 120)


def test_fit_resample_is_fit_then_the_learnt_set(table):
    X, y, A = table
    X_res, y_res = BarycentricDistiller(ipc=3, **FAST).fit_resample(X, y, sensitive_features=A)
    fitted = BarycentricDistiller(ipc=3, **FAST).fit(X, y, sensitive_features=A)
    np.testing.assert_array_equal(X_res, fitted.X_synthetic_)
    np.testing.assert_array_equal(y_res, fitted.y_synthetic_)
    assert fitted.sampling_strategy_ == {0: 3, 1: 3, 2: 3}
    X_res[:] = 0  # a copy: the estimator keeps what it learnt
    assert np.abs(fitted.X_synthetic_).sum() > 0


def test_fit_resample_answers_in_the_inputs_container(table):
    X, y, A = table
    d = BarycentricDistiller(ipc=2, **FAST)
    frame = pd.DataFrame(X, columns=list("abcd"))
    X_res, y_res = d.fit_resample(frame, pd.Series(y, name="label"), sensitive_features=A)
    assert list(X_res.columns) == list("abcd") and y_res.name == "label"
    X_res, y_res = d.fit_resample(frame, pd.DataFrame({"label": y}), sensitive_features=A)
    assert isinstance(y_res, pd.DataFrame) and list(y_res.columns) == ["label"]
    X_res, y_res = d.fit_resample(X.tolist(), y.tolist(), sensitive_features=A)
    assert isinstance(X_res, list) and isinstance(y_res, list) and len(y_res) == 6
    X_res, y_res = d.fit_resample(torch.as_tensor(X), torch.as_tensor(y), sensitive_features=A)
    assert isinstance(X_res, torch.Tensor) and X_res.shape == (6, 4)


def test_one_vs_all_labels_come_back_one_hot(table):
    X, y, A = table
    one_hot = np.eye(3, dtype=int)[y]
    d = BarycentricDistiller(ipc=2, **FAST)
    X_res, y_res = d.fit_resample(X, one_hot, sensitive_features=A)
    np.testing.assert_array_equal(y_res, np.eye(3, dtype=int)[[0, 0, 1, 1, 2, 2]])


@pytest.fixture(scope="module")
def adult():
    data = load_adult(sensitive="sex")
    rows = np.random.default_rng(0).choice(len(data.y_train), 3000, replace=False)
    X = data.X_train.iloc[rows].reset_index(drop=True)
    y = data.y_train.iloc[rows].reset_index(drop=True)
    A = data.sensitive_features_train.iloc[rows].reset_index(drop=True)
    return X, y, A, data


def test_imblearn_pipeline_with_routed_groups_in_grid_search(adult, monkeypatch):
    X, y, A, data = adult
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), data.numeric_features),
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                data.categorical_features,
            ),
        ]
    )
    seen = []
    original = BarycentricDistiller.fit_resample

    def spy(self, X, y=None, **params):
        seen.append((len(y), params["sensitive_features"]))
        return original(self, X, y, **params)

    monkeypatch.setattr(BarycentricDistiller, "fit_resample", spy)
    with sklearn.config_context(enable_metadata_routing=True):
        # no set_*_request: the distiller requests the groups by default
        distil = BarycentricDistiller(ipc=5, **FAST)
        pipe = Pipeline([("prep", prep), ("distil", distil), ("clf", LogisticRegression())])
        search = GridSearchCV(pipe, {"distil__target": ["vanilla", "cobra"]}, cv=2)
        search.fit(X, y, sensitive_features=A)
    # every fit of the search distilled its own training fold, with that fold's groups
    assert len(seen) == 2 * 2 + 1
    for n, groups in seen:
        assert groups is not None and len(groups) == n
    assert set(search.cv_results_["param_distil__target"]) == {"vanilla", "cobra"}
    fitted = search.best_estimator_
    # the classifier learnt from the synthetic set: 5 rows per class
    assert fitted.named_steps["distil"].X_synthetic_.shape[0] == 10
    assert fitted.named_steps["clf"].coef_.shape[1] == fitted.named_steps["distil"].n_features_in_
    # at predict the sampler passes the data through: one prediction per row
    assert search.predict(X).shape == (3000,)
