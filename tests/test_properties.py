import re

import numpy as np
import pandas as pd
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from skdistill import BarycentricDistiller
from skdistill._data import (
    MSG_X_COMPLEX,
    MSG_X_DUPLICATE_COLUMNS,
    MSG_X_EMPTY,
    MSG_X_LAYOUT,
    MSG_X_NONFINITE,
    MSG_X_NONNUMERIC,
    MSG_X_OVERFLOW,
    MSG_X_TORCH_DTYPE,
)
from skdistill._validation import MSG_ONE_CLASS, MSG_SMALL_CLASS, MSG_TINY_CLASS


def as_regex(message):
    """A message constant as a regex: its ``{placeholders}`` match anything."""
    return re.compile(re.sub(r"\\\{.*?\\\}", ".*", re.escape(message)))


# the only errors a well-formed random table may raise: the documented class-size refusals
DOCUMENTED = [as_regex(m) for m in (MSG_ONE_CLASS, MSG_SMALL_CLASS, MSG_TINY_CLASS)]


@st.composite
def datasets(draw):
    n_classes = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, 12), min_size=n_classes, max_size=n_classes))
    n_groups = draw(st.integers(1, 4))
    n_features = draw(st.integers(1, 4))
    n = sum(sizes)
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(["c0", "c1", "c2", "c3"])[:n_classes], sizes)
    groups = rng.integers(0, n_groups, n)
    scale = draw(st.sampled_from([0.0, 1e-3, 1.0, 1e3]))  # 0: constant columns
    X = rng.normal(size=(n, n_features)) * scale
    return X, y, groups


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=datasets(),
    ipc=st.integers(1, 4),
    target=st.sampled_from(["vanilla", "uniform", "fairdd", "cobra"]),
    init=st.sampled_from(["real", "random_real", "noise"]),
    batch_real=st.integers(1, 8),
)
def test_random_tables_fit_or_fail_as_documented(data, ipc, target, init, batch_real):
    X, y, groups = data
    X_before = X.copy()
    d = BarycentricDistiller(
        target=target,
        ipc=ipc,
        init=init,
        batch_real=batch_real,
        n_iter=2,
        net_width=4,
        net_depth=1,
        random_state=0,
    )
    try:
        X_syn, y_syn = d.fit_resample(X, y, sensitive_features=groups)
    except ValueError as exc:
        assert any(p.match(str(exc)) for p in DOCUMENTED), str(exc)
        sizes = np.unique(y, return_counts=True)[1]
        assert len(sizes) < 2 or sizes.min() < max(2, ipc)  # refused only when it must be
        return
    finally:
        np.testing.assert_array_equal(X, X_before)  # the input is never modified
    classes, counts = np.unique(y_syn, return_counts=True)
    assert list(classes) == sorted(set(y)) and (counts == ipc).all()
    assert X_syn.shape == (ipc * len(classes), X.shape[1]) and np.isfinite(X_syn).all()


# ---------------------------------------------------------------------------- images and frames
# Random images (numpy or torch, every layout and dtype) and DataFrames (mixed dtypes, missing
# values, odd column names). A case either fits, giving exactly ``ipc`` samples per class in
# the input's container and layout, or is refused with the documented message of one of its
# defects; the inputs are never modified.

FAST = dict(n_iter=1, net_width=4, net_depth=1, random_state=0)
CLASS_SIZE = [(ValueError, as_regex(m)) for m in (MSG_ONE_CLASS, MSG_SMALL_CLASS, MSG_TINY_CLASS)]


def documented(exc_type, message):
    return [(exc_type, as_regex(message))]


def is_refused_class_sizes(y, ipc):
    sizes = np.unique(y, return_counts=True)[1]
    return len(sizes) < 2 or sizes.min() < max(2, ipc)


