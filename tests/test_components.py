"""Methods and targets as parameter objects: name or instance, grid search, deprecated options."""

import numpy as np
import pytest
from conftest import TINY
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

import skdistill
from skdistill import BarycentricDistiller, DistilledClassifier
from skdistill._validation import MSG_GIVEN_TWICE
from skdistill.callbacks import EarlyStopping
from skdistill.methods import DC, DM, IDC, METHOD_SPECS, METHODS, DistributionMatching
from skdistill.targets import CobraTarget, MMDTarget


def make(**params):
    kw = dict(TINY, ipc=3)
    kw.update(params)
    return BarycentricDistiller(**kw)


def test_every_method_of_the_registry_has_a_spec():
    assert set(METHOD_SPECS) == set(METHODS)
    for name, spec in METHOD_SPECS.items():
        assert spec.name == name and METHODS[name] is spec.method_class


def test_objects_and_the_deprecated_options_give_the_same_fit(tabular):
    X, y, groups = tabular
    new = make(
        method=DM(distance="l1", warmup_epochs=1),
        target=CobraTarget(barycenter="l2", weights={"a": 1.0, "b": 3.0}),
    ).fit(X, y, sensitive_features=groups)
    with pytest.warns(FutureWarning) as seen:
        old = make(
            distance="l1",
            net_warmup_epochs=1,
            barycenter="l2",
            barycenter_weights={"a": 1.0, "b": 3.0},
        ).fit(X, y, sensitive_features=groups)
    messages = sorted(str(w.message) for w in seen)
    assert any("pass method=DM(warmup_epochs=1)" in m for m in messages)
    assert any("pass target=CobraTarget(weights={'a': 1.0, 'b': 3.0})" in m for m in messages)
    assert len(messages) == 4
    np.testing.assert_array_equal(new.X_synthetic_, old.X_synthetic_)
    # the name alone is the component with its defaults
    by_name = make(method="dm", target="cobra").fit(X, y, sensitive_features=groups)
    by_object = make(method=DM(), target=CobraTarget()).fit(X, y, sensitive_features=groups)
    np.testing.assert_array_equal(by_name.X_synthetic_, by_object.X_synthetic_)


def test_dc_and_idc_objects(images):
    X, y, groups = images
    with pytest.warns(FutureWarning, match="pass method=DC\\(outer_loop=2\\)"):
        old = make(method="dc", outer_loop=2, inner_loop=1).fit(X, y, sensitive_features=groups)
    new = make(method=DC(outer_loop=2, inner_loop=1)).fit(X, y, sensitive_features=groups)
    np.testing.assert_array_equal(new.X_synthetic_, old.X_synthetic_)
    # IDC's own settings, out of reach of the flat options, reach the method
    kw = dict(ipc=1, n_iter=1)
    plain = make(method=IDC(outer_loop=2, inner_loop=1), **kw).fit(X, y, sensitive_features=groups)
    faster = make(method=IDC(outer_loop=2, inner_loop=1, lr_img=0.05), **kw)
    faster.fit(X, y, sensitive_features=groups)  # lr=None: the rate is lr_img * ipc / 10
    start = make(method=IDC(outer_loop=2, inner_loop=1), lr=1e-30, **kw)
    start = start.fit(X, y, sensitive_features=groups).X_synthetic_
    moved = np.abs(plain.X_synthetic_ - start).max()
    assert np.abs(faster.X_synthetic_ - start).max() > 5 * moved > 0


def test_component_parameters_are_reachable_as_nested_parameters():
    d = make(method=DM(distance="l1"), target=CobraTarget(barycenter="l2"))
    params = d.get_params(deep=True)
    assert params["method__distance"] == "l1" and params["target__barycenter"] == "l2"
    d.set_params(method__warmup_epochs=3, target__delta=2.0)
    assert d.method.warmup_epochs == 3 and d.target.delta == 2.0
    c = clone(d)
    assert c.method is not d.method and c.method.get_params() == d.method.get_params()
    assert repr(c.target) == "CobraTarget(barycenter='l2', delta=2.0)"


