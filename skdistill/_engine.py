"""The fit engine: the optimisation of one synthetic set, iteration by iteration.

:class:`FitEngine` owns everything a fit changes: the synthetic set ``S``, its optimiser, the
random generator, the method and target, the sampler of real batches and the loss history.
:meth:`FitEngine.step` runs one iteration; :meth:`FitEngine.run` loops, calling the
callbacks (:mod:`skdistill.callbacks`) at fit begin, after every iteration and at fit end.
:meth:`FitEngine.state_dict` is the state after the last completed iteration, from which
:meth:`FitEngine.load_state_dict` continues bit for bit (checkpoints, ``partial_fit``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from sklearn.utils import check_random_state

from ._data import Codec, DatasetSamples
from ._sampling import ClassGroupIndex, RealBatches
from .callbacks import notify
from .groups import kmeans_impute

MSG_NONFINITE_LOSS = (
    "the matching loss became {value} at iteration {it}; the synthetic set of the last good "
    "iteration is kept on the estimator. Lower lr (now {lr}) and fit again."
)


class FitEngine:
    """One synthetic set under optimisation.

    Parameters
    ----------
    synthetic : Tensor
        The initial stored synthetic set, ``ipc`` samples per class ordered by class, on the
        device of the fit.
    method : Method
        The built matching method.
    sampler : skdistill._sampling.RealBatches
        The real data and every draw from it (its generator is the engine's).
    lr : float
        Learning rate of the synthetic samples (SGD, momentum 0.5).
    ipc : int
        Stored synthetic samples per class.

    Attributes
    ----------
    history : dict
        ``{"loss": [...], "seconds": [...]}``, one entry per completed iteration.
    n_iter : int
        Iterations the current :meth:`run` stops at (completed ones included).
    status : str
        ``"running"``, ``"completed"``, ``"stopped"`` (a callback asked to stop),
        ``"interrupted"`` (``KeyboardInterrupt``) or ``"failed"``.
    """

    def __init__(self, synthetic, method, sampler, *, lr, ipc):
        self.synthetic = synthetic.requires_grad_(True)
        self.method = method
        self.sampler = sampler
        self.rng = sampler.rng
        self.lr = lr
        self.ipc = ipc
        n_classes = synthetic.shape[0] // ipc
        self.labels = np.repeat(np.arange(n_classes), ipc)
        self.optimizer = torch.optim.SGD([self.synthetic], lr=lr, momentum=0.5)
        self.history = {"loss": [], "seconds": []}
        self.n_iter = 0
        self.status = "idle"
        self.stop_requested = False
        if hasattr(method, "sample_real_class"):
            method.sample_real_class = sampler.sample_real_class
        if hasattr(method, "step_images"):
            method.step_images = self._step_images
        self._snapshot()

    @property
    def iteration(self) -> int:
        """Iterations completed."""
        return len(self.history["loss"])

    # ------------------------------------------------------------------ one iteration
    def step(self) -> float:
        """Run one iteration: ``outer_loop`` matching steps, each an optimiser step on ``S``.

        Returns the iteration's loss (the mean over its matching steps).
        """
        method, synthetic, n_steps = self.method, self.synthetic, self.method.outer_loop
        value = 0.0
        for step in range(n_steps):
            if step:
                method.inner_update(synthetic.detach(), self.labels, self.sampler.sample_real)
            x_real, plan = self.sampler.batch()
            if step == 0:
                method.begin_iteration(int(self.rng.integers(2**62)))
                method.prepare(synthetic.detach(), self.labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss = method.match(x_real, plan, synthetic, self.ipc).item()
            if not math.isfinite(loss):
                self._nonfinite(loss)
            self.optimizer.step()
            method.after_step(synthetic)
            if not torch.isfinite(synthetic).all():
                self._nonfinite("non-finite")
            value += loss / n_steps
        self._snapshot()
        self.history["loss"].append(value)
        self.history["seconds"].append(self._offset + time.perf_counter() - self._start)
        return value

    def _nonfinite(self, value):
        raise FloatingPointError(
            MSG_NONFINITE_LOSS.format(value=value, it=self.iteration, lr=self.lr)
        )

    def _step_images(self):
        """One optimiser step on ``S`` (for methods that step class by class)."""
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def _snapshot(self):
        """Remember the state after the last completed iteration (what a stop keeps)."""
        self._good = {
            "synthetic": self.synthetic.detach().clone(),
            "optimizer": _clone(self.optimizer.state_dict()),
            "rng": self.rng.bit_generator.state,
            "method": _clone(self.method.state_dict()),
        }

    # ------------------------------------------------------------------ the loop
    def run(self, n_iter, callbacks=()):
        """Iterate until ``n_iter`` iterations are completed, or a callback asks to stop.

        A ``KeyboardInterrupt`` ends the run with status ``"interrupted"`` (the engine keeps
        the last completed iteration); other errors propagate after ``on_fit_end``.
        """
        self.n_iter = n_iter
        self.status = "running"
        self.stop_requested = False
        self._offset = self.history["seconds"][-1] if self.iteration else 0.0
        self._start = time.perf_counter()
        notify(callbacks, "on_fit_begin", self)
        try:
            while self.iteration < n_iter and not self.stop_requested:
                self.step()
                notify(callbacks, "on_iteration_end", self)
            self.status = "completed" if self.iteration >= n_iter else "stopped"
        except KeyboardInterrupt:
            self.status = "interrupted"
        except BaseException:
            self.status = "failed"
            raise
        finally:
            notify(callbacks, "on_fit_end", self)
        return self

    def stop(self):
        """Ask the loop to stop after the current iteration (for callbacks)."""
        self.stop_requested = True

    # ------------------------------------------------------------------ state
    def result(self) -> torch.Tensor:
        """The training samples of the last completed iteration, decoded by the method."""
        return self.method.decode(self._good["synthetic"], self.ipc)

    def state_dict(self) -> dict:
        """The state after the last completed iteration, on the CPU."""
        state = {k: _to_cpu(v) for k, v in self._good.items()}
        state["history"] = {k: list(v) for k, v in self.history.items()}
        return state

    def load_state_dict(self, state):
        """Continue from :meth:`state_dict`: the same iterations follow, bit for bit."""
        with torch.no_grad():
            self.synthetic.copy_(state["synthetic"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.bit_generator.state = state["rng"]
        self.method.load_state_dict(state.get("method", {}))
        self.history = {k: list(v) for k, v in state["history"].items()}
        self._snapshot()


def _map_tensors(fn, state):
    if torch.is_tensor(state):
        return fn(state)
    if isinstance(state, dict):
        return {k: _map_tensors(fn, v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_map_tensors(fn, v) for v in state)
    return state


def _clone(state):
    """A state dict whose tensors are copies (on their device): later steps leave it alone."""
    return _map_tensors(lambda t: t.detach().clone(), state)


def _to_cpu(state):
    """A state dict with every tensor on the CPU (checkpoints load anywhere)."""
    return _map_tensors(lambda t: t.detach().cpu(), state)


# ---------------------------------------------------------------------------- building
@dataclass
class FitData:
    """Validated inputs of a fit: the data and its encodings, nothing computed from them yet.

    ``X`` is the input as given (or the :class:`~skdistill._data.DatasetSamples` of a torch
    Dataset); ``y_codes`` and ``g_codes`` index ``classes`` and ``groups`` (``-1``: a group
    to impute).
    """

    X: object
    y: object
    codec: Codec
    classes: np.ndarray
    y_codes: np.ndarray
    groups: np.ndarray
    g_codes: np.ndarray
    sample_weight: np.ndarray | None = None

    def encoded(self):
        """The samples in internal units: a tensor, or the Dataset reader."""
        return self.X if isinstance(self.X, DatasetSamples) else self.codec.encode(self.X)


def build_engine(
    data,
    make_method,
    target,
    *,
    ipc,
    batch_real,
    lr,
    init,
    device,
    random_state,
    n_impute_clusters=None,
):
    """Encode the data, impute missing groups and draw the initial synthetic set.

    Returns ``(engine, imputation)``; every random draw comes from one generator seeded by
    ``random_state``, in a fixed order. ``make_method(n_classes)`` builds the method;
    ``lr=None`` takes the method's reference rate scaled by the target.
    """
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    rng = np.random.default_rng(seed)
    real = data.encoded()
    g_codes, imputation = impute_groups(real, data.g_codes, rng, n_impute_clusters)
    index = ClassGroupIndex(data.y_codes, g_codes, len(data.classes), len(data.groups))
    method = make_method(index.n_classes)
    if lr is None:  # the method's reference step, scaled as the target asks
        lr = method.default_lr * target.default_lr_scale(index.groups_per_class)
    if device.type == "cuda" and torch.is_tensor(real):
        real = real.pin_memory()
    synthetic = initial_synthetic(real, index, rng, method, ipc, init).to(device)
    sampler = RealBatches(real, index, target, batch_real, device, rng, data.sample_weight)
    return FitEngine(synthetic, method, sampler, lr=lr, ipc=ipc), imputation


def impute_groups(real, g_codes, rng, n_clusters=None):
    """Fill missing group codes (-1) by K-means on the standardised inputs.

    Returns ``(codes, imputation)``: ``imputation`` is None when nothing was missing, else the
    record kept as the distiller's ``group_imputation_``.
    """
    missing = g_codes < 0
    if not missing.any():
        return g_codes, None
    # an in-memory tensor is used as it is; a Dataset is read once, in full
    data = real if torch.is_tensor(real) else real[np.arange(len(real))]
    features = data.reshape(len(real), -1).numpy()
    k = n_clusters or int(g_codes.max()) + 1
    g_codes, _ = kmeans_impute(features, g_codes, k, int(rng.integers(2**31 - 1)))
    imputation = {
        "n_missing": int(missing.sum()),
        "fraction_missing": float(missing.mean()),
        "n_clusters": k,
        "imputed": missing,
        "codes": g_codes,
    }
    return g_codes, imputation


def initial_synthetic(real, index, rng, method, ipc, init):
    """The starting synthetic set, ``ipc`` stored samples per class, ordered by class.

    ``init``: ``"noise"`` (standard normal), ``"random_real"`` (random real samples of the
    class) or ``"balanced"`` (real samples cycling through the class's groups). A
    multi-formation method (idc) packs ``factor**2`` real samples into each stored one.
    """
    if init == "noise":
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        return torch.randn((index.n_classes * ipc, *real.shape[1:]), generator=gen)
    per_stored = method.samples_per_stored()
    chosen = []
    for cls in range(index.n_classes):
        members = index.members(cls)
        n = min(ipc * per_stored, members.shape[0])
        if init == "random_real":
            pick = rng.choice(members, n, replace=False)
        else:  # "balanced" (or its deprecated name "real")
            pick = index.balanced_pick(cls, n, rng)
        # a small class repeats samples to fill the stored slots of a multi-formation method
        chosen.append(np.resize(pick, ipc * per_stored))
    x = real[np.concatenate(chosen)].clone()
    return x if per_stored == 1 else method.encode_initial(x)


def history_frame(history):
    """The loss history as the distiller's ``history_`` table."""
    n = len(history["loss"])
    return pd.DataFrame({"iteration": np.arange(1, n + 1), **history})