@st.composite
def labels(draw, n_max=5):
    """``(y, groups)`` as numpy arrays: 1 to 3 shuffled classes, mostly of 2 to ``n_max``."""
    n_classes = draw(st.sampled_from([1, 2, 2, 2, 3, 3]))  # one class now and then
    sizes = draw(st.lists(st.integers(2, n_max), min_size=n_classes, max_size=n_classes))
    if draw(st.sampled_from([False] * 9 + [True])):
        sizes[0] = 1  # a single-sample class
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    names = draw(st.sampled_from([np.array([3, 0, 7]), np.array(["c0", "c1", "c2"])]))
    y = rng.permutation(np.repeat(names[:n_classes], sizes))
    n_groups = draw(st.integers(1, 3))
    groups = draw(
        st.sampled_from(
            [
                None,
                rng.integers(0, n_groups, len(y)),
                np.array(["a", "b", "c"])[rng.integers(0, n_groups, len(y))],
            ]
        )
    )
    return y, groups


def snapshot(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return obj.copy(deep=True)
    return None if obj is None else np.array(obj, copy=True)


def assert_unchanged(obj, before):
    if isinstance(obj, torch.Tensor):
        assert obj.dtype == before.dtype and obj.shape == before.shape
        torch.testing.assert_close(obj, before, rtol=0, atol=0, equal_nan=True)
    elif isinstance(obj, pd.DataFrame):
        pd.testing.assert_frame_equal(obj, before, check_exact=True)
    elif isinstance(obj, pd.Series):
        pd.testing.assert_series_equal(obj, before, check_exact=True)
    elif obj is not None:
        np.testing.assert_array_equal(obj, before, strict=True)  # NaN equals NaN here


def fit_or_refuse(X, y, groups, params, must, may=()):
    """Fit; a refusal must carry the message of one of the case's defects.

    ``must``: ``(type, regex)`` of the defects that have to be refused; ``may``: of those that
    may be. Returns the synthetic set, or None when the fit was (rightly) refused.
    """
    if is_refused_class_sizes(y, params["ipc"]):
        must = [*must, *CLASS_SIZE]
    before = [snapshot(v) for v in (X, y, groups)]
    try:
        X_syn, y_syn = BarycentricDistiller(**params).fit_resample(X, y, sensitive_features=groups)
    except (ValueError, TypeError) as exc:
        allowed = [*must, *may]
        assert any(isinstance(exc, t) and p.match(str(exc)) for t, p in allowed), repr(exc)
        event("refused: " + re.sub(r"\d+", "N", str(exc)[:30]))
        return None
    finally:
        for value, copy in zip((X, y, groups), before):
            assert_unchanged(value, copy)
    assert not must, f"fitted although it should refuse: {[p.pattern for _, p in must]}"
    event("fitted")
    y_values = y_syn.to_numpy() if isinstance(y_syn, pd.Series) else np.asarray(y_syn)
    y_plain = y.to_numpy() if isinstance(y, pd.Series) else np.asarray(y)
    classes, counts = np.unique(y_values, return_counts=True)
    np.testing.assert_array_equal(classes, np.unique(y_plain))
    assert (counts == params["ipc"]).all()
    if isinstance(y, pd.Series):
        assert isinstance(y_syn, pd.Series) and y_syn.name == y.name and y_syn.dtype == y.dtype
    assert len(X_syn) == len(y_syn) == params["ipc"] * len(classes)
    return X_syn


LAYOUTS = ("NCHW", "NHWC", "NHW")
INT_DTYPES = ("uint8", "uint16", "int8", "int16", "int32", "int64")
FLOAT_DTYPES = ("float16", "float32", "float64")
IMAGE_DTYPES = (*INT_DTYPES, "bool", *FLOAT_DTYPES)
#: Value ranges (low, high); "huge" is per dtype, "extreme" (float64 only) overflows squares.
RANGES = {"unit": (0, 1), "byte": (0, 255), "signed": (-1, 1), "negative": (-300, -1)}
HUGE = {"float16": 1e4, "float32": 1e30, "float64": 1e30}  # float16: decoding stays finite
NONFINITE_PLACES = (None, None, None, "pixel", "sample", "channel")  # mostly finite


def _ambiguous(shape):
    return len(shape) == 4 and shape[1] in (1, 3, 4) and shape[3] in (1, 3, 4)


@st.composite
def image_cases(draw):
    """The description of a random image array, built by :func:`make_images`."""
    container = draw(st.sampled_from(["numpy", "torch"]))
    layout = draw(st.sampled_from(LAYOUTS))
    channels = 1 if layout == "NHW" else draw(st.sampled_from([1, 3]))
    sides = st.sampled_from([5, 6, 7, 8, 9, 10, 4])  # 4 (a possible channel count) last
    h, w = draw(sides), draw(sides)
    value_range = draw(st.sampled_from([*RANGES, "huge", "extreme"]))
    if value_range == "extreme":  # only float64 holds values whose squares overflow
        dtype = "float64"
    else:
        dtypes = IMAGE_DTYPES + (("bfloat16",) if container == "torch" else ())
        dtype = draw(st.sampled_from(dtypes))
    is_float = dtype in FLOAT_DTYPES or dtype == "bfloat16"
    constant = draw(st.sampled_from([False, False, False, True]))
    place = draw(st.sampled_from(NONFINITE_PLACES)) if is_float else None
    bad = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    contiguous = draw(st.booleans())
    return dict(
        container=container,
        layout=layout,
        shape=(channels, h, w),
        dtype=dtype,
        value_range=value_range,
        constant=constant,
        place=place,
        bad=bad,
        contiguous=contiguous,
        seed=draw(st.integers(0, 2**16)),
    )


def make_images(n, case):
    """``n`` images as ``case`` describes them (values drawn in NCHW, then laid out)."""
    rng = np.random.default_rng(case["seed"])
    shape, dtype, name = (n, *case["shape"]), case["dtype"], case["value_range"]
    if dtype == "bool":
        values = rng.random(shape) < 0.5
    elif dtype in INT_DTYPES and name == "huge":  # the dtype's whole range
        info = np.iinfo(dtype)
        values = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    else:
        bound = HUGE.get(dtype, 1e30)  # bfloat16 as float32
        low, high = {**RANGES, "huge": (-bound, bound), "extreme": (-1e300, 1e300)}[name]
        values = rng.uniform(low, high, shape)
        if dtype in INT_DTYPES:
            info = np.iinfo(dtype)
            values = np.clip(np.rint(values), info.min, info.max)
    if case["constant"]:
        values = np.full_like(values, values.flat[0])
    if case["place"] is not None and n:
        values = values.astype(np.float64)
        i, c = rng.integers(n), rng.integers(shape[1])
        where = {"pixel": (i, c, rng.integers(shape[2]), rng.integers(shape[3])), "sample": i}
        values[where.get(case["place"], (slice(None), c))] = case["bad"]
    arr = values.astype(np.float32 if dtype == "bfloat16" else dtype)
    if case["layout"] == "NHWC":
        arr = arr.transpose(0, 2, 3, 1)
    elif case["layout"] == "NHW":
        arr = arr[:, 0]
    arr = np.ascontiguousarray(arr)
    if case["container"] == "numpy":
        return arr if case["contiguous"] else np.asfortranarray(arr)
    X = torch.from_numpy(arr)
    if dtype == "bfloat16":
        X = X.to(torch.bfloat16)
    return X if case["contiguous"] else X.transpose(-1, -2).contiguous().transpose(-1, -2)


def image_defects(X, case):
    """``(must, may)``: the documented refusals these images call for, or allow."""
    must, may = [], []
    if case["dtype"] == "bfloat16":
        must += documented(TypeError, MSG_X_TORCH_DTYPE)
    if case["place"] is not None:
        must += documented(ValueError, MSG_X_NONFINITE)
    if _ambiguous(tuple(X.shape)):
        must += documented(ValueError, MSG_X_LAYOUT)
    if case["value_range"] == "extreme":  # a constant image's statistics may still be finite
        (may if case["constant"] else must).extend(documented(ValueError, MSG_X_OVERFLOW))
    return must, may


def check_images(X_syn, X, case):
    assert isinstance(X_syn, type(X))  # ndarray in, ndarray out; Tensor in, Tensor out
    assert tuple(X_syn.shape[1:]) == tuple(X.shape[1:])  # the same layout
    dtype = case["dtype"]
    expected = "float32" if dtype == "uint8" else dtype if dtype in FLOAT_DTYPES else "float64"
    assert str(X_syn.dtype).replace("torch.", "") == expected
    values = X_syn.numpy() if isinstance(X_syn, torch.Tensor) else X_syn
    assert np.isfinite(values).all()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=labels(),
    case=image_cases(),
    y_kind=st.sampled_from(["numpy", "series", "torch"]),
    ipc=st.integers(1, 3),
    target=st.sampled_from(["vanilla", "uniform", "fairdd", "cobra"]),
    init=st.sampled_from(["random_real", "balanced", "noise"]),
    batch_real=st.integers(1, 8),
)
def test_random_images_fit_or_fail_as_documented(data, case, y_kind, ipc, target, init, batch_real):
    y, groups = data
    if y_kind == "series":
        y = pd.Series(y, name="label")
    elif y_kind == "torch" and y.dtype.kind == "i":
        y = torch.as_tensor(y)
    X = make_images(len(y), case)
    must, may = image_defects(X, case)
    params = dict(FAST, method="dm", ipc=ipc, target=target, init=init, batch_real=batch_real)
    X_syn = fit_or_refuse(X, y, groups, params, must, may)
    if X_syn is not None:
        check_images(X_syn, X, case)


