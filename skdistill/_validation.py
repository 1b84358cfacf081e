"""One validation pass for a fit: every parameter, cross-parameter and data check, before any work.

:func:`validate` runs them all, in one place, before the data are standardised or a missing
group imputed, and resolves the method and the target; it never changes the estimator, so a
fit that fails validation leaves a fitted distiller exactly as it was. What it returns, a
:class:`FitPlan`, is everything the engine is built from.
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from ._data import (
    MSG_Y_REQUIRED,
    DatasetSamples,
    check_lengths,
    encode_groups,
    encode_labels,
    fit_codec,
    read_dataset,
    recode,
    scalar,
)
from ._engine import FitData
from ._persistence import read_checkpoint
from .callbacks import check_callbacks
from .methods import METHODS
from .methods.augment import make_augment
from .methods.idc import check_factor
from .nn import min_image_size
from .targets import PLAN_KINDS, TARGETS, CobraTarget

MSG_ONE_CLASS = "y has only one class ({cls!r}); distillation needs at least two classes."
MSG_SMALL_CLASS = (
    "class {cls!r} has {n} sample(s) but ipc={ipc} synthetic samples per class were requested. "
    "Lower ipc to at most {limit}, drop or merge this class, or collect more samples of it."
)
MSG_TINY_CLASS = (
    "class {cls!r} has a single sample; distilling a class needs at least 2. Drop or merge "
    "this class, or collect more samples of it."
)
MSG_SMALL_IMAGE = (
    "images of size {h}x{w} are too small for a ConvNet of net_depth={depth}, which halves "
    "the size {depth} times; pass images of at least {m}x{m} or lower net_depth."
)
MSG_CHECKPOINT_MISMATCH = (
    "the checkpoint in checkpoint_dir={dir!r} was written for other {what}; pass the same data "
    "and parameters to resume it, or delete it (or pass resume=False) to start afresh."
)
MSG_CHECKPOINT_LONGER = (
    "the checkpoint holds {done} iterations, more than n_iter={n_iter}; raise n_iter to "
    "continue it."
)
MSG_NO_CHECKPOINT = "resume=True but checkpoint_dir={dir!r} holds no checkpoint; starting afresh."
MSG_INIT_REAL = (
    "init='real' is deprecated and will be removed: it is the group-balanced start, now called "
    "init='balanced'. The references start from random real samples of the class: "
    "init='random_real', the default."
)
MSG_RESUME_WITHOUT_DIR = "resume=True needs checkpoint_dir, the folder of the checkpoint to resume."
MSG_BARYCENTER_TARGET = (
    "{param} applies to target='cobra' only (target={target!r}); leave it at its default or "
    "use target='cobra'."
)
MSG_BARYCENTER_WEIGHTS = (
    "barycenter_weights must give one non-negative weight per group {groups}, as a dict "
    "{{group: weight}} or a sequence in that order, with a positive sum; got {got!r}."
)
MSG_METHOD_OPTION = (
    "{param}={value!r} does not apply to method={method!r}; leave it at None, or use a method "
    "that takes it ({methods})."
)
MSG_DISTANCE = "distance={distance!r} is not one of {distances} for method={method!r}."
MSG_TARGET_METHOD = (
    "target={target!r} matches {what}, which method={method!r} does not compute; use a "
    "method that takes it ({methods}), or a target that method={method!r} takes ({targets})."
)
MSG_IMAGES_ONLY = "{what} needs images, but X is tabular; leave it unset for tabular data."
MSG_SAMPLE_WEIGHT = (
    "sample_weight must hold one finite, non-negative number per sample; {problem}. Pass an "
    "array of shape (n_samples,), e.g. skdistill.groups.density_weights(X, y)."
)
MSG_PARTIAL_PARAMS = (
    "partial_fit continues the fit made with other parameters ({params}); set them back, or "
    "call fit to start afresh with the new ones."
)
MSG_PARTIAL_DATA = (
    "partial_fit continues a fit on {what}; pass data like the first fit's, or call fit to "
    "start afresh on these."
)

#: Parameters that do not change what a fit computes: they may differ between a checkpoint
#: (or a first fit) and the run that continues it.
FREE_PARAMS = frozenset(
    {
        "n_iter",
        "verbose",
        "device",
        "checkpoint_dir",
        "checkpoint_every",
        "n_threads",
        "callbacks",
        "log_every",
    }
)
#: Options of the methods, given on the estimator (each method takes some of them).
METHOD_OPTIONS = (
    "net_norm",
    "distance",
    "augment",
    "outer_loop",
    "inner_loop",
    "factor",
    "net_warmup_epochs",
)


@dataclass
class FitPlan:
    """What a validated fit is built from.

    ``make_method(n_classes)`` builds the method (its options already checked); ``state`` is
    the engine state to continue from (a checkpoint, or the previous fit for
    ``partial_fit``), ``n_iter`` the iteration count the run stops at.
    """

    data: FitData
    target: object
    make_method: Callable
    device: torch.device
    n_iter: int
    callbacks: list
    state: dict | None = None


def validate(estimator, X, y, sensitive_features, sample_weight, *, resume=False, more=None):
    """Check everything a fit of ``estimator`` needs; return its :class:`FitPlan`.

    ``more``: the iterations ``partial_fit`` adds (None for ``fit``). Raises before any
    encoding, imputation or change to ``estimator``.
    """
    from ._distiller import resolve_device  # the estimator's module imports this one

    _check_parameters(estimator, resume)
    state = getattr(estimator, "_engine_state", None) if more is not None else None
    if state is not None:
        _check_unchanged(estimator, state["params"])
    data = _checked_data(estimator, X, y, sensitive_features, sample_weight)
    if state is not None:
        data = _continued_data(estimator, data)
    device = resolve_device(estimator.device)
    make_method = _method_factory(estimator, data.codec, device)
    target = _target(estimator, data.groups)
    if more is None:
        n_iter = estimator.n_iter
        state = _checkpoint_state(estimator, n_iter) if resume else None
    else:
        n_iter = more + (0 if state is None else len(state["history"]["loss"]))
    callbacks = check_callbacks(estimator.callbacks)
    return FitPlan(data, target, make_method, device, n_iter, callbacks, state)


# ---------------------------------------------------------------------------- parameters
def _check_parameters(estimator, resume):
    """Cross-parameter checks that need no data."""
    if resume and estimator.checkpoint_dir is None:
        raise ValueError(MSG_RESUME_WITHOUT_DIR)
    method, target = estimator.method, estimator.target
    kind, takes = TARGETS[target].plan_kind, METHODS[method].plan_kinds
    if kind not in takes:
        raise ValueError(
            MSG_TARGET_METHOD.format(
                target=target,
                what=PLAN_KINDS[kind],
                method=method,
                methods=", ".join(sorted(m for m, c in METHODS.items() if kind in c.plan_kinds)),
                targets=", ".join(sorted(t for t, c in TARGETS.items() if c.plan_kind in takes)),
            )
        )
    for name, value in _method_options(estimator).items():
        if name not in METHODS[method].options:
            takers = sorted(m for m, c in METHODS.items() if name in c.options)
            raise ValueError(
                MSG_METHOD_OPTION.format(
                    param=name, value=value, method=method, methods=", ".join(takers)
                )
            )
    distance, distances = estimator.distance, METHODS[method].distances
    if distance is not None and distance not in distances:
        raise ValueError(
            MSG_DISTANCE.format(distance=distance, distances=list(distances), method=method)
        )
    if target != "cobra":
        for param, default in (("barycenter", "mean"), ("barycenter_weights", None)):
            if getattr(estimator, param) != default:
                raise ValueError(MSG_BARYCENTER_TARGET.format(param=param, target=target))
    check_callbacks(estimator.callbacks)
    if estimator.init == "real":
        warnings.warn(MSG_INIT_REAL, FutureWarning, stacklevel=5)


def _method_options(estimator):
    """The method options given (not None); ``augment="auto"`` is not an option given."""
    options = {name: getattr(estimator, name) for name in METHOD_OPTIONS}
    if options["augment"] == "auto":
        options["augment"] = None
    return {name: value for name, value in options.items() if value is not None}


def run_params(estimator):
    """The parameters a run depends on (all but :data:`FREE_PARAMS`), as text."""
    params = estimator.get_params(deep=False)
    return {k: repr(v) for k, v in params.items() if k not in FREE_PARAMS}


def changed_params(estimator, recorded):
    """Names of the parameters that differ from ``recorded`` (:func:`run_params` of a run).

    A parameter the record lacks (added by a later version) counts as its default.
    """
    defaults = {
        name: repr(p.default)
        for name, p in inspect.signature(type(estimator).__init__).parameters.items()
    }
    now = run_params(estimator)
    return sorted(k for k, v in now.items() if recorded.get(k, defaults.get(k)) != v)


def _check_unchanged(estimator, recorded):
    changed = changed_params(estimator, recorded)
    if changed:
        raise ValueError(MSG_PARTIAL_PARAMS.format(params=", ".join(changed)))


def _checkpoint_state(estimator, n_iter):
    """The checkpoint to resume, its parameters and length checked (its data: after encoding)."""
    folder = estimator.checkpoint_dir
    state = read_checkpoint(folder)
    if state is None:
        warnings.warn(MSG_NO_CHECKPOINT.format(dir=str(folder)), RuntimeWarning, stacklevel=5)
        return None
    changed = changed_params(estimator, state["fingerprint"]["params"])
    if changed:
        what = f"parameters ({', '.join(changed)})"
        raise ValueError(MSG_CHECKPOINT_MISMATCH.format(dir=str(folder), what=what))
    done = len(state["history"]["loss"])
    if done > n_iter:
        raise ValueError(MSG_CHECKPOINT_LONGER.format(done=done, n_iter=n_iter))
    return state


def check_data_fingerprint(estimator, state, fingerprint):
    """Refuse a checkpoint of other data (its fingerprint needs the encoded data)."""
    if state is not None and "fingerprint" in state:
        if state["fingerprint"]["data"] != fingerprint["data"]:
            raise ValueError(
                MSG_CHECKPOINT_MISMATCH.format(dir=str(estimator.checkpoint_dir), what="data")
            )


# ---------------------------------------------------------------------------- data
def _checked_data(estimator, X, y, sensitive_features, sample_weight):
    """Read and check the inputs; nothing is standardised yet."""
    if isinstance(X, Dataset):
        X, y, sensitive_features, codec = read_dataset(X, y, sensitive_features)
        check_lengths(X=X, y=y, sensitive_features=sensitive_features)
    else:
        if y is None:
            raise ValueError(MSG_Y_REQUIRED)
        check_lengths(X=X, y=y, sensitive_features=sensitive_features)
        codec = fit_codec(X)
    _check_sample_shape(estimator, codec)
    classes, y_codes = encode_labels(y)
    _check_classes(classes, y_codes, estimator.ipc)
    groups, g_codes = encode_groups(
        sensitive_features, y_codes.shape[0], allow_missing=estimator.missing_groups == "impute"
    )
    if sample_weight is not None:
        sample_weight = _checked_weights(sample_weight, y_codes, classes)
    return FitData(X, y, codec, classes, y_codes, groups, g_codes, sample_weight)


def _check_sample_shape(estimator, codec):
    """Image size against the network depth; options that need images."""
    if codec.kind != "image":
        for what in ("augment", "net_norm"):
            if _method_options(estimator).get(what) is not None:
                raise ValueError(MSG_IMAGES_ONLY.format(what=what))
        if estimator.method == "idc":
            raise ValueError(MSG_IMAGES_ONLY.format(what="method='idc'"))
        return
    depth = estimator.net_depth or 3
    h, w = codec.sample_shape[1:]
    if min(h, w) < min_image_size(depth):
        raise ValueError(MSG_SMALL_IMAGE.format(h=h, w=w, depth=depth, m=min_image_size(depth)))
    if estimator.method == "idc":
        check_factor(codec.sample_shape, estimator.factor)


def _check_classes(classes, y_codes, ipc):
    if classes.shape[0] < 2:
        raise ValueError(MSG_ONE_CLASS.format(cls=scalar(classes[0])))
    class_sizes = np.bincount(y_codes, minlength=classes.shape[0])
    for cls, size in zip(classes, class_sizes):
        if size < 2:
            raise ValueError(MSG_TINY_CLASS.format(cls=scalar(cls)))
        if size < ipc:
            limit = int(class_sizes.min())
            raise ValueError(MSG_SMALL_CLASS.format(cls=scalar(cls), n=size, ipc=ipc, limit=limit))


def _checked_weights(sample_weight, y_codes, classes):
    """``sample_weight`` as a float64 array, refusing what cannot weigh a class's rows."""
    try:
        weights = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(MSG_SAMPLE_WEIGHT.format(problem="it is not numeric")) from None
    if weights.shape != y_codes.shape:
        problem = f"got shape {weights.shape} for {y_codes.shape[0]} samples"
        raise ValueError(MSG_SAMPLE_WEIGHT.format(problem=problem))
    if not np.isfinite(weights).all() or (weights < 0).any():
        raise ValueError(MSG_SAMPLE_WEIGHT.format(problem="it holds negative or non-finite values"))
    totals = np.bincount(y_codes, weights=weights, minlength=classes.shape[0])
    if (totals <= 0).any():
        empty = [scalar(c) for c in classes[totals <= 0]]
        problem = f"the weights of class(es) {empty} are all zero"
        raise ValueError(MSG_SAMPLE_WEIGHT.format(problem=problem))
    return weights


