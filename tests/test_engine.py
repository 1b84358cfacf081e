"""The fit engine: callbacks, early stopping, partial_fit and the engine's state."""

import numpy as np
import pytest
import torch
from conftest import TINY
from sklearn.base import clone

import skdistill
from skdistill import BarycentricDistiller
from skdistill._persistence import read_checkpoint
from skdistill.callbacks import Callback, EarlyStopping
from skdistill.methods import DC, IDC, GradientMatching


def make(**params):
    kw = dict(TINY, ipc=3)
    kw.update(params)
    return BarycentricDistiller(**kw)


class Recorder(Callback):
    """Every event with the engine's iteration count and status."""

    def __init__(self):
        self.events = []

    def on_fit_begin(self, engine):
        self.events.append(("begin", engine.iteration, engine.n_iter))

    def on_iteration_end(self, engine):
        self.events.append(("iteration", engine.iteration, len(engine.history["loss"])))

    def on_fit_end(self, engine):
        self.events.append(("end", engine.iteration, engine.status, len(engine.history["loss"])))


# ---------------------------------------------------------------- callbacks
def test_callbacks_see_every_event_in_order(tabular):
    X, y, groups = tabular
    spy = Recorder()
    d = make(n_iter=3, log_every=1, callbacks=[spy]).fit(X, y, sensitive_features=groups)
    assert spy.events == [
        ("begin", 0, 3),
        ("iteration", 1, 1),
        ("iteration", 2, 2),
        ("iteration", 3, 3),
        ("end", 3, "completed", 3),
    ]
    # a callback that only watches changes nothing
    np.testing.assert_array_equal(
        d.X_synthetic_, make(n_iter=3).fit(X, y, sensitive_features=groups).X_synthetic_
    )


def test_callbacks_see_interruptions_and_failures(tabular, monkeypatch):
    X, y, groups = tabular

    class Interrupt(Callback):
        def on_iteration_end(self, engine):
            if engine.iteration == 2:
                raise KeyboardInterrupt

    spy = Recorder()
    with pytest.warns(RuntimeWarning, match="interrupted after 2 of 5"):
        d = make(n_iter=5, callbacks=[Interrupt(), spy]).fit(X, y, sensitive_features=groups)
    assert spy.events[-1] == ("end", 2, "interrupted", 2) and d.n_iter_ == 2

    class Fail(Callback):
        def on_iteration_end(self, engine):
            raise OSError("disk gone")

    spy = Recorder()
    with pytest.raises(OSError, match="disk gone"):
        make(n_iter=5, callbacks=[Fail(), spy]).fit(X, y, sensitive_features=groups)
    assert spy.events[-1] == ("end", 1, "failed", 1)


def test_callbacks_must_be_callback_objects(tabular):
    X, y, groups = tabular
    with pytest.raises(TypeError, match="item 1 is a builtin_function_or_method.*Subclass"):
        make(callbacks=[Recorder(), print]).fit(X, y)
    with pytest.raises(ValueError, match="'callbacks' parameter"):
        make(callbacks=Recorder()).fit(X, y)


def test_callbacks_are_cloned_with_their_settings():
    d = make(callbacks=[EarlyStopping(n_iter_no_change=3, tol=0.1)])
    c = clone(d)
    assert c.callbacks[0] is not d.callbacks[0]
    assert c.callbacks[0].get_params() == {"n_iter_no_change": 3, "tol": 0.1}
    assert c.get_params()["callbacks"][0].n_iter_no_change == 3


def test_early_stopping_stops_and_checkpoints(tabular, tmp_path):
    X, y, groups = tabular
    # a relative improvement of 99 % is never reached: the second logged loss stops the run
    stop = EarlyStopping(n_iter_no_change=1, tol=0.99)
    spy = Recorder()
    d = make(n_iter=20, log_every=1, callbacks=[stop, spy], checkpoint_dir=tmp_path)
    d.fit(X, y, sensitive_features=groups)
    assert d.n_iter_ == 2 and stop.stopped_at_ == 2 and len(d.history_) == 2
    assert spy.events[-1] == ("end", 2, "stopped", 2)
    assert len(read_checkpoint(tmp_path)["history"]["loss"]) == 2
    np.testing.assert_array_equal(
        d.X_synthetic_, make(n_iter=2).fit(X, y, sensitive_features=groups).X_synthetic_
    )
    # never stopping: no improvement is needed
    patient = EarlyStopping(n_iter_no_change=100)
    assert make(n_iter=4, callbacks=[patient]).fit(X, y).n_iter_ == 4
    assert patient.stopped_at_ is None and np.isfinite(patient.best_loss_)
    with pytest.raises(ValueError, match="n_iter_no_change"):
        make(callbacks=[EarlyStopping(n_iter_no_change=0)]).fit(X, y)


def test_verbose_shows_the_groups_and_a_progress_bar(tabular, capsys):
    X, y, groups = tabular
    make(n_iter=2, verbose=1).fit(X, y, sensitive_features=groups)
    captured = capsys.readouterr()
    assert "3 classes x 2 groups, 0 empty" in captured.out
    assert "distilling" in captured.err and "2/2" in captured.err