NUMERIC_KINDS = (
    "float64",
    "float32",
    "int64",
    "int8",
    "uint8",
    "bool",
    "Int64",
    "Float64",
    "boolean",
)
OTHER_KINDS = ("category", "str", "string", "object_numbers", "complex128")
MISSING = {"nan": np.nan, "none": None, "na": pd.NA}


def make_column(kind, n, rng, missing, place):
    if kind in ("bool", "boolean"):
        values = list(rng.random(n) < 0.5)
    elif kind in ("category", "str", "string"):
        values = list(np.array(["x", "y", "z"])[rng.integers(0, 3, n)])
    elif kind in ("int64", "int8", "uint8", "Int64", "object_numbers"):
        values = [int(v) for v in rng.integers(0, 100, n)]
    elif kind == "complex128":
        values = list(rng.normal(size=n) + 1j * rng.normal(size=n))
    else:
        values = list(rng.normal(size=n) * 10.0 ** rng.integers(-3, 4))
    if missing is not None:
        rows = {"one": [int(rng.integers(n))], "some": list(range(0, n, 2)), "all": range(n)}
        for i in rows[place]:
            values[i] = MISSING[missing]
    dtype = {"str": object, "object_numbers": object}.get(kind, kind)
    try:
        return pd.Series(values, dtype=dtype)
    except (TypeError, ValueError):  # e.g. NaN in an int64 column: pandas picks the dtype
        return pd.Series(values)


