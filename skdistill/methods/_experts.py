"""Expert trajectories for trajectory matching: training, saving, loading and checking them.

An *expert buffer* (MTT's "replay buffer") holds the parameters of networks trained on real
data, one snapshot per epoch: a tensor ``(n_experts, epochs + 1, n_params)`` of flattened
parameters (in the order of ``network.parameters()``), snapshot 0 being the initialisation.
A dataset has up to three kinds of buffer (:data:`~skdistill.targets.TRAJECTORY_BUFFERS`):
``"all"`` (experts trained on all the data; vanilla MTT), ``"balanced"`` (trained on
group-balanced draws; uniform MTT) and ``"groups"`` (one buffer per protected group, each
trained on that group's samples alone; COBRA- and FairDD-MTT). Buffers are stored under the
keys ``"all"``, ``"balanced"`` and ``"group-<k>"`` (``k`` indexing the sorted group names).

On disk every buffer is one file ``experts-<key>.pt`` (a dict of tensors, read with
``torch.load(weights_only=True)``, memory-mapped) with a ``.json`` sidecar recording its
provenance — the fingerprint of the training data, the network, the training settings, the
versions — and the file's SHA-256, verified at every load.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from tqdm.auto import tqdm

from .._data import encode_groups, encode_labels, scalar
from .._device import resolve_device
from .._persistence import fingerprint_data, load_tensors, save_tensors
from ..nn import build_network, reinitialize_
from ..targets import TRAJECTORY_BUFFERS
from .augment import DSA, make_augment

#: Version of the expert-buffer file format.
FORMAT_VERSION = 1
FILE_PATTERN = "experts-{key}.pt"

#: Reference settings of the experts: MTT's ``buffer.py`` trains ConvNets with plain SGD
#: (``lr_teacher`` 0.01, no momentum, no weight decay, no learning-rate decay) on batches of
#: 256 (``batch_train``), with DSA on every batch. It trains 100 experts of 50 epochs; see
#: :func:`train_experts` for the counts used here.
EXPERT_LR = 0.01
EXPERT_BATCH_SIZE = 256
N_EXPERTS = 10
#: Epochs of :func:`train_experts` by default: the last snapshot that MTT's reference
#: distillation settings reach (start epochs below ``max_start_epoch=20``, targets
#: ``expert_epochs=2`` later: epoch 19 + 2 = 21).
EPOCHS = 21

MSG_NO_GROUP_EXPERTS = (
    "expert_dir={dir!r} holds experts for group(s) {present} but none for group(s) {missing}; "
    "every group needs its own buffer. Train them all again into this folder with "
    "skdistill.methods.train_experts(X, y, sensitive_features, buffers='groups', "
    "save_dir=...), or use another expert_dir."
)
MSG_OTHER_DATA = (
    "the experts in {where} (buffer {key!r}) were trained on other data than this fit's "
    "(their data fingerprint differs: other samples, labels{groups}, or another scaling); "
    "train experts on this data with skdistill.methods.train_experts(..., save_dir=...), or "
    "pass the expert_dir of experts trained on it."
)
MSG_OTHER_NETWORK = (
    "the experts in {where} (buffer {key!r}) were trained for another network ({theirs}) than "
    "this fit's ({ours}); pass the same net_width, net_depth and net_norm as their training, "
    "or train experts for this network."
)
MSG_SHORT_BUFFER = (
    "the experts in {where} (buffer {key!r}) hold {epochs} epoch(s), but max_start_epoch="
    "{max_start} and expert_epochs={m} need {needed} (start epochs up to {last_start}, targets "
    "{m} epoch(s) later); lower max_start_epoch or expert_epochs, or train experts with "
    "epochs >= {needed}."
)
MSG_EMPTY_BUFFER = (
    "the buffer {key!r} in {where} holds no expert; train experts again with n_experts >= 1."
)
MSG_NOT_EXPERTS = "{path} is not an expert buffer written by skdistill (format {fmt!r})."
MSG_NEWER_EXPERTS = (
    "{path} was written in expert-buffer format version {version}; this skdistill reads "
    "version {supported} and earlier. Upgrade skdistill to load it."
)
MSG_BUFFERS = "buffers must be one of {kinds} or a sequence of them; got {got!r}."
MSG_NO_BUFFERS = "{dir!r} holds no expert buffer (no file named {pattern!r})."


# ---------------------------------------------------------------------------- the data
@dataclass
class ExpertData:
    """Encoded training data, as the distiller holds it, with its fingerprints.

    ``real`` is the standardised float32 tensor (or :class:`~skdistill._data.DatasetSamples`),
    ``y_codes`` and ``g_codes`` the integer class and group of every sample, ``classes`` and
    ``groups`` their names.
    """

    real: object
    codec: object
    y_codes: np.ndarray
    g_codes: np.ndarray
    classes: np.ndarray
    groups: np.ndarray
    _fingerprints: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_inputs(cls, X, y, sensitive_features):
        """Read and encode user data exactly as :class:`BarycentricDistiller.fit` does."""
        from .._engine import FitData
        from .._validation import read_inputs

        X, y, sensitive_features, codec = read_inputs(X, y, sensitive_features)
        classes, y_codes = encode_labels(y)
        groups, g_codes = encode_groups(sensitive_features, y_codes.shape[0])
        data = FitData(X, y, codec, classes, y_codes, groups, g_codes)
        return cls(data.encoded(), codec, y_codes, g_codes, classes, groups)

    @property
    def n_samples(self) -> int:
        """Number of training samples."""
        return int(self.y_codes.shape[0])

    def fingerprint(self, key) -> str:
        """The data fingerprint a buffer is checked against (without groups for ``"all"``)."""
        labels_only = key == "all"
        if labels_only not in self._fingerprints:
            codes = self.y_codes if labels_only else np.stack([self.y_codes, self.g_codes])
            self._fingerprints[labels_only] = fingerprint_data(self.real, self.codec, codes)
        return self._fingerprints[labels_only]

    def training_order(self, key, rng: np.random.Generator, length=None) -> np.ndarray:
        """The samples of one training epoch of a buffer's expert, in random order.

        ``"all"`` and ``"group-<k>"``: every sample (of group ``k``) once; ``"balanced"``:
        ``n`` draws with replacement, sample ``i`` with probability proportional to
        ``n_y / (G_y n_{a|y})`` (classes keep their frequencies, the groups of a class are
        drawn equally often). With ``length``, an epoch holds ``length`` samples instead:
        fresh random passes over the buffer's samples, one after another, cut at ``length``
        (``"balanced"``: ``length`` draws).
        """
        if key == "balanced":
            n = self.n_samples if length is None else length
            return rng.choice(self.n_samples, n, p=self._balanced_probabilities())
        members = np.arange(self.n_samples) if key == "all" else self._group_members(key)
        n_passes = 1 if length is None else -(-length // members.shape[0])
        order = np.concatenate([rng.permutation(members) for _ in range(n_passes)])
        return order if length is None else order[:length]

    def _group_members(self, key):
        return np.flatnonzero(self.g_codes == group_index(key))

    def epoch_samples(self, key, epoch_length, batch_size) -> int:
        """Samples of one training epoch of buffer ``key`` (see :class:`ExpertTraining`)."""
        if epoch_length == "all":
            return self.n_samples
        if epoch_length == "buffer":
            return self.n_samples if not key.startswith("group-") else len(self._group_members(key))
        return int(epoch_length) * batch_size

    def _balanced_probabilities(self):
        n_classes, n_groups = int(self.y_codes.max()) + 1, int(self.g_codes.max()) + 1
        cell = self.y_codes * n_groups + self.g_codes
        counts = np.bincount(cell, minlength=n_classes * n_groups).reshape(n_classes, n_groups)
        n_y = counts.sum(axis=1)
        g_y = (counts > 0).sum(axis=1)
        p = n_y[self.y_codes] / (g_y[self.y_codes] * counts[self.y_codes, self.g_codes])
        return p / p.sum()

    def describe(self) -> dict:
        """What the provenance records of the data."""
        return {
            "n_samples": self.n_samples,
            "sample_shape": list(self.codec.sample_shape),
            "kind": self.codec.kind,
            "classes": [str(scalar(c)) for c in self.classes],
            "groups": [str(scalar(g)) for g in self.groups],
        }


def group_index(key) -> int:
    """The group of a ``"group-<k>"`` key."""
    return int(key.split("-", 1)[1])


def buffer_kind(key) -> str:
    """The kind of buffer (``"all"``, ``"balanced"`` or ``"groups"``) of a key."""
    return "groups" if key.startswith("group-") else key


def buffer_keys(buffers, n_groups) -> list:
    """The keys of the buffers of kind ``buffers`` for data with ``n_groups`` groups."""
    if buffers == "groups":
        return [f"group-{k}" for k in range(n_groups)]
    return [buffers]


# ---------------------------------------------------------------------------- the network
@dataclass(frozen=True)
class ExpertNetwork:
    """The architecture of the experts (and of the student that replays them)."""

    sample_shape: tuple
    n_classes: int
    net_width: int | None = None
    net_depth: int | None = None
    net_norm: str | None = None

    def build(self):
        """A fresh network of this architecture, on the CPU."""
        norm = self.net_norm if len(self.sample_shape) == 3 else None
        return build_network(
            self.sample_shape, self.n_classes, self.net_width, self.net_depth, norm
        )

    def describe(self) -> dict:
        """The architecture as the provenance records it, parameter names and shapes included."""
        net = self.build()
        return {
            "sample_shape": list(self.sample_shape),
            "n_classes": int(self.n_classes),
            "net_width": self.net_width,
            "net_depth": self.net_depth,
            "net_norm": self.net_norm,
            "parameters": [[name, list(p.shape)] for name, p in net.named_parameters()],
        }


def flat_parameters(network) -> torch.Tensor:
    """The parameters of ``network`` as one detached float32 CPU vector."""
    return torch.cat([p.detach().reshape(-1) for p in network.parameters()]).float().cpu()


def parameter_splitter(network):
    """The inverse of :func:`flat_parameters` for ``network``'s layout.

    Returns a function that views a flat parameter vector as ``{name: tensor}``, for
    ``torch.func.functional_call``.
    """
    names = [n for n, _ in network.named_parameters()]
    shapes = [tuple(p.shape) for p in network.parameters()]
    numels = [math.prod(s) for s in shapes]

    def split(w):
        return {n: p.view(s) for n, p, s in zip(names, torch.split(w, numels), shapes)}

    return split


# ---------------------------------------------------------------------------- buffers
class ExpertBuffers:
    """Expert trajectories trained on one dataset, one buffer per key.

    Returned by :func:`train_experts` and :func:`load_experts`.

    Parameters
    ----------
    trajectories : dict of str to Tensor of shape (n_experts, epochs + 1, n_params)
        Flattened parameters of every expert after every epoch (index 0: at
        initialisation), per buffer key (``"all"``, ``"balanced"``, ``"group-<k>"``).
    info : dict of str to dict
        Provenance of every buffer: data fingerprint and description, network, training
        settings, versions.
    """

    def __init__(self, trajectories, info):
        self.trajectories = dict(trajectories)
        self.info = dict(info)

    def __repr__(self):
        shapes = {k: tuple(v.shape) for k, v in self.trajectories.items()}
        return f"ExpertBuffers({shapes})"

    def __contains__(self, key):
        return key in self.trajectories

    def __getitem__(self, key) -> torch.Tensor:
        return self.trajectories[key]

    def keys(self):
        """The buffer keys."""
        return self.trajectories.keys()

    def save(self, directory) -> list:
        """Write every buffer into ``directory`` (atomically, with checksummed sidecars).

        Returns
        -------
        list of Path
            The written files.
        """
        return [_save_buffer(directory, k, v, self.info[k]) for k, v in self.trajectories.items()]

    @classmethod
    def load(cls, directory, *, keys=None, mmap=True):
        """Read the buffers in ``directory`` (those of ``keys`` only, when given).

        Every file's checksum is verified; the trajectories are memory-mapped (``mmap``), so
        only the checkpoints a distillation reads leave the disk. A key without a file is
        left out.
        """
        directory = Path(directory)
        if keys is None:
            paths = sorted(directory.glob(FILE_PATTERN.format(key="*")))
        else:
            paths = [directory / FILE_PATTERN.format(key=k) for k in keys]
        trajectories, info = {}, {}
        for path in paths:
            if not path.exists():
                continue
            tensors, meta = load_tensors(path, mmap=mmap)
            if meta.get("format") != "skdistill-experts":
                raise ValueError(MSG_NOT_EXPERTS.format(path=path, fmt=meta.get("format")))
            if meta.get("format_version", 0) > FORMAT_VERSION:
                raise ValueError(
                    MSG_NEWER_EXPERTS.format(
                        path=path, version=meta["format_version"], supported=FORMAT_VERSION
                    )
                )
            trajectories[meta["key"]] = tensors["trajectories"]
            info[meta["key"]] = meta
        return cls(trajectories, info)

    def other_than(self, key, data: ExpertData, described: dict):
        """What buffer ``key`` was trained for that differs from ours, if anything.

        ``"data"`` (other samples, labels, groups or scaling) or ``"network"`` (``described``
        is ours, :meth:`ExpertNetwork.describe`); None when both are ours.
        """
        meta = self.info[key]
        if meta["data"]["fingerprint"] != data.fingerprint(key):
            return "data"
        if meta["network"] != described:
            return "network"
        return None

    def check(self, key, data: ExpertData, network: ExpertNetwork, reach, *, where):
        """Refuse buffer ``key`` if it does not fit this data, network or trajectory reach.

        Refused: experts trained on other data or for another network, or shorter than
        MTT's ``reach = (max_start_epoch, expert_epochs)`` needs (start epochs
        ``0 .. max_start_epoch - 1``, targets ``expert_epochs`` later: the buffer needs
        ``max_start_epoch - 1 + expert_epochs`` epochs). Every message names what to change;
        ``where`` names the folder.
        """
        meta, traj = self.info[key], self.trajectories[key]
        ours = network.describe()
        other = self.other_than(key, data, ours)
        if other == "data":
            groups = "" if key == "all" else ", groups"
            raise ValueError(MSG_OTHER_DATA.format(where=where, key=key, groups=groups))
        if other == "network":
            theirs = {k: v for k, v in meta["network"].items() if k != "parameters"}
            ours = {k: v for k, v in ours.items() if k != "parameters"}
            raise ValueError(
                MSG_OTHER_NETWORK.format(where=where, key=key, theirs=theirs, ours=ours)
            )
        if traj.shape[0] < 1:
            raise ValueError(MSG_EMPTY_BUFFER.format(key=key, where=where))
        max_start, m = reach
        needed = max_start - 1 + m
        if traj.shape[1] - 1 < needed:
            raise ValueError(
                MSG_SHORT_BUFFER.format(
                    where=where,
                    key=key,
                    epochs=traj.shape[1] - 1,
                    max_start=max_start,
                    m=m,
                    needed=needed,
                    last_start=max_start - 1,
                )
            )


def _save_buffer(directory, key, trajectories, info):
    path = Path(directory) / FILE_PATTERN.format(key=key)
    return save_tensors(path, {"trajectories": trajectories.contiguous()}, info)


def load_experts(directory, *, keys=None):
    """Load expert buffers saved by :func:`train_experts` (or by a fit with ``expert_dir``).

    Parameters
    ----------
    directory : str or Path
        The folder of the ``experts-<key>.pt`` files and their ``.json`` sidecars.
    keys : sequence of str, default=None
        Buffers to read (``"all"``, ``"balanced"``, ``"group-<k>"``); all when None.

    Returns
    -------
    ExpertBuffers
        The buffers, memory-mapped, their checksums verified.
    """
    buffers = ExpertBuffers.load(directory, keys=keys)
    if not buffers.trajectories:
        raise FileNotFoundError(
            MSG_NO_BUFFERS.format(dir=str(directory), pattern=FILE_PATTERN.format(key="*"))
        )
    return buffers


# ---------------------------------------------------------------------------- training
@dataclass
class ExpertTraining:
    """How experts are trained (MTT's ``buffer.py`` settings by default)."""

    n_experts: int = N_EXPERTS
    epochs: int = EPOCHS
    lr: float = EXPERT_LR
    batch_size: int = EXPERT_BATCH_SIZE
    augment: DSA | None = None
    #: What an epoch (the span between two snapshots) is: ``"buffer"``, one pass over the
    #: buffer's own data (MTT; the COBRA paper's per-group buffers); ``"all"``, as many
    #: samples as all the data holds, whatever the buffer (the same number of SGD steps
    #: for every buffer); an int, that many SGD steps.
    epoch_length: str | int = "buffer"

    def describe(self) -> dict:
        """The settings as the provenance records them."""
        return {
            "n_experts": self.n_experts,
            "epochs": self.epochs,
            "lr": self.lr,
            "momentum": 0.0,
            "weight_decay": 0.0,
            "batch_size": self.batch_size,
            "augment": repr(self.augment),
            "epoch_length": self.epoch_length,
        }


def _seeds(seed, key, n_experts):
    """``(init, run)`` seeds of the experts of buffer ``key``.

    The initialisation of expert ``e`` depends on ``seed`` and ``e`` only, so expert ``e``
    of every buffer starts from the same network; the order and augmentation of its
    batches depend on the key too.
    """
    index = {"all": 0, "balanced": 1}.get(key)
    index = 2 + group_index(key) if index is None else index
    inits = np.random.SeedSequence([seed]).generate_state(n_experts, dtype=np.uint64)
    runs = np.random.SeedSequence([seed, index]).generate_state(n_experts, dtype=np.uint64)
    return [(int(i >> 1), int(r >> 1)) for i, r in zip(inits, runs)]


def train_expert(data, key, network, training, seed, device, progress=None, init=None):
    """Train one expert on buffer ``key``'s data; return its ``(epochs + 1, n_params)`` snapshots.

    Plain SGD (no momentum, no weight decay) on cross-entropy, batches of
    ``training.batch_size`` in a fresh random order every epoch (the last batch may be
    smaller), DSA with per-sample parameters on every batch when ``training.augment`` is set.
    The network is initialised from seed ``init`` (``seed`` when None); everything else
    random comes from ``seed``.
    """
    init = seed if init is None else init
    net = reinitialize_(network.build(), init).to(device).train()
    optimizer = torch.optim.SGD(net.parameters(), lr=training.lr)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    y_all = torch.as_tensor(data.y_codes)
    snapshots = [flat_parameters(net)]
    length = None
    if training.epoch_length != "buffer":
        length = data.epoch_samples(key, training.epoch_length, training.batch_size)
    for _ in range(training.epochs):
        order = data.training_order(key, rng, length)
        for start in range(0, order.shape[0], training.batch_size):
            idx = order[start : start + training.batch_size]
            x = data.real[idx].to(device)
            if training.augment is not None:
                x = training.augment(x, generator)
            loss = F.cross_entropy(net(x), y_all[idx].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        snapshots.append(flat_parameters(net))
        if progress is not None:
            progress.update()
    return torch.stack(snapshots)


def train_buffers(
    data, keys, network, training, *, seed, device, directory=None, verbose=0, random_state=None
):
    """Train the buffers of ``keys``; save each into ``directory`` as soon as it is done.

    Expert ``e`` of every buffer starts from the same network (seeded from ``seed`` and
    ``e``), so the checkpoints of the groups' experts ``e`` stay comparable (COBRA averages
    them); their batches are seeded from ``seed``, the key and ``e``. ``seed`` is recorded in
    the provenance beside the caller's ``random_state``. Returns the :class:`ExpertBuffers`
    (memory-mapped from ``directory`` when given, in memory otherwise).
    """
    from .. import __version__

    progress = tqdm(
        total=len(keys) * training.n_experts * training.epochs,
        disable=not verbose,
        desc="training experts",
        unit="epoch",
    )
    common = {
        "format": "skdistill-experts",
        "format_version": FORMAT_VERSION,
        "skdistill_version": __version__,
        "torch_version": torch.__version__,
        "network": network.describe(),
        "training": dict(training.describe(), seed=seed, random_state=random_state),
    }
    trajectories, info = {}, {}
    with progress:
        for key in keys:
            started = time.perf_counter()
            traj = torch.stack(
                [
                    train_expert(data, key, network, training, run, device, progress, init)
                    for init, run in _seeds(seed, key, training.n_experts)
                ]
            )
            meta = dict(common, key=key, buffers=buffer_kind(key))
            meta["data"] = dict(
                data.describe(),
                fingerprint=data.fingerprint(key),
                n_trained_on=data.epoch_samples(key, "buffer", training.batch_size),
                epoch_samples=data.epoch_samples(key, training.epoch_length, training.batch_size),
            )
            if key.startswith("group-"):
                meta["group"] = meta["data"]["groups"][group_index(key)]
            meta["seconds"] = time.perf_counter() - started
            if directory is not None:
                _save_buffer(directory, key, traj, meta)
                del traj
            else:
                trajectories[key], info[key] = traj, meta
    if directory is not None:
        return ExpertBuffers.load(directory, keys=keys)
    return ExpertBuffers(trajectories, info)


def resolve_buffers(data, keys, network, training, *, directory, seed, device, verbose):
    """The buffers of ``keys``: read from ``directory``, or trained (and saved there).

    A folder holding none of ``keys`` gets them trained and saved (a temporary folder,
    removed with the returned object's ``tempdir``, when ``directory`` is None). A folder
    holding some of them resumes an interrupted training: when the buffers it holds were
    trained with this training's settings and seed (each buffer's experts depend on the
    seed and the key only, so the missing ones come out as one uninterrupted training would
    have made them), the missing buffers are trained and saved beside them; otherwise the
    folder is refused.
    """
    resuming = False
    if directory is not None and Path(directory).is_dir():
        found = ExpertBuffers.load(directory, keys=keys)
        present = [k for k in keys if k in found]
        missing = [k for k in keys if k not in found]
        if present and not missing:
            return found, None
        if present and not _same_training(found, present, data, network, training, seed):
            names = data.describe()["groups"]
            label = lambda ks: [names[group_index(k)] for k in ks]  # noqa: E731
            raise ValueError(
                MSG_NO_GROUP_EXPERTS.format(
                    dir=str(directory), present=label(present), missing=label(missing)
                )
            )
        resuming = bool(present)
    tempdir = None
    if directory is None:
        tempdir = tempfile.TemporaryDirectory(prefix="skdistill-experts-")
        directory = tempdir.name
    buffers = train_buffers(
        data,
        missing if resuming else keys,
        network,
        training,
        seed=seed,
        device=device,
        directory=directory,
        verbose=verbose,
    )
    if resuming:  # the buffers read before (checksums verified once), and the ones just trained
        buffers = ExpertBuffers(
            {**found.trajectories, **buffers.trajectories}, {**found.info, **buffers.info}
        )
    return buffers, tempdir


def _same_training(found, present, data, network, training, seed) -> bool:
    """Whether the buffers ``present`` came from this data, network, training and seed.

    Only then does training the missing buffers complete the folder's training.
    """
    ours = dict(training.describe(), seed=seed)
    described = network.describe()
    for key in present:
        theirs = {k: v for k, v in found.info[key]["training"].items() if k != "random_state"}
        if theirs != ours or found.other_than(key, data, described) is not None:
            return False
    return True


def _check_buffers(buffers):
    kinds = [buffers] if isinstance(buffers, str) else list(buffers)
    if not kinds or any(k not in TRAJECTORY_BUFFERS for k in kinds):
        raise ValueError(MSG_BUFFERS.format(kinds=list(TRAJECTORY_BUFFERS), got=buffers))
    return list(dict.fromkeys(kinds))


@validate_params(
    {
        "buffers": [StrOptions(set(TRAJECTORY_BUFFERS)), list, tuple],
        "n_experts": [Interval(Integral, 1, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "epoch_length": [StrOptions({"buffer", "all"}), Interval(Integral, 1, None, closed="left")],
        "augment": [StrOptions({"auto", "dsa"}), DSA, None],
        "net_width": [Interval(Integral, 1, None, closed="left"), None],
        "net_depth": [Interval(Integral, 1, None, closed="left"), None],
        "net_norm": [StrOptions({"instance", "none"}), None],
        "save_dir": [str, os.PathLike, None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def train_experts(
    X,
    y=None,
    sensitive_features=None,
    *,
    buffers="all",
    n_experts=N_EXPERTS,
    epochs=EPOCHS,
    lr=EXPERT_LR,
    batch_size=EXPERT_BATCH_SIZE,
    epoch_length="buffer",
    augment="auto",
    net_width=None,
    net_depth=None,
    net_norm=None,
    save_dir=None,
    device="auto",
    random_state=None,
    verbose=1,
):
    """Train expert trajectories (MTT's replay buffers) for ``method="mtt"``.

    Every expert is a network of the distiller's architecture trained from a random
    initialisation on real data, its parameters recorded after every epoch. Pass the folder
    to :class:`~skdistill.BarycentricDistiller` as ``expert_dir`` to reuse the experts across
    fits: a fit checks that they were trained on its data (the data fingerprint) and for its
    network, and refuses them otherwise.

    Parameters
    ----------
    X : array-like, Tensor or torch Dataset
        Training data, as for :meth:`BarycentricDistiller.fit`.
    y : array-like of shape (n_samples,), default=None
        Class labels (read from the items of a Dataset when None).
    sensitive_features : array-like of shape (n_samples,) or (n_samples, n_attrs), default=None
        Protected groups; needed for ``"groups"`` and ``"balanced"`` buffers.
    buffers : {"all", "balanced", "groups"} or sequence of them, default="all"
        Which buffers to train: ``"all"`` (vanilla MTT), ``"balanced"`` (uniform),
        ``"groups"`` (one buffer per group, each trained on that group's samples alone;
        COBRA and FairDD).
    n_experts : int, default=10
        Experts per buffer. MTT's ``buffer.py`` trains 100 (written ten to a file; its
        distillation holds one file of 10 in memory at a time).
    epochs : int, default=21
        Training epochs of every expert. MTT trains 50, but its reference distillation
        settings (``max_start_epoch=20``, ``expert_epochs=2``) never read beyond epoch 21,
        and without learning-rate decay (its default) the first 21 epochs of a 50-epoch run
        are the same.
    lr : float, default=0.01
        SGD learning rate (MTT's ``lr_teacher``; no momentum, no weight decay).
    batch_size : int, default=256
        Training batch size (MTT's ``batch_train``).
    epoch_length : {"buffer", "all"} or int, default="buffer"
        The span between two snapshots. ``"buffer"``: one pass over the buffer's own data
        (MTT's epoch, and the COBRA paper's for per-group buffers: a group of a tenth of the
        data makes a tenth of the SGD steps per epoch). ``"all"``: as many samples as all the
        data holds, the buffer's own drawn in fresh passes (every buffer's epoch is then the
        same number of SGD steps). An int: that many SGD steps.
    augment : {"auto", "dsa"}, DSA instance or None, default="auto"
        Augmentation of every training batch (per-sample DSA parameters, as MTT's
        ``buffer.py``); ``"auto"``: DSA on images (no flips for one channel), none for tables.
    net_width, net_depth : int or None, default=None
        The network, as the distiller's (``None``: ConvNet 128/3 for images, MLP 256/2 for
        tables).
    net_norm : {"instance", "none"} or None, default=None
        ConvNet normalisation (instance norm when None).
    save_dir : str, Path or None, default=None
        Folder to save the buffers into (one file per buffer, with provenance sidecars); in
        memory only when None.
    device : str or torch.device, default="auto"
        Where to train.
    random_state : int, RandomState instance or None, default=None
        Seeds every expert (the buffer of a key depends on the seed and the key only).
    verbose : int, default=1
        Show a progress bar (epochs trained) when positive.

    Returns
    -------
    ExpertBuffers
        The buffers, memory-mapped from ``save_dir`` when given.

    Notes
    -----
    Expert ``e`` of every buffer starts from the same random network (seeded by
    ``random_state`` and ``e``), so that COBRA-MTT averages checkpoints of networks trained
    from one starting point; the order and augmentation of their batches differ by buffer.

    Cost: ``n_experts * epochs`` passes over the data per buffer kind. The ``"groups"``
    buffers together cost the same number of sample passes as one ``"all"`` buffer (the
    groups partition the data), ``G`` times that with ``epoch_length="all"``. Storage:
    ``n_experts * (epochs + 1) * n_params * 4`` bytes per buffer (ConvNet 128/3 on 28x28
    RGB: 311,050 parameters, 1.2 MB per snapshot; 10 experts of 21 epochs: 274 MB per
    buffer).

    Examples
    --------
    >>> import numpy as np
    >>> from skdistill.methods import train_experts
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 4)); y = rng.integers(0, 2, 60); A = rng.integers(0, 2, 60)
    >>> experts = train_experts(X, y, A, buffers="groups", n_experts=2, epochs=3,
    ...                         net_width=8, random_state=0, verbose=0)
    >>> sorted(experts.keys()), tuple(experts["group-0"].shape)
    (['group-0', 'group-1'], (2, 4, 130))
    """
    kinds = _check_buffers(buffers)
    data = ExpertData.from_inputs(X, y, sensitive_features)
    network = ExpertNetwork(
        tuple(data.codec.sample_shape), int(data.classes.shape[0]), net_width, net_depth, net_norm
    )
    if augment == "auto":
        augment = "dsa" if data.codec.kind == "image" else None
    training = ExpertTraining(
        n_experts,
        epochs,
        lr,
        batch_size,
        make_augment(augment, data.codec.sample_shape[0]),
        epoch_length,
    )
    keys = [k for kind in kinds for k in buffer_keys(kind, data.groups.shape[0])]
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    return train_buffers(
        data,
        keys,
        network,
        training,
        seed=seed,
        device=resolve_device(device),
        directory=save_dir,
        verbose=verbose,
        random_state=random_state if isinstance(random_state, Integral) else None,
    )


__all__ = [
    "ExpertBuffers",
    "ExpertData",
    "ExpertNetwork",
    "ExpertTraining",
    "load_experts",
    "train_experts",
]
