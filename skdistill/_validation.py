"""One validation pass for a fit: every parameter, cross-parameter and data check, before any work.

:func:`validate` runs them all, in one place, before the data are standardised or a missing
group imputed, and resolves the method and the target; it never changes the estimator, so a
fit that fails validation leaves a fitted distiller exactly as it was. What it returns, a
:class:`FitPlan`, is everything the engine is built from.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import clone
from sklearn.utils._param_validation import Interval, Options, StrOptions
from torch.utils.data import Dataset

from ._data import (
    MSG_Y_REQUIRED,
    LazySamples,
    check_lengths,
    encode_groups,
    encode_labels,
    fit_codec,
    read_dataset,
    read_lazy,
    recode,
    scalar,
)
from ._device import resolve_device
from ._engine import FitData
from ._persistence import read_checkpoint
from .callbacks import check_callbacks
from .methods import METHOD_SPECS, METHODS, BuildContext, MethodSpec, RegisteredMethod
from .methods.augment import DSA, make_augment
from .nn import NORMS, min_image_size
from .targets import BARYCENTERS, PLAN_KINDS, TARGETS, Target

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
MSG_DEPRECATED_OPTION = (
    "{param}={value!r} is deprecated and will be removed in skdistill 0.3: pass "
    "{component}={cls}({name}={value!r}) instead."
)
MSG_GIVEN_TWICE = (
    "{param}={value!r} is given beside {component}={given!r}; set {name} in the "
    "{component} object only ({param} is a deprecated alias of it)."
)
MSG_METHOD_OPTION = (
    "{param}={value!r} does not apply to method={method!r}; leave it at None, or use a method "
    "that takes it ({methods})."
)
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

#: ``autocast`` values and the dtype of :func:`torch.autocast` they stand for.
AUTOCAST = {None: None, "bf16": torch.bfloat16}

#: The distiller's parameters and what each accepts (scikit-learn's constraints, checked by
#: ``fit`` before :func:`validate` runs the checks that involve several of them or the data).
PARAMETER_CONSTRAINTS = {
    # live views of the registries: a method or target registered later is accepted too
    "method": [StrOptions(METHODS.keys()), MethodSpec],
    "target": [StrOptions(TARGETS.keys()), Target],
    "ipc": [Interval(Integral, 1, None, closed="left")],
    "n_iter": [Interval(Integral, 1, None, closed="left")],
    "batch_real": [Interval(Integral, 1, None, closed="left")],
    "lr": [Interval(Real, 0, None, closed="neither"), None],
    "init": [StrOptions({"random_real", "balanced", "noise", "real"}, deprecated={"real"})],
    "net_width": [Interval(Integral, 1, None, closed="left"), None],
    "net_depth": [Interval(Integral, 1, None, closed="left"), None],
    "net_norm": [StrOptions(set(NORMS)), None],
    "augment": [StrOptions({"auto", "dsa"}), DSA, None],
    "device": [str, torch.device],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "missing_groups": [StrOptions({"error", "impute"})],
    "n_impute_clusters": [Interval(Integral, 1, None, closed="left"), None],
    "checkpoint_dir": [str, os.PathLike, None],
    "checkpoint_every": [Interval(Integral, 1, None, closed="left")],
    "n_threads": [Interval(Integral, 1, None, closed="left"), Options(Integral, {-1}), None],
    "callbacks": [list, None],
    "log_every": [Interval(Integral, 1, None, closed="left")],
    "autocast": [StrOptions(set(AUTOCAST) - {None}), None],
    "distance": [str, None],
    "outer_loop": [Interval(Integral, 1, None, closed="left"), None],
    "inner_loop": [Interval(Integral, 0, None, closed="left"), None],
    "factor": [Interval(Integral, 1, None, closed="left"), None],
    "net_warmup_epochs": [Interval(Integral, 0, None, closed="left"), None],
    "barycenter": [StrOptions(set(BARYCENTERS))],
    "barycenter_weights": [dict, "array-like", None],
    "huber_delta": [Interval(Real, 0, None, closed="neither")],
}

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
#: Deprecated estimator options, and the parameter of the method spec each stands for.
METHOD_ALIASES = {
    "distance": "distance",
    "outer_loop": "outer_loop",
    "inner_loop": "inner_loop",
    "factor": "factor",
    "net_warmup_epochs": "warmup_epochs",
}
#: Deprecated estimator options, the :class:`~skdistill.targets.CobraTarget` parameter each
#: stands for, and their defaults (an option at its default is not given).
TARGET_ALIASES = {
    "barycenter": ("barycenter", "mean"),
    "barycenter_weights": ("weights", None),
    "huber_delta": ("delta", 1.0),
}


@dataclass
class FitPlan:
    """What a validated fit is built from.

    ``make_method(n_classes)`` builds the method (its options already checked); ``state`` is
    the engine state to continue from (a checkpoint, or the previous fit for
    ``partial_fit``), ``n_iter`` the iteration count the run stops at; ``settings`` the
    keywords of :func:`skdistill._engine.build_engine`.
    """

    data: FitData
    target: object
    make_method: Callable
    device: torch.device
    n_iter: int
    callbacks: list
    state: dict | None = None
    settings: dict = field(default_factory=dict)


def validate(estimator, X, y, sensitive_features, sample_weight, *, resume=False, more=None):
    """Check everything a fit of ``estimator`` needs; return its :class:`FitPlan`.

    ``more``: the iterations ``partial_fit`` adds (None for ``fit``). Raises before any
    encoding, imputation or change to ``estimator``.
    """
    spec, target, callbacks = _check_parameters(estimator, resume)
    spec.check_settings(net_norm=estimator.net_norm, sample_weight=sample_weight)
    state = getattr(estimator, "_engine_state", None) if more is not None else None
    if state is not None:
        _check_unchanged(estimator, state["params"])
    data = _checked_data(estimator, spec, X, y, sensitive_features, sample_weight)
    if state is not None:
        data = _continued_data(estimator, data)
    device = resolve_device(estimator.device)
    make_method = _method_factory(estimator, spec, data.codec, device)
    target = target.resolve(data.groups)
    if more is None:
        n_iter = estimator.n_iter
        state = _checkpoint_state(estimator, n_iter) if resume else None
    else:
        n_iter = more + (0 if state is None else len(state["history"]["loss"]))
    return FitPlan(
        data, target, make_method, device, n_iter, callbacks, state, _settings(estimator)
    )


def _settings(estimator):
    """The estimator's keywords of :func:`skdistill._engine.build_engine`."""
    names = ("ipc", "batch_real", "lr", "init", "random_state", "n_impute_clusters", "log_every")
    names += ("verbose",)
    settings = {name: getattr(estimator, name) for name in names}
    return dict(settings, autocast=AUTOCAST[estimator.autocast])