def test_grid_search_reaches_the_method_and_target_of_a_classifier(tabular):
    X, y, groups = tabular
    clf = DistilledClassifier(
        make(n_iter=2, method=DM(), target=CobraTarget()), LogisticRegression(max_iter=200)
    )
    grid = GridSearchCV(
        clf,
        {"distiller__method__distance": ["l2", "l1"], "distiller__target__barycenter": ["mean"]},
        cv=2,
    )
    grid.fit(X, y)
    seen = [p["distiller__method__distance"] for p in grid.cv_results_["params"]]
    assert seen == ["l2", "l1"]
    assert grid.best_estimator_.distiller_.method.distance in ("l2", "l1")


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        (dict(method=DM(distance="l3")), "'distance' parameter of DM"),
        (dict(method=DC(outer_loop=0)), "'outer_loop' parameter of DC"),
        (dict(method=IDC(mix_p=2.0)), "'mix_p' parameter of IDC"),
        (dict(target=CobraTarget(barycenter="l7")), "'barycenter' parameter of CobraTarget"),
        (dict(target=CobraTarget(delta=-1.0)), "'delta' parameter of CobraTarget"),
        (dict(target=MMDTarget(kernel="poly")), "'kernel' parameter of MMDTarget"),
        (dict(target=CobraTarget(weights=[1.0])), "weights must give one non-negative weight"),
        (dict(method="notamethod"), "'method' parameter of BarycentricDistiller"),
    ],
)
def test_components_check_their_own_parameters(tabular, params, pattern):
    X, y, groups = tabular
    with pytest.raises(ValueError, match=pattern):
        make(**params).fit(X, y, sensitive_features=groups)


def test_an_option_given_twice_is_refused(tabular):
    X, y, groups = tabular
    expected = MSG_GIVEN_TWICE.format(
        param="distance", value="l1", component="method", given=DM(), name="distance"
    )
    with pytest.raises(ValueError) as info:
        make(method=DM(), distance="l1").fit(X, y)
    assert str(info.value) == expected
    with pytest.raises(ValueError, match="barycenter='l2' is given beside target=CobraTarget"):
        make(target=CobraTarget(), barycenter="l2").fit(X, y)
    with pytest.raises(ValueError, match="huber_delta applies to target='cobra' only"):
        make(target="fairdd", huber_delta=2.0).fit(X, y)


def test_the_objects_passed_are_not_changed_by_fit(tabular):
    X, y, groups = tabular
    target = CobraTarget(weights={"a": 1.0, "b": 2.0})
    method = DM(distance="l1")
    d = make(method=method, target=target).fit(X, y, sensitive_features=groups)
    assert d.target is target and target.weights == {"a": 1.0, "b": 2.0}
    assert d.method is method and method.get_params() == {"distance": "l1", "warmup_epochs": 0}


def test_components_and_callbacks_survive_save_and_load(tabular, tmp_path):
    X, y, groups = tabular
    d = make(
        method=DM(distance="l1"),
        target=CobraTarget(weights={"a": 1.0, "b": 3.0}),
        callbacks=[EarlyStopping(n_iter_no_change=50)],
    ).fit(X, y, sensitive_features=groups)
    loaded = skdistill.load(d.save(tmp_path / "d.skd"))
    assert repr(loaded.get_params()) == repr(d.get_params())
    refit = loaded.fit(X, y, sensitive_features=groups)
    np.testing.assert_array_equal(refit.X_synthetic_, d.X_synthetic_)


def test_a_registered_method_without_a_spec_takes_the_options(monkeypatch):
    from skdistill._validation import method_spec

    monkeypatch.setitem(METHODS, "dm2", DistributionMatching)
    spec = method_spec(make(method="dm2", distance="l1"))
    assert spec.name == "dm2" and spec.method_class is DistributionMatching
    assert spec.method_options() == {"distance": "l1"}
    with pytest.raises(ValueError, match="outer_loop=3 does not apply to method='dm2'"):
        method_spec(make(method="dm2", outer_loop=3))
