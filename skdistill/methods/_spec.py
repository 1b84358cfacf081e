"""Methods as parameter objects: what a user passes as ``method=``, built into a method at fit.

A running method (:class:`~skdistill.methods.Method`) needs the data's shape, the number of
classes and the device, which only ``fit`` knows. What the user chooses — the distance, the
loops, the multi-formation factor — is a *method spec*: a small scikit-learn-style object
that stores its parameters unchanged, declares their constraints, validates them at fit and
builds the method (:meth:`MethodSpec.build`). ``get_params``/``set_params`` make its
parameters reachable by grid search as ``method__<name>``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from numbers import Integral, Real
from typing import ClassVar

import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from .cafe import DISCRIMINATION_WEIGHT, STOP_TOLERANCE, FeatureAlignment
from .dc import DISTANCES as DC_DISTANCES
from .dc import GradientMatching
from .dm import DistributionMatching
from .idc import BATCH_SYN_MAX, LR_IMG, MIX_P, N_DATA, InformationIntensiveMatching, check_factor
from .mtt import (
    EPOCH_LENGTHS,
    EXPERT_BATCH_SIZE,
    EXPERT_EPOCHS,
    EXPERT_LR,
    LR_INIT,
    LR_LR,
    MAX_START_EPOCH,
    N_EXPERTS,
    SYN_STEPS,
    UNROLLS,
    TrajectoryMatching,
    check_settings,
)


@dataclass
class BuildContext:
    """What ``fit`` knows when it builds the method.

    ``augment`` is the resolved augmentation (a :class:`~skdistill.methods.DSA` or None);
    ``bounds`` the internal-unit value range of images (None for tables); ``net_norm``,
    ``net_width`` and ``net_depth`` the distiller's network settings.
    """

    sample_shape: tuple
    n_classes: int
    ipc: int
    device: torch.device
    net_width: int | None = None
    net_depth: int | None = None
    net_norm: str | None = None
    augment: object = None
    bounds: tuple | None = None


class MethodSpec(BaseEstimator):
    """Base class of method specs.

    A subclass names its registry entry (:attr:`name`) and the method it builds
    (:attr:`method_class`), takes its parameters as keyword arguments stored unchanged, declares
    them in ``_parameter_constraints`` and maps them to the method's keywords in
    :meth:`method_options`. Checks that need the data (e.g. the image size) go into
    :meth:`check_data`.
    """

    #: Key of the method in :data:`skdistill.methods.METHODS`.
    name: ClassVar[str] = "base"
    #: The :class:`~skdistill.methods.Method` subclass that :meth:`build` makes.
    method_class: ClassVar[type] = None
    _parameter_constraints: dict = {}

    def method_options(self) -> dict:
        """Keywords of :attr:`method_class` that the spec's parameters set."""
        return {}

    def check_data(self, sample_shape) -> None:
        """Refuse data the method cannot take (called at fit, before any work)."""

    def check_settings(self, *, net_norm, sample_weight) -> None:
        """Refuse distiller settings the method cannot take (called at fit, before any work)."""

    def build(self, context: BuildContext):
        """The running method for the fit described by ``context``."""
        self._validate_params()
        cls = self.method_class
        shared = {"ipc": context.ipc, "bounds": context.bounds, "net_norm": context.net_norm}
        kwargs = {k: v for k, v in shared.items() if k in cls.options and v is not None}
        if context.augment is not None:
            kwargs["augment"] = context.augment
        return cls(
            context.sample_shape,
            context.n_classes,
            net_width=context.net_width,
            net_depth=context.net_depth,
            device=context.device,
            **kwargs,
            **self.method_options(),
        )


_LOOPS = [Interval(Integral, 1, None, closed="left"), None]