# ---------------------------------------------------------------------------- parameters
def _check_parameters(estimator, resume):
    """Checks that need no data; returns the method spec, the target and the callbacks."""
    if resume and estimator.checkpoint_dir is None:
        raise ValueError(MSG_RESUME_WITHOUT_DIR)
    spec, target = method_spec(estimator), target_object(estimator)
    takes = spec.method_class.plan_kinds
    if not target.plan_kinds() & takes:
        kind = target.plan_kind
        raise ValueError(
            MSG_TARGET_METHOD.format(
                target=target.name,
                what=PLAN_KINDS[kind],
                method=spec.name,
                methods=", ".join(sorted(m for m, c in METHODS.items() if kind in c.plan_kinds)),
                targets=", ".join(sorted(t for t in TARGETS if serves(spec.method_class, t))),
            )
        )
    if estimator.net_norm is not None and "net_norm" not in spec.method_class.options:
        _refuse_option("net_norm", estimator.net_norm, spec.name)
    callbacks = check_callbacks(estimator.callbacks)
    if estimator.init == "real":
        warnings.warn(MSG_INIT_REAL, FutureWarning, stacklevel=5)
    return spec, target, callbacks


def serves(method_class, target) -> bool:
    """Whether a method (class) computes what target ``target`` (a registry name) matches."""
    return bool(TARGETS[target].plan_kinds() & method_class.plan_kinds)


def _refuse_option(param, value, method):
    takers = sorted(m for m, c in METHODS.items() if param in c.options or param in _spec_params(m))
    raise ValueError(
        MSG_METHOD_OPTION.format(param=param, value=value, method=method, methods=", ".join(takers))
    )


def _spec_params(name):
    return METHOD_SPECS[name]().get_params() if name in METHOD_SPECS else {}


def method_spec(estimator):
    """The checked method spec of a fit.

    A :class:`~skdistill.methods.MethodSpec` passed as ``method`` (a copy of it), or the
    registry's spec of a method name, with the deprecated method options of the estimator.
    """
    method = estimator.method
    given = {a: getattr(estimator, a) for a in METHOD_ALIASES if getattr(estimator, a) is not None}
    if isinstance(method, MethodSpec):
        _refuse_aliases(given, "method", method, METHOD_ALIASES)
        spec = clone(method)
    elif method not in METHOD_SPECS:  # a registered method without a spec of its own
        spec = RegisteredMethod(method, given)
        for param, value in given.items():
            if param not in spec.method_class.options:
                _refuse_option(param, value, method)
    else:
        cls = METHOD_SPECS[method]
        for param, value in given.items():
            name = METHOD_ALIASES[param]
            if name not in _spec_params(method):
                _refuse_option(param, value, method)
            _warn_alias(param, value, "method", cls, name)
        spec = cls(**{METHOD_ALIASES[p]: v for p, v in given.items()})
    spec._validate_params()
    return spec


