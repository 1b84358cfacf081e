"""Callbacks: code that runs at fit begin, after every iteration and at fit end.

A callback subclasses :class:`Callback` and overrides any of its three events, each called
with the running :class:`~skdistill._engine.FitEngine` (skorch's pattern). Pass instances to
the distiller's ``callbacks`` parameter; they run after the distiller's own (progress bar,
checkpoints), in the order given.

What a callback may read from the engine: ``engine.iteration`` (iterations completed),
``engine.n_iter`` (where the run stops), ``engine.history`` (``{"loss": [...], "seconds":
[...]}``, one entry per logged iteration), ``engine.synthetic`` (the stored synthetic set in
internal, standardised units; read, never write), ``engine.status``, ``engine.method``,
``engine.target`` and ``engine.sampler``.
What it may do: call ``engine.stop()`` to end the run after the current iteration.

Examples
--------
>>> import numpy as np
>>> from skdistill import BarycentricDistiller
>>> from skdistill.callbacks import Callback
>>> class Losses(Callback):
...     def on_fit_begin(self, engine):
...         self.seen = []
...
...     def on_iteration_end(self, engine):
...         self.seen.append(engine.iteration)
>>> rng = np.random.default_rng(0)
>>> X, y = rng.normal(size=(60, 3)), np.repeat([0, 1], 30)
>>> spy = Losses()
>>> d = BarycentricDistiller(ipc=2, n_iter=3, net_width=4, callbacks=[spy], random_state=0)
>>> d.fit(X, y).n_iter_, spy.seen
(3, [1, 2, 3])
"""

from __future__ import annotations

import math
from numbers import Integral, Real

from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval
from tqdm.auto import tqdm

MSG_NOT_A_CALLBACK = (
    "callbacks must be a list of skdistill.callbacks.Callback instances; item {i} is a "
    "{kind}. Subclass Callback and override on_fit_begin, on_iteration_end or on_fit_end."
)


class Callback(BaseEstimator):
    """Base class of callbacks; every event does nothing unless overridden.

    Subclasses take their settings as keyword arguments stored unchanged in ``__init__``
    (as scikit-learn estimators do), so that :func:`sklearn.base.clone` copies them.
    """

    def on_fit_begin(self, engine) -> None:
        """Called once before the first iteration of a ``fit`` or ``partial_fit``."""

    def on_iteration_end(self, engine) -> None:
        """Called after every completed iteration."""

    def on_fit_end(self, engine) -> None:
        """Called once when the run ends: completed, stopped, interrupted or failed.

        ``engine.status`` says which.
        """


def notify(callbacks, event, engine):
    """Call ``event`` of every callback, in order."""
    for callback in callbacks:
        getattr(callback, event)(engine)


def check_callbacks(callbacks):
    """The ``callbacks`` parameter as a list, refusing anything but :class:`Callback` objects."""
    callbacks = [] if callbacks is None else list(callbacks)
    for i, callback in enumerate(callbacks):
        if not isinstance(callback, Callback):
            raise TypeError(MSG_NOT_A_CALLBACK.format(i=i, kind=type(callback).__name__))
    return callbacks


class ProgressBar(Callback):
    """A tqdm progress bar with the latest logged loss (the distiller's ``verbose > 0``).

    Its first event also prints the class x group summary of the data.
    """

    def on_fit_begin(self, engine):
        """Print the data summary and open the bar at the completed iterations."""
        counts = engine.sampler.index.counts
        print(
            f"[skdistill] {counts.shape[0]} classes x {counts.shape[1]} groups, "
            f"{int((counts == 0).sum())} empty (class, group) cell(s) skipped"
        )
        self._bar = tqdm(total=engine.n_iter, initial=engine.iteration, desc="distilling")
        self._logged = len(engine.history["loss"])

    def on_iteration_end(self, engine):
        """Advance the bar; show the newest logged loss."""
        self._bar.update(engine.iteration - self._bar.n)
        losses = engine.history["loss"]
        if len(losses) > self._logged:
            self._logged = len(losses)
            self._bar.set_postfix(loss=f"{losses[-1]:.4g}", refresh=False)

    def on_fit_end(self, engine):
        """Close the bar."""
        self._bar.close()


class EarlyStopping(Callback):
    """Stop when the logged loss has not improved for ``n_iter_no_change`` logged values.

    A logged loss improves on the best so far when it is below ``best * (1 - tol)`` (a
    relative tolerance: matching losses have the arbitrary scale of their representation).
    Losses of DM change with the random network drawn every iteration: a patience of tens
    of iterations is the useful range there.

    Parameters
    ----------
    n_iter_no_change : int, default=10
        Logged losses without improvement before the run stops.
    tol : float, default=1e-4
        Relative improvement that counts.

    Attributes
    ----------
    best_loss_ : float
        Lowest logged loss of the last run.
    stopped_at_ : int or None
        Iterations completed when it stopped the run (None: it did not).
    """

    _parameter_constraints = {
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(self, n_iter_no_change=10, tol=1e-4):
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol

    def on_fit_begin(self, engine):
        """Validate the settings and start counting from the losses already logged."""
        self._validate_params()
        self.best_loss_ = math.inf
        self.stopped_at_ = None
        self._stale = 0
        self._seen = 0
        self._count(engine)

    def _update(self, loss):
        if loss < self.best_loss_ * (1 - self.tol) or self.best_loss_ == math.inf:
            self.best_loss_ = min(loss, self.best_loss_)
            self._stale = 0
        else:
            self._stale += 1

    def _count(self, engine):
        losses = engine.history["loss"]
        for loss in losses[self._seen :]:
            self._update(loss)
        self._seen = len(losses)

    def on_iteration_end(self, engine):
        """Count the newly logged losses; stop the engine when patience runs out."""
        self._count(engine)
        if self._stale >= self.n_iter_no_change and self.stopped_at_ is None:
            self.stopped_at_ = engine.iteration
            engine.stop()

    def on_fit_end(self, engine):
        """Count the losses logged at the end of the run (``best_loss_``)."""
        self._count(engine)


class Checkpoint(Callback):
    """Write the engine's state into a locked checkpoint folder.

    The distiller adds one for its ``checkpoint_dir``: it writes every ``every`` iterations,
    after the last one, and when the run is interrupted or stopped early.

    Parameters
    ----------
    folder : skdistill._persistence.CheckpointFolder
        The entered (locked) folder.
    every : int
        Iterations between checkpoints.
    fingerprint : dict
        What a resumed fit must match (data and parameters), stored with the state.
    """

    def __init__(self, folder=None, every=100, fingerprint=None):
        self.folder = folder
        self.every = every
        self.fingerprint = fingerprint

    def _write(self, engine):
        state = {"fingerprint": self.fingerprint, **engine.state_dict()}
        self.folder.write(state, engine.iteration)

    def on_iteration_end(self, engine):
        """Write every ``every`` iterations and after the last one."""
        if engine.iteration % self.every == 0 or engine.iteration == engine.n_iter:
            self._write(engine)

    def on_fit_end(self, engine):
        """Write when the run was interrupted or stopped early (not after a failure)."""
        if engine.status in ("interrupted", "stopped"):
            self._write(engine)