def _continued_data(estimator, data):
    """``data`` encoded as the first fit's: its standardisation, classes and groups."""
    codec = estimator._codec
    if data.codec.kind != codec.kind or data.codec.sample_shape != codec.sample_shape:
        raise ValueError(MSG_PARTIAL_DATA.format(what=f"samples of shape {codec.sample_shape}"))
    y_codes = recode(data.classes, data.y_codes, estimator.classes_, "classes", every=True)
    g_codes = recode(data.groups, data.g_codes, estimator.groups_, "groups")
    X = data.X
    if isinstance(X, DatasetSamples):
        X = DatasetSamples(X.dataset, codec, X.stats_index)
    return dataclasses.replace(
        data,
        X=X,
        codec=codec,
        classes=estimator.classes_,
        y_codes=y_codes,
        groups=estimator.groups_,
        g_codes=g_codes,
    )


# ---------------------------------------------------------------------------- components
def _target(estimator, groups):
    """The target object, COBRA's options checked against the groups."""
    if estimator.target != "cobra":
        return TARGETS[estimator.target]()
    return CobraTarget(
        barycenter=estimator.barycenter,
        weights=_group_weights(estimator.barycenter_weights, groups),
        delta=estimator.huber_delta,
    )


def _group_weights(weights, groups):
    if weights is None:
        return None
    names = [scalar(g) for g in groups]
    if isinstance(weights, dict):
        unknown = set(weights) - set(names)
        if unknown or len(weights) != len(names):
            raise ValueError(MSG_BARYCENTER_WEIGHTS.format(groups=names, got=weights))
        weights = [weights[g] for g in names]
    try:
        arr = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(MSG_BARYCENTER_WEIGHTS.format(groups=names, got=weights)) from exc
    if arr.shape != (len(names),) or (arr < 0).any() or arr.sum() <= 0:
        raise ValueError(MSG_BARYCENTER_WEIGHTS.format(groups=names, got=weights))
    return arr