def target_object(estimator):
    """The checked target of a fit (before its groups are known).

    A :class:`~skdistill.targets.Target` passed as ``target`` (a copy of it), or the
    registry's target of a name, with the deprecated COBRA options of the estimator.
    """
    target = estimator.target
    given = {
        param: getattr(estimator, param)
        for param, (_, default) in TARGET_ALIASES.items()
        if not _is_default(getattr(estimator, param), default)
    }
    names = {param: name for param, (name, _) in TARGET_ALIASES.items()}
    if isinstance(target, Target):
        _refuse_aliases(given, "target", target, names)
        target = clone(target)
    else:
        if given and target != "cobra":
            raise ValueError(MSG_BARYCENTER_TARGET.format(param=next(iter(given)), target=target))
        for param, value in given.items():
            _warn_alias(param, value, "target", TARGETS[target], names[param])
        target = TARGETS[target](**{names[p]: v for p, v in given.items()})
    target._validate_params()
    return target


def _is_default(value, default):
    return value is default or (isinstance(value, (str, float, int)) and value == default)


def _refuse_aliases(given, component, obj, names):
    for param, value in given.items():
        raise ValueError(
            MSG_GIVEN_TWICE.format(
                param=param, value=value, component=component, given=obj, name=names[param]
            )
        )


def _warn_alias(param, value, component, cls, name):
    warnings.warn(
        MSG_DEPRECATED_OPTION.format(
            param=param, value=value, component=component, cls=cls.__name__, name=name
        ),
        FutureWarning,
        stacklevel=7,
    )


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
def read_inputs(X, y, sensitive_features):
    """``(X, y, sensitive_features, codec)``: the inputs read and checked, the codec fitted.

    A torch Dataset, a memory map or lazily read samples (shards) are read batch by batch
    (labels and groups from their items or index when not given); nothing is standardised yet.
    """
    if isinstance(X, (Dataset, np.memmap, LazySamples)):
        read = read_dataset if isinstance(X, Dataset) else read_lazy
        X, y, sensitive_features, codec = read(X, y, sensitive_features)
        check_lengths(X=X, y=y, sensitive_features=sensitive_features)
    else:
        if y is None:
            raise ValueError(MSG_Y_REQUIRED)
        check_lengths(X=X, y=y, sensitive_features=sensitive_features)
        codec = fit_codec(X)
    return X, y, sensitive_features, codec


def _checked_data(estimator, spec, X, y, sensitive_features, sample_weight):
    """Read and check the inputs; nothing is standardised yet."""
    X, y, sensitive_features, codec = read_inputs(X, y, sensitive_features)
    _check_sample_shape(estimator, spec, codec)
    classes, y_codes = encode_labels(y)
    _check_classes(classes, y_codes, estimator.ipc)
    groups, g_codes = encode_groups(
        sensitive_features, y_codes.shape[0], allow_missing=estimator.missing_groups == "impute"
    )
    if sample_weight is not None:
        sample_weight = _checked_weights(sample_weight, y_codes, classes)
    return FitData(X, y, codec, classes, y_codes, groups, g_codes, sample_weight)


def _check_sample_shape(estimator, spec, codec):
    """Image size against the network depth; options that need images; the method's checks."""
    if codec.kind != "image":
        for what in ("augment", "net_norm"):
            if getattr(estimator, what) not in (None, "auto"):
                raise ValueError(MSG_IMAGES_ONLY.format(what=what))
    else:
        depth = estimator.net_depth or 3
        h, w = codec.sample_shape[1:]
        if min(h, w) < min_image_size(depth):
            m = min_image_size(depth)
            raise ValueError(MSG_SMALL_IMAGE.format(h=h, w=w, depth=depth, m=m))
    spec.check_data(codec.sample_shape)


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


def _partial_shape_message(got, expected):
    if got.kind == expected.kind == "tabular":  # scikit-learn's wording for a table
        what = f"samples of shape {expected.sample_shape}"
        return (
            f"X has {got.sample_shape[0]} features, but BarycentricDistiller is expecting "
            f"{expected.sample_shape[0]} features as input: " + MSG_PARTIAL_DATA.format(what=what)
        )
    return MSG_PARTIAL_DATA.format(what=f"samples of shape {expected.sample_shape}")


def _continued_data(estimator, data):
    """``data`` encoded as the first fit's: its standardisation, classes and groups."""
    codec = estimator._codec
    if data.codec.kind != codec.kind or data.codec.sample_shape != codec.sample_shape:
        raise ValueError(_partial_shape_message(data.codec, codec))
    y_codes = recode(data.classes, data.y_codes, estimator.classes_, "classes", every=True)
    g_codes = recode(data.groups, data.g_codes, estimator.groups_, "groups")
    X = data.X
    if isinstance(X, LazySamples):
        X = X.with_codec(codec)
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
def _method_factory(estimator, spec, codec, device):
    """``make(n_classes)``: the method of the fit, built from its spec."""
    augment = estimator.augment
    if augment == "auto":  # the method's reference augmentation, on images only
        augment = spec.method_class.default_augment if codec.kind == "image" else None
    context = BuildContext(
        sample_shape=codec.sample_shape,
        n_classes=0,
        ipc=estimator.ipc,
        device=device,
        net_width=estimator.net_width,
        net_depth=estimator.net_depth,
        net_norm=estimator.net_norm,
        augment=make_augment(augment, codec.sample_shape[0]),
        bounds=_bounds(codec, device),
    )
    return lambda n_classes: spec.build(dataclasses.replace(context, n_classes=n_classes))


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