# ---------------------------------------------------------------- partial_fit
@pytest.mark.parametrize(
    ("data", "params"),
    [
        ("tabular", dict(method="dm", target="cobra")),
        ("images", dict(method=DC(outer_loop=2, inner_loop=1), target="fairdd")),
        ("images", dict(method=IDC(outer_loop=2, inner_loop=1), target="cobra", ipc=1)),
    ],
)
def test_fit_then_partial_fit_equals_one_longer_fit(tabular, images, data, params):
    X, y, groups = tabular if data == "tabular" else images
    whole = make(**params, n_iter=5).fit(X, y, sensitive_features=groups)
    split = make(**params, n_iter=2).fit(X, y, sensitive_features=groups)
    split.partial_fit(X, y, sensitive_features=groups, n_iter=2)
    split.partial_fit(X, y, sensitive_features=groups)  # one more by default
    np.testing.assert_array_equal(split.X_synthetic_, whole.X_synthetic_)
    np.testing.assert_array_equal(split.history_.loss, whole.history_.loss)
    assert split.n_iter_ == 5 and list(split.history_.iteration) == [1, 2, 3, 4, 5]
    assert split.history_.seconds.is_monotonic_increasing


def test_partial_fit_of_an_unfitted_distiller_starts_the_fit(tabular):
    X, y, groups = tabular
    fresh = make(n_iter=50).partial_fit(X, y, sensitive_features=groups, n_iter=3)
    np.testing.assert_array_equal(
        fresh.X_synthetic_, make(n_iter=3).fit(X, y, sensitive_features=groups).X_synthetic_
    )
    assert fresh.n_iter_ == 3


def test_partial_fit_continues_a_saved_distiller(tabular, tmp_path):
    X, y, groups = tabular
    whole = make(n_iter=4).fit(X, y, sensitive_features=groups)
    path = make(n_iter=2).fit(X, y, sensitive_features=groups).save(tmp_path / "d.skd")
    loaded = skdistill.load(path).partial_fit(X, y, sensitive_features=groups, n_iter=2)
    np.testing.assert_array_equal(loaded.X_synthetic_, whole.X_synthetic_)


def test_partial_fit_on_new_data_uses_the_first_fits_encoding(tabular):
    X, y, groups = tabular
    d = make(n_iter=2).fit(X, y, sensitive_features=groups)
    mean = d._codec.mean.copy()
    half = slice(0, 240, 2)
    d.partial_fit(X[half] + 5.0, y[half], sensitive_features=groups[half], n_iter=2)
    np.testing.assert_array_equal(d._codec.mean, mean)  # standardised as the first data
    assert d.n_iter_ == 4 and np.isfinite(d.X_synthetic_).all()
    # only group "a" this time: codes follow the fitted groups, not the new data's
    only_a = groups == "a"
    d.partial_fit(X[only_a], y[only_a], sensitive_features=groups[only_a])
    assert list(d.groups_) == ["a", "b"] and d.n_iter_ == 5


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (dict(y=lambda y: np.where(y == 2, 1, y)), r"classes are \[0, 1, 2\].*\[0, 1\]"),
        (dict(groups=lambda g: np.where(g == "a", "c", g)), r"groups are \['a', 'b'\].*\['c'\]"),
        (dict(X=lambda X: X[:, :4]), "samples of shape \\(5,\\)"),
        (dict(params=dict(lr=0.5)), r"other parameters \(lr\)"),
    ],
)
def test_partial_fit_refuses_what_cannot_continue(tabular, change, pattern):
    X, y, groups = tabular
    d = make(n_iter=2).fit(X, y, sensitive_features=groups)
    before = d.X_synthetic_.copy()
    X = change.get("X", lambda v: v)(X)
    y = change.get("y", lambda v: v)(y)
    groups = change.get("groups", lambda v: v)(groups)
    d.set_params(**change.get("params", {}))
    with pytest.raises(ValueError, match=pattern):
        d.partial_fit(X, y, sensitive_features=groups)
    np.testing.assert_array_equal(d.X_synthetic_, before)
    assert d.n_iter_ == 2


def test_partial_fit_checks_n_iter(tabular):
    X, y, groups = tabular
    with pytest.raises(ValueError, match="n_iter"):
        make().partial_fit(X, y, n_iter=0)


# ---------------------------------------------------------------- the engine's state
def test_an_interruption_inside_an_iteration_resumes_bit_for_bit(images, tmp_path, monkeypatch):
    """DC takes several optimiser steps per iteration: a checkpoint written mid-iteration
    holds the optimiser of the last completed iteration, not the half-stepped one."""
    X, y, groups = images
    params = dict(method=DC(outer_loop=3, inner_loop=1), n_iter=3)
    full = make(**params).fit(X, y, sensitive_features=groups)
    original = GradientMatching.match
    calls = {"n": 0}

    def flaky(self, *args):
        calls["n"] += 1
        if calls["n"] == 5:  # the second step of the second iteration
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(GradientMatching, "match", flaky)
    with pytest.warns(RuntimeWarning, match="interrupted after 1 of 3"):
        make(**params, checkpoint_dir=tmp_path).fit(X, y, sensitive_features=groups)
    monkeypatch.setattr(GradientMatching, "match", original)
    resumed = make(**params, checkpoint_dir=tmp_path).fit(
        X, y, sensitive_features=groups, resume=True
    )
    np.testing.assert_array_equal(resumed.X_synthetic_, full.X_synthetic_)


def test_the_engine_state_is_kept_on_the_cpu(tabular):
    X, y, groups = tabular
    d = make(n_iter=2).fit(torch.as_tensor(X), y, sensitive_features=groups)
    state = d._engine_state
    assert set(state) >= {"synthetic", "optimizer", "rng", "method", "history", "params"}
    assert state["synthetic"].device.type == "cpu" and len(state["history"]["loss"]) == 2