def column_names(scheme, k, rng):
    if scheme == "int":
        return [10 * i for i in range(k)]
    if scheme == "mixed":
        pool = [0, "a", 2.5, None, -1, "b", 7, "c"]
        return [pool[i] for i in rng.permutation(len(pool))[:k]]
    names = [f"c{i}" for i in range(k)]
    if scheme == "duplicate" and k >= 2:
        names[int(rng.integers(1, k))] = names[0]
    return names


@st.composite
def frame_cases(draw):
    k = draw(st.sampled_from([1, 2, 3, 3, 4, 5, 0]))  # no column at all now and then
    # mostly numeric, complete columns with distinct names, so that fits also succeed
    pool = draw(
        st.sampled_from(
            [NUMERIC_KINDS] * 3 + [(*NUMERIC_KINDS, *OTHER_KINDS), (*NUMERIC_KINDS, "complex128")]
        )
    )
    kinds = draw(st.lists(st.sampled_from(pool), min_size=k, max_size=k))
    with_missing = draw(st.sampled_from([False, False, True]))
    marks = [None, *MISSING] if with_missing else [None]
    missing = draw(st.lists(st.sampled_from(marks), min_size=k, max_size=k))
    return dict(
        kinds=kinds,
        missing=missing,
        place=draw(st.sampled_from(["one", "some", "all"])),
        names=draw(st.sampled_from(["str", "int", "str", "mixed", "duplicate"])),
        index=draw(st.sampled_from(["range", "shuffled", "strings"])),
        seed=draw(st.integers(0, 2**16)),
    )


