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
import torch
from sklearn.utils import check_random_state

from ._data import Codec, LazySamples
from ._distributed import check_components, process_group, rank_slice, shared_seed
from ._persistence import fingerprint_data
from ._sampling import ClassGroupIndex, RealBatches, TrajectoryBatches
from .callbacks import notify
from .groups import kmeans_impute
from .methods._experts import ExpertData

MSG_NONFINITE_LOSS = (
    "the matching loss became {value} at iteration {it}; the estimator keeps the synthetic set "
    "of iteration {kept}, the last logged before it (log_every={log_every}). Lower lr (now "
    "{lr}) and fit again."
)

#: Share of the device's free memory that the training data may take to be moved there once
#: (otherwise batches are gathered on the host, from pinned memory).
DEVICE_DATA_SHARE = 0.5


class FitEngine:
    """One synthetic set under optimisation.

    The loop never makes the host wait for the device, except every ``log_every`` iterations:
    each iteration's loss, and whether it and the synthetic set stayed finite, are kept on
    the device, and moved to the host in one transfer at every *log point* (an iteration
    count divisible by ``log_every``, and the end of a run). The history therefore holds
    every iteration's loss; a non-finite value is found at the next log point, and the
    engine then returns to the state of the last log point before it.

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
    log_every : int, default=1
        Iterations between log points.

    Attributes
    ----------
    history : dict
        ``{"loss": [...], "seconds": [...]}``, one entry per logged iteration (seconds: host
        time since the first iteration, at the iteration's end).
    n_iter : int
        Iterations the current :meth:`run` stops at (completed ones included).
    status : str
        ``"running"``, ``"completed"``, ``"stopped"`` (a callback asked to stop),
        ``"interrupted"`` (``KeyboardInterrupt``) or ``"failed"``.
    """

    def __init__(self, synthetic, method, sampler, *, lr, ipc, log_every=1):
        self.synthetic = synthetic.requires_grad_(True)
        self.method = method
        self.sampler = sampler
        self.target = sampler.target
        self.rng = sampler.rng
        self.lr = lr
        self.ipc = ipc
        self.log_every = log_every
        n_classes = synthetic.shape[0] // ipc
        self.labels = np.repeat(np.arange(n_classes), ipc)
        self.optimizer = torch.optim.SGD([self.synthetic], lr=lr, momentum=0.5)
        self.history = {"loss": [], "seconds": []}
        self.n_iter = 0
        self.status = "idle"
        self.stop_requested = False
        self._done = 0
        self._pending = []  # (loss, finite, seconds) of the iterations since the last log point
        if hasattr(method, "sample_real_class"):
            method.sample_real_class = sampler.sample_real_class
        if hasattr(method, "step_images"):
            method.step_images = self._step_images
        self._snapshot()
        self._logged = self._good

    @property
    def iteration(self) -> int:
        """Iterations completed."""
        return self._done

    # ------------------------------------------------------------------ one iteration
    def step(self) -> torch.Tensor:
        """Run one iteration: ``outer_loop`` matching steps, each an optimiser step on ``S``.

        Returns the iteration's loss (the mean over its matching steps) as a float64 tensor
        on the device.
        """
        method, synthetic, n_steps = self.method, self.synthetic, self.method.outer_loop
        for group in self.optimizer.param_groups:  # the method's schedule, if any
            group["lr"] = self.lr * method.lr_factor(self._done, self.n_iter)
        value = torch.zeros((), dtype=torch.float64, device=synthetic.device)
        finite = torch.ones((), dtype=torch.bool, device=synthetic.device)
        for step in range(n_steps):
            if step:
                method.inner_update(synthetic.detach(), self.labels, self.sampler.sample_real)
            x_real, plan = self.sampler.batch()
            if step == 0:
                method.begin_iteration(int(self.rng.integers(2**62)))
                method.prepare(synthetic.detach(), self.labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss = method.match(x_real, plan, synthetic, self.ipc)
            self.optimizer.step()
            method.after_step(synthetic)
            finite = finite & torch.isfinite(loss) & torch.isfinite(synthetic).all()
            value = value + loss.double() / n_steps
            if method.iteration_converged():  # the mean over the steps taken
                value = value * (n_steps / (step + 1))
                break
        self._done += 1
        self._snapshot()
        self._pending.append((value, finite, self._offset + time.perf_counter() - self._start))
        return value

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

    def flush(self):
        """Move the losses since the last log point to the history, in one transfer.

        Raises ``FloatingPointError`` when one of them, or the synthetic set, became
        non-finite; the engine is then back at the last log point before it.
        """
        if not self._pending:
            return
        rows = torch.stack([torch.stack([v, ok.double()]) for v, ok, _ in self._pending])
        rows = rows.tolist()
        for i, (value, finite) in enumerate(rows):
            if not finite:
                self._nonfinite(value, len(self.history["loss"]) + i)
        for (value, _), (_, _, seconds) in zip(rows, self._pending):
            self.history["loss"].append(value)
            self.history["seconds"].append(seconds)
        self._pending = []
        self._logged = self._good

    def _nonfinite(self, value, it):
        """Return to the last log point and raise: iteration ``it`` (0-based) went non-finite."""
        self._pending = []
        self._good = self._logged
        self._done = len(self.history["loss"])
        raise FloatingPointError(
            MSG_NONFINITE_LOSS.format(
                value=value if not math.isfinite(value) else "non-finite",
                it=it,
                kept=self._done,
                log_every=self.log_every,
                lr=self.lr,
            )
        )

    # ------------------------------------------------------------------ the loop
    def run(self, n_iter, callbacks=()):
        """Iterate until ``n_iter`` iterations are completed, or a callback asks to stop.

        A ``KeyboardInterrupt`` ends the run with status ``"interrupted"`` (the engine keeps
        the last completed iteration); other errors propagate after ``on_fit_end``.
        """
        self.n_iter = n_iter
        self.status = "running"
        self.stop_requested = False
        self._offset = self.history["seconds"][-1] if self.history["seconds"] else 0.0
        self._start = time.perf_counter()
        notify(callbacks, "on_fit_begin", self)
        try:
            try:
                while self.iteration < n_iter and not self.stop_requested:
                    self.step()
                    if self.iteration % self.log_every == 0:
                        self.flush()
                    notify(callbacks, "on_iteration_end", self)
            except KeyboardInterrupt:
                self.status = "interrupted"
            self.flush()
            if self.status == "running":
                self.status = "completed" if self.iteration >= n_iter else "stopped"
        except BaseException:
            self.status = "failed"
            self._flush_quietly()
            raise
        finally:
            notify(callbacks, "on_fit_end", self)
        return self

    def _flush_quietly(self):
        """Log what can be logged while another error propagates.

        A non-finite value only returns the engine to its last log point.
        """
        try:
            self.flush()
        except FloatingPointError:
            pass

    def stop(self):
        """Ask the loop to stop after the current iteration (for callbacks)."""
        self.stop_requested = True

    # ------------------------------------------------------------------ state
    def result(self) -> torch.Tensor:
        """The training samples of the last completed iteration, decoded by the method."""
        return self.method.decode(self._good["synthetic"], self.ipc)

    def state_dict(self) -> dict:
        """The state after the last completed iteration, on the CPU (a log point: it flushes)."""
        self.flush()
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
        self._done = len(self.history["loss"])
        self._pending = []
        self._snapshot()
        self._logged = self._good


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

    ``X`` is the input as given (or the :class:`~skdistill._data.LazySamples` of a torch
    Dataset, a memory-mapped array or shards); ``y_codes`` and ``g_codes`` index ``classes``
    and ``groups`` (``-1``: a group to impute).
    """

    X: object
    y: object
    codec: Codec
    classes: np.ndarray
    y_codes: np.ndarray
    groups: np.ndarray
    g_codes: np.ndarray
    sample_weight: np.ndarray | None = None

    def encoded(self, start=0, stop=None):
        """The samples ``start:stop`` in internal units: a tensor, or the lazy reader.

        A lazy reader (of a Dataset, a memory-mapped array or shards) is returned whole, and
        reads only the positions asked of it.
        """
        if isinstance(self.X, LazySamples):
            return self.X
        X = self.X
        if (start, stop) != (0, None):
            X = X.iloc[start:stop] if hasattr(X, "iloc") else X[start:stop]
        return self.codec.encode(X)


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
    log_every=1,
    autocast=None,
    verbose=0,
):
    """Encode the data, impute missing groups and draw the initial synthetic set.

    Returns ``(engine, imputation)``; every random draw comes from one generator seeded by
    ``random_state``, in a fixed order. ``make_method(n_classes)`` builds the method;
    ``lr=None`` takes the method's reference rate scaled by the target; ``autocast`` (a
    dtype or None) runs the method's matching forward passes under :func:`torch.autocast`.
    A trajectory method gets its expert buffers before the start (read, or trained with a
    progress bar when ``verbose``).
    """
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    rng = np.random.default_rng(shared_seed(seed, random_state))
    parallel = process_group() is not None
    real = rank_slice(data) if parallel else data.encoded()
    g_codes, imputation = impute_groups(real, data.g_codes, rng, n_impute_clusters)
    index = ClassGroupIndex(data.y_codes, g_codes, len(data.classes), len(data.groups))
    method = make_method(index.n_classes)
    if parallel:
        check_components(method, target)
    method.autocast_dtype = autocast
    experts = ExpertData(real, data.codec, data.y_codes, g_codes, data.classes, data.groups)
    trajectory_plan = prepare_trajectories(method, target, experts, rng, verbose)
    if lr is None:  # the method's reference step, scaled as the target asks
        # (trajectory losses are normalised: every target takes the method's reference step)
        scale = target.default_lr_scale(index.groups_per_class)
        lr = method.default_lr * (scale if trajectory_plan is None else 1.0)
    real = place_data(real, device)
    synthetic = initial_synthetic(real, index, rng, method, ipc, init).to(device)
    sampler = RealBatches(real, index, target, batch_real, device, rng, data.sample_weight)
    if trajectory_plan is not None:
        sampler = TrajectoryBatches(sampler, trajectory_plan)
    engine = FitEngine(synthetic, method, sampler, lr=lr, ipc=ipc, log_every=log_every)
    return engine, imputation


def prepare_trajectories(method, target, experts, rng, verbose=0):
    """Trajectory methods: the target's trajectory plan, the method's experts made ready.

    ``experts`` is the :class:`~skdistill.methods._experts.ExpertData` of the fit; the
    experts' seed is the next draw of ``rng``. Other methods: None, and no draw (they match
    real batches, drawn at every step).
    """
    if "trajectories" not in method.plan_kinds:
        return None
    plan = target.trajectory_plan(experts.groups.shape[0])
    seed = int(rng.integers(np.iinfo(np.int32).max))
    method.prepare_experts(plan, experts, seed=seed, verbose=verbose)
    return plan


def place_data(real, device):
    """The training tensor on a CUDA ``device`` when it fits, else in pinned host memory.

    Data on the device are gathered there, batch by batch, without crossing the bus again;
    "fits" means at most :data:`DEVICE_DATA_SHARE` of the device's free memory. Lazy samples
    (a Dataset, a memory-mapped array, shards) and a rank's slice stay where they are.
    """
    if device.type != "cuda" or not torch.is_tensor(real):
        return real
    free, _ = torch.cuda.mem_get_info(device)
    if real.numel() * real.element_size() <= DEVICE_DATA_SHARE * free:
        return real.to(device)
    return real.pin_memory()


def impute_groups(real, g_codes, rng, n_clusters=None):
    """Fill missing group codes (-1) by K-means on the standardised inputs.

    Returns ``(codes, imputation)``: ``imputation`` is None when nothing was missing, else the
    record kept as the distiller's ``group_imputation_``.
    """
    missing = g_codes < 0
    if not missing.any():
        return g_codes, None
    # an in-memory tensor is used as it is; lazy samples are read once, in full
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


def data_fingerprint(engine, data):
    """Identity of the data a run works on: samples, codes, standardisation, weights.

    A checkpoint records it, and is resumed only on the same data.
    """
    real, index = engine.sampler.real, engine.sampler.index
    codes = np.stack([index.class_codes, index.group_codes])
    extra = [] if data.sample_weight is None else [data.sample_weight]
    return fingerprint_data(real, data.codec, codes, extra)
