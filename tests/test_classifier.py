import numpy as np
import pytest
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdistill import BarycentricDistiller, DistilledClassifier
from skdistill.datasets import load_adult

FAST = dict(n_iter=5, batch_real=32, net_width=8, net_depth=1, random_state=0)


@pytest.fixture(scope="module")
def adult():
    data = load_adult(sensitive="sex")
    rng = np.random.default_rng(0)
    train = rng.choice(len(data.y_train), 3000, replace=False)
    test = rng.choice(len(data.y_test), 1000, replace=False)
    return (
        data.X_train.iloc[train].reset_index(drop=True),
        data.y_train.iloc[train].reset_index(drop=True),
        data.sensitive_features_train.iloc[train].reset_index(drop=True),
        data.X_test.iloc[test].reset_index(drop=True),
        data.y_test.iloc[test].reset_index(drop=True),
        data,
    )


def make_pipeline(data):
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
    # no set_fit_request: the groups are requested by default
    clf = DistilledClassifier(BarycentricDistiller(ipc=5, **FAST), LogisticRegression(max_iter=500))
    return Pipeline([("prep", prep), ("clf", clf)])


def test_pipeline_with_routed_groups_and_grid_search(adult):
    X, y, A, X_test, y_test, data = adult
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(data).fit(X, y, sensitive_features=A)
        assert pipe.named_steps["clf"].distiller_.group_counts_.shape == (2, 2)
        assert set(pipe.predict(X_test)) <= {"<=50K", ">50K"}
        search = GridSearchCV(
            pipe,
            {"clf__distiller__target": ["vanilla", "cobra"], "clf__estimator__C": [0.1, 1]},
            cv=2,
        )
        search.fit(X, y, sensitive_features=A)
        assert set(search.cv_results_["param_clf__distiller__target"]) == {"vanilla", "cobra"}
        assert search.best_estimator_.predict(X_test).shape == (1000,)
        assert search.score(X_test, y_test) > 0.6
        scores = cross_val_score(make_pipeline(data), X, y, cv=2, params={"sensitive_features": A})
        assert scores.shape == (2,) and (scores > 0.6).all()


def test_routing_reaches_the_distiller(adult, monkeypatch):
    X, y, A, _, _, data = adult
    seen = {}
    original = BarycentricDistiller.fit

    def spy(self, X, y=None, *, sensitive_features=None, **params):
        seen["groups"] = sensitive_features
        return original(self, X, y, sensitive_features=sensitive_features, **params)

    monkeypatch.setattr(BarycentricDistiller, "fit", spy)
    with sklearn.config_context(enable_metadata_routing=True):
        make_pipeline(data).fit(X, y, sensitive_features=A)
    assert seen["groups"] is not None and len(seen["groups"]) == len(y)


def test_direct_use_and_delegation():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = np.where(X[:, 0] + 0.3 * rng.normal(size=300) > 0, "yes", "no")
    A = rng.integers(0, 2, 300)
    clf = DistilledClassifier(BarycentricDistiller(ipc=5, **FAST)).fit(X, y, sensitive_features=A)
    assert list(clf.classes_) == ["no", "yes"] and clf.n_features_in_ == 4
    assert clf.predict_proba(X).shape == (300, 2) and clf.decision_function(X).shape == (300,)
    assert clf.score(X, y) > 0.7
    svc = DistilledClassifier(BarycentricDistiller(ipc=5, **FAST), LinearSVC()).fit(X, y)
    assert not hasattr(svc, "predict_proba") and hasattr(svc, "decision_function")


def test_images_need_an_explicit_estimator():
    X = np.random.default_rng(0).integers(0, 255, size=(40, 3, 8, 8), dtype=np.uint8)
    y = np.repeat([0, 1], 20)
    with pytest.raises(ValueError, match="images, which the default LogisticRegression"):
        DistilledClassifier(BarycentricDistiller(ipc=2, **FAST)).fit(X, y)


# scikit-learn's common checks, at tiny settings: every one passes, none is expected to fail
@parametrize_with_checks(
    [
        DistilledClassifier(BarycentricDistiller(ipc=1, **FAST)),
        BarycentricDistiller(ipc=1, **FAST),
    ]
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