class DM(MethodSpec):
    """Distribution matching: mean embeddings of a freshly drawn random network.

    Builds :class:`~skdistill.methods.DistributionMatching`.

    Parameters
    ----------
    distance : {"l2", "l1"}, default="l2"
        Squared L2 (the reference) or L1 distance between mean embeddings.
    warmup_epochs : int, default=0
        Epochs of training of each iteration's fresh network on the current synthetic set
        before matching (SGD, lr 0.01, momentum 0.9), as the COBRA authors' code does for
        COBRA-DM; 0 keeps the reference random network.

    Examples
    --------
    >>> from skdistill import BarycentricDistiller
    >>> from skdistill.methods import DM
    >>> d = BarycentricDistiller(method=DM(distance="l1", warmup_epochs=5))
    >>> d.get_params()["method__distance"]
    'l1'
    """

    name = "dm"
    method_class = DistributionMatching
    _parameter_constraints = {
        "distance": [StrOptions(set(DistributionMatching.distances))],
        "warmup_epochs": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(self, distance="l2", warmup_epochs=0):
        self.distance = distance
        self.warmup_epochs = warmup_epochs

    def method_options(self):
        """``distance`` and ``net_warmup_epochs``."""
        return {"distance": self.distance, "net_warmup_epochs": self.warmup_epochs}


class DC(MethodSpec):
    """Gradient matching (DC; with ``augment="dsa"`` on the distiller, DSA).

    Builds :class:`~skdistill.methods.GradientMatching`.

    Parameters
    ----------
    distance : {"layerwise", "mse", "cos"}, default="layerwise"
        Gradient distance; ``"layerwise"`` is the reference's.
    outer_loop, inner_loop : int or None, default=None
        Matching steps per iteration, and epochs of network training on the synthetic set
        between two of them; ``None`` takes the reference schedule for the distiller's
        ``ipc`` (see :func:`~skdistill.methods.reference_loops`).
    """

    name = "dc"
    method_class = GradientMatching
    _parameter_constraints = {
        "distance": [StrOptions(set(DC_DISTANCES))],
        "outer_loop": _LOOPS,
        "inner_loop": [Interval(Integral, 0, None, closed="left"), None],
    }

    def __init__(self, distance="layerwise", outer_loop=None, inner_loop=None):
        self.distance = distance
        self.outer_loop = outer_loop
        self.inner_loop = inner_loop

    def method_options(self):
        """``distance``, ``outer_loop`` and ``inner_loop``."""
        return {
            "distance": self.distance,
            "outer_loop": self.outer_loop,
            "inner_loop": self.inner_loop,
        }


class CAFE(MethodSpec):
    """Feature alignment (CAFE): layer-wise mean features plus a discrimination loss.

    Builds :class:`~skdistill.methods.FeatureAlignment`.

    Parameters
    ----------
    outer_loop, inner_loop : int or None, default=None
        Matching steps per iteration, and epochs of network training on the synthetic set
        between two of them; ``None`` takes the DC schedule for the distiller's ``ipc``.
    layer_weights : sequence of float or None, default=None
        Weight of every aligned layer, the embedding last; ``None``: 1 per block and 2 for
        the embedding (the reference matches it twice).
    discrimination_weight : float, default=0.01
        Weight of the discrimination loss (the reference's ``inner_weight``).
    stop_tolerance : float or None, default=0.05
        Early stop of an iteration once the network's accuracy on real data moves less than
        this over a window of 10 steps; None never stops early.
    """

    name = "cafe"
    method_class = FeatureAlignment
    _parameter_constraints = {
        "outer_loop": _LOOPS,
        "inner_loop": [Interval(Integral, 0, None, closed="left"), None],
        "layer_weights": ["array-like", None],
        "discrimination_weight": [Interval(Real, 0, None, closed="left")],
        "stop_tolerance": [Interval(Real, 0, None, closed="left"), None],
    }

    def __init__(
        self,
        outer_loop=None,
        inner_loop=None,
        layer_weights=None,
        discrimination_weight=DISCRIMINATION_WEIGHT,
        stop_tolerance=STOP_TOLERANCE,
    ):
        self.outer_loop = outer_loop
        self.inner_loop = inner_loop
        self.layer_weights = layer_weights
        self.discrimination_weight = discrimination_weight
        self.stop_tolerance = stop_tolerance

    def method_options(self):
        """Every parameter: each has the name of the method's keyword."""
        return self.get_params()


class IDC(MethodSpec):
    """Gradient matching with multi-formation synthetic images (IDC). Images only.

    Builds :class:`~skdistill.methods.InformationIntensiveMatching`, whose docstring lists
    the official values and what differs from them.

    Parameters
    ----------
    distance : {"mse", "l1"}, default="mse"
        Distance between the convolution-weight gradients.
    outer_loop, inner_loop : int or None, default=None
        Matching steps per iteration (official: 100) and batches of 64 real samples the
        network trains on between two of them (official: ``ceil(n_data / 64)``).
    factor : int, default=2
        Multi-formation factor: each stored image holds ``factor**2`` images; image sides
        must be divisible by it.
    fix_iter : int, default=1
        Iterations between two fresh networks.
    lr_img : float, default=5e-3
        Image learning rate at IPC 10, in units of the input's value range; the distiller's
        default ``lr`` is ``lr_img * ipc / 10``.
    n_data : int, default=2000
        Real samples the network trains on after a matching step.
    mix_p : float, default=0.5
        Probability of CutMix in a network-training batch.
    batch_syn_max : int or None, default=128
        Decoded synthetic images per class matched at most (None: all).
    """

    name = "idc"
    method_class = InformationIntensiveMatching
    _parameter_constraints = {
        "distance": [StrOptions(set(InformationIntensiveMatching.distances))],
        "outer_loop": _LOOPS,
        "inner_loop": [Interval(Integral, 0, None, closed="left"), None],
        "factor": [Interval(Integral, 1, None, closed="left")],
        "fix_iter": [Interval(Integral, 1, None, closed="left")],
        "lr_img": [Interval(Real, 0, None, closed="neither")],
        "n_data": [Interval(Integral, 1, None, closed="left")],
        "mix_p": [Interval(Real, 0, 1, closed="both")],
        "batch_syn_max": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        distance="mse",
        outer_loop=None,
        inner_loop=None,
        factor=2,
        fix_iter=1,
        lr_img=LR_IMG,
        n_data=N_DATA,
        mix_p=MIX_P,
        batch_syn_max=BATCH_SYN_MAX,
    ):
        self.distance = distance
        self.outer_loop = outer_loop
        self.inner_loop = inner_loop
        self.factor = factor
        self.fix_iter = fix_iter
        self.lr_img = lr_img
        self.n_data = n_data
        self.mix_p = mix_p
        self.batch_syn_max = batch_syn_max

    def check_data(self, sample_shape):
        """Images whose sides ``factor`` divides."""
        check_factor(sample_shape, self.factor)

    def method_options(self):
        """Every parameter, under the method's keyword of the same name."""
        return self.get_params()


_POSITIVE_INT = [Interval(Integral, 1, None, closed="left")]


class MTT(MethodSpec):
    """Trajectory matching (MTT, Cazenavette et al., 2022), with COBRA-MTT and FairDD-MTT.

    Builds :class:`~skdistill.methods.TrajectoryMatching`, whose docstring says what is
    matched. The defaults are the reference's (``mtt-distillation``: its CIFAR-10 IPC 10
    trajectory lengths, ``distill.py``'s learning rates and ``buffer.py``'s expert training);
    the departures below are options, never defaults.

    Parameters
    ----------
    syn_steps : int, default=30
        Student steps on the synthetic set per iteration (N).
    expert_epochs : int, default=2
        Expert epochs between the start and the target point (M).
    max_start_epoch : int, default=20
        Start epochs are drawn in ``[0, max_start_epoch)``.
    lr_init : float, default=0.01
        Initial learnable student step size (MTT's ``lr_teacher``). Per-group experts on
        many small groups may need a smaller value (see the user guide).
    lr_lr : float, default=1e-5
        Learning rate of the step size.
    batch_syn : int or None, default=None
        Synthetic samples per student step; all of them when None.
    expert_dir : str, path or None, default=None
        Folder of expert buffers (:func:`~skdistill.methods.train_experts`, or written by an
        earlier fit). Buffers of other data, another network or too short for
        ``max_start_epoch + expert_epochs`` are refused; a folder holding none of the
        buffers the target needs gets them trained by the fit and saved there. When None,
        the fit trains its experts into a temporary folder and removes it.
    n_experts : int, default=10
        Experts per buffer when the fit trains them.
    expert_lr : float, default=0.01
        SGD learning rate of the experts (no momentum, no weight decay).
    expert_batch_size : int, default=256
        Batch size of the experts.
    expert_epoch_length : {"buffer", "all"} or int, default="buffer"
        What an expert epoch is: one pass over the buffer's own data (the reference's, and
        the COBRA paper's for per-group buffers), as many samples as all the data holds
        (``"all"``: every group's expert takes as many SGD steps per epoch as one on all the
        data; a departure, for many small groups), or that many SGD steps.
    unroll : {"recompute", "full"}, default="recompute"
        How the student steps are differentiated: ``"full"`` keeps every step's graph (the
        reference; memory grows with ``syn_steps``), ``"recompute"`` the same gradient with
        the memory of one step.

    Examples
    --------
    >>> from skdistill import BarycentricDistiller
    >>> from skdistill.methods import MTT
    >>> d = BarycentricDistiller(method=MTT(syn_steps=10, expert_dir="experts"))
    >>> d.get_params()["method__syn_steps"]
    10
    """

    name = "mtt"
    method_class = TrajectoryMatching
    _parameter_constraints = {
        "syn_steps": _POSITIVE_INT,
        "expert_epochs": _POSITIVE_INT,
        "max_start_epoch": _POSITIVE_INT,
        "lr_init": [Interval(Real, 0, None, closed="neither")],
        "lr_lr": [Interval(Real, 0, None, closed="left")],
        "batch_syn": [Interval(Integral, 1, None, closed="left"), None],
        "expert_dir": [str, os.PathLike, None],
        "n_experts": _POSITIVE_INT,
        "expert_lr": [Interval(Real, 0, None, closed="neither")],
        "expert_batch_size": _POSITIVE_INT,
        "expert_epoch_length": [StrOptions(set(EPOCH_LENGTHS)), *_POSITIVE_INT],
        "unroll": [StrOptions(set(UNROLLS))],
    }

    def __init__(
        self,
        syn_steps=SYN_STEPS,
        expert_epochs=EXPERT_EPOCHS,
        max_start_epoch=MAX_START_EPOCH,
        lr_init=LR_INIT,
        lr_lr=LR_LR,
        batch_syn=None,
        expert_dir=None,
        n_experts=N_EXPERTS,
        expert_lr=EXPERT_LR,
        expert_batch_size=EXPERT_BATCH_SIZE,
        expert_epoch_length="buffer",
        unroll="recompute",
    ):
        self.syn_steps = syn_steps
        self.expert_epochs = expert_epochs
        self.max_start_epoch = max_start_epoch
        self.lr_init = lr_init
        self.lr_lr = lr_lr
        self.batch_syn = batch_syn
        self.expert_dir = expert_dir
        self.n_experts = n_experts
        self.expert_lr = expert_lr
        self.expert_batch_size = expert_batch_size
        self.expert_epoch_length = expert_epoch_length
        self.unroll = unroll

    def check_settings(self, *, net_norm, sample_weight):
        """No batch norm, no sample weights (see :func:`skdistill.methods.mtt.check_settings`)."""
        check_settings(net_norm, sample_weight)

    def method_options(self):
        """Every parameter, under the method's keyword of the same name."""
        return self.get_params()


class RegisteredMethod(MethodSpec):
    """A method of the registry that has no spec of its own, built with given options.

    What a method name stands for until its module adds a :class:`MethodSpec`: the
    distiller's method options (``distance``, ``outer_loop``, ...) go to the method as they
    are.

    Parameters
    ----------
    key : str
        The method's name in :data:`skdistill.methods.METHODS`.
    options : dict or None
        Keywords of the method.
    """

    def __init__(self, key="dm", options=None):
        self.key = key
        self.options = options

    @property
    def name(self):
        """The registry key."""
        return self.key

    @property
    def method_class(self):
        """The registered method class."""
        from . import METHODS

        return METHODS[self.key]

    def method_options(self):
        """The options as given."""
        return dict(self.options or {})