def _method_factory(estimator, codec, device):
    """``make(n_classes)``: the method, built with the estimator's (checked) options."""
    cls = METHODS[estimator.method]
    options = _method_options(estimator)
    augment = estimator.augment
    if augment == "auto":  # the method's reference augmentation, on images only
        augment = cls.default_augment if codec.kind == "image" else None
    if augment is not None:
        options["augment"] = make_augment(augment, codec.sample_shape[0])
    context = {"ipc": estimator.ipc, "bounds": _bounds(codec, device)}
    context = {k: v for k, v in context.items() if k in cls.options}

    def make(n_classes):
        return cls(
            codec.sample_shape,
            n_classes,
            net_width=estimator.net_width,
            net_depth=estimator.net_depth,
            device=device,
            **context,
            **options,
        )

    return make


def _bounds(codec, device):
    """``(low, high)`` of the input's value range in internal units, shaped ``(1, C, 1, 1)``."""
    if codec.kind != "image":
        return None
    low, high = codec.value_range
    if codec.dtype == np.uint8:
        low, high = low / 255.0, high / 255.0
    lo = (low - codec.mean) / codec.scale
    hi = (high - codec.mean) / codec.scale
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float32, device=device).reshape(1, -1, 1, 1)  # noqa: E731
    return as_t(lo), as_t(hi)