def make_frame(n, case):
    rng = np.random.default_rng(case["seed"])
    columns = [
        make_column(kind, n, rng, missing, case["place"])
        for kind, missing in zip(case["kinds"], case["missing"])
    ]
    X = pd.DataFrame({i: s for i, s in enumerate(columns)}, index=range(n))
    X.columns = column_names(case["names"], len(columns), rng)
    X.index = {
        "range": pd.RangeIndex(n),
        "shuffled": pd.Index(rng.permutation(n)),
        "strings": pd.Index([f"r{i}" for i in range(n)]),
    }[case["index"]]
    return X


def frame_defects(X):
    """The documented refusals this DataFrame calls for."""
    must = []
    names = list(X.columns)
    if not names:
        must += documented(ValueError, MSG_X_EMPTY)
    if len(set(names)) < len(names):
        must += documented(ValueError, MSG_X_DUPLICATE_COLUMNS)
    numeric = [pd.api.types.is_numeric_dtype(t) for t in X.dtypes]
    if not all(numeric):
        must += documented(TypeError, MSG_X_NONNUMERIC)
    if any(pd.api.types.is_complex_dtype(t) for t in X.dtypes):
        must += documented(ValueError, MSG_X_COMPLEX)
    if X.iloc[:, np.flatnonzero(numeric)].isna().to_numpy().any():  # NaN, None or pd.NA
        must += documented(ValueError, MSG_X_NONFINITE)
    return must


def check_frame(X_syn, X):
    assert isinstance(X_syn, pd.DataFrame) and X_syn.shape[1] == X.shape[1]
    pd.testing.assert_index_equal(X_syn.columns, X.columns)
    for i, dtype in enumerate(X.dtypes):  # float columns keep their dtype, others are float64
        expected = dtype if pd.api.types.is_float_dtype(dtype) else np.dtype(np.float64)
        assert X_syn.dtypes.iloc[i] == expected
    assert np.isfinite(X_syn.to_numpy(dtype=np.float64)).all()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=labels(n_max=6),
    case=frame_cases(),
    y_kind=st.sampled_from(["numpy", "series"]),
    ipc=st.integers(1, 3),
    target=st.sampled_from(["vanilla", "uniform", "fairdd", "cobra"]),
    batch_real=st.integers(1, 8),
)
def test_random_frames_fit_or_fail_as_documented(data, case, y_kind, ipc, target, batch_real):
    y, groups = data
    X = make_frame(len(y), case)
    if y_kind == "series":
        y = pd.Series(y, index=X.index, name="label")
    params = dict(FAST, method="dm", ipc=ipc, target=target, batch_real=batch_real)
    X_syn = fit_or_refuse(X, y, groups, params, frame_defects(X))
    if X_syn is not None:
        check_frame(X_syn, X)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=labels(n_max=4),
    images=st.booleans(),
    image_case=image_cases(),
    frame_case=frame_cases(),
    ipc=st.integers(1, 2),
)
def test_method_dc_fits_or_fails_as_documented(data, images, image_case, frame_case, ipc):
    y, groups = data
    params = dict(FAST, method="dc", ipc=ipc, batch_real=4)
    if images:
        X = make_images(len(y), image_case)
        X_syn = fit_or_refuse(X, y, groups, params, *image_defects(X, image_case))
        if X_syn is not None:
            check_images(X_syn, X, image_case)
    else:
        X = make_frame(len(y), frame_case)
        X_syn = fit_or_refuse(X, y, groups, params, frame_defects(X))
        if X_syn is not None:
            check_frame(X_syn, X)
