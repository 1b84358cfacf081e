"""Conversion between what the user passes and the tensors the distiller optimises.

This is the one place that knows about containers (numpy, pandas, torch), image layouts
and value ranges. Inputs are always copied, never modified.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.preprocessing import StandardScaler
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _num_samples

MSG_X_DIM = (
    "X must be a 2-D table (n_samples, n_features) or images of shape (N, H, W), "
    "(N, C, H, W) or (N, H, W, C); got an array with {ndim} dimension(s) and shape {shape}."
)
MSG_X_LAYOUT = (
    "Cannot tell the channel axis of images with shape {shape}: pass them as (N, C, H, W) "
    "or (N, H, W, C) with C in {{1, 3, 4}} on exactly one of axis 1 or axis 3."
)
MSG_X_NONNUMERIC = (
    "X must hold numbers; column(s) {cols} are {kind}. Encode them first, e.g. with "
    "sklearn.preprocessing.OneHotEncoder inside a ColumnTransformer."
)
MSG_X_NONFINITE = (
    "X contains {what}. Remove or impute those entries (e.g. sklearn.impute.SimpleImputer) "
    "before calling fit."
)
MSG_X_STRINGS = (
    "X has dtype {dtype}, which is not numeric ({detail}). Convert it to numbers first, e.g. "
    "with sklearn.preprocessing.OneHotEncoder for categorical columns."
)
MSG_X_SPARSE = (
    "X is a sparse matrix, and sparse input is not supported: synthetic samples are dense. "
    "Pass X.toarray(), or reduce the features first (e.g. sklearn.decomposition.TruncatedSVD)."
)
MSG_X_COMPLEX = "Complex data not supported: X has dtype {dtype}; pass real numbers."
MSG_X_TORCH_DTYPE = (
    "X is a torch tensor of dtype {dtype}, which numpy cannot represent; convert it first, "
    "e.g. X.float() (float32)."
)
MSG_X_DUPLICATE_COLUMNS = (
    "X has duplicate column name(s) {cols}; the synthetic DataFrame needs one name per column. "
    "Rename them first, e.g. X.columns = [f'x{{i}}' for i in range(X.shape[1])]."
)
MSG_X_EMPTY = (
    "X is empty: found array with {n_samples} sample(s) and {n_features} feature(s) "
    "(shape={shape}) while a minimum of 1 is required. Pass at least one sample with at "
    "least one feature (or pixel)."
)
MSG_X_OVERFLOW = (
    "X has values too large to standardise (largest magnitude {max:.3g}): the mean or "
    "standard deviation of a feature or channel overflows float64. Rescale X first, e.g. "
    "divide it by a constant or use sklearn.preprocessing.MaxAbsScaler."
)


def _is_torch(X):
    return isinstance(X, torch.Tensor)


@dataclass
class Codec:
    """How to map user data to the internal float tensor and back.

    Internally every sample is a float32 tensor, standardised per feature (tabular) or per
    channel (images). ``decode`` maps internal values back to the user's container, layout,
    dtype and value range.
    """

    kind: str  # "tabular" or "image"
    container: str  # "numpy", "pandas" or "torch"
    dtype: object
    sample_shape: tuple  # internal shape of one sample: (d,) or (C, H, W)
    mean: np.ndarray
    scale: np.ndarray
    layout: str | None = None  # images: "NCHW", "NHWC" or "NHW"
    value_range: tuple | None = None  # images: (low, high) of the input values
    columns: list | None = None  # pandas columns
    column_dtypes: dict = field(default_factory=dict)

    @property
    def float_dtype(self):
        """The float dtype of decoded samples: the input's float dtype, else float32."""
        if self.dtype is not None and np.dtype(self.dtype).kind == "f":
            return np.dtype(self.dtype)
        return np.dtype(np.float32)

    # ------------------------------------------------------------------ encode
    def encode(self, X) -> torch.Tensor:
        """Map data of the fitted kind to a standardised float32 tensor (a copy).

        Large inputs are converted :data:`ENCODE_CHUNK_BYTES` of float64 at a time into the
        float32 result (the same values: every operation is elementwise).
        """
        shape = getattr(X, "shape", None)
        if shape is None or len(shape) < 2:
            return self._encode(X)
        rows = max(1, ENCODE_CHUNK_BYTES // (8 * int(np.prod(shape[1:]))))
        if shape[0] <= rows:
            return self._encode(X)
        take = X.iloc if isinstance(X, pd.DataFrame) else X
        out = torch.empty((shape[0], *self.sample_shape), dtype=torch.float32)
        for start in range(0, shape[0], rows):
            out[start : start + rows] = self._encode(take[start : start + rows])
        return out

    def _encode(self, X) -> torch.Tensor:
        arr = _to_float_array(X)
        if self.kind == "image":
            arr = _to_nchw(arr, self.layout)
            if self.dtype == np.uint8:
                arr = arr / 255.0
            mean = self.mean.reshape(1, -1, 1, 1)
            scale = self.scale.reshape(1, -1, 1, 1)
        else:
            mean, scale = self.mean, self.scale
        return torch.from_numpy(((arr - mean) / scale).astype(np.float32))

    # ------------------------------------------------------------------ decode
    def decode(self, Z: torch.Tensor, index=None, *, as_input_dtype=False):
        """Map internal values back to the user's container, layout and scale.

        By default the values are exactly the optimised ones, de-standardised: floats in the
        input's scale (uint8 images: float32 in 0..255), neither clipped nor rounded. With
        ``as_input_dtype`` images are clipped to the input's value range and cast to its dtype
        (uint8: rounded), e.g. to save them as pictures.
        """
        z = Z.detach().cpu().double().numpy()
        if self.kind == "image":
            z = z * self.scale.reshape(1, -1, 1, 1) + self.mean.reshape(1, -1, 1, 1)
            if self.dtype == np.uint8:
                z = z * 255.0
                z = np.clip(np.rint(z), 0, 255).astype(np.uint8) if as_input_dtype else z
            elif as_input_dtype:
                z = np.clip(z, *self.value_range)
            if z.dtype != np.uint8:
                z = z.astype(self.float_dtype)
            if self.layout == "NHWC":
                z = np.ascontiguousarray(z.transpose(0, 2, 3, 1))
            elif self.layout == "NHW":
                z = z[:, 0]
        else:
            z = z * self.scale + self.mean
            if self.container == "pandas":
                df = pd.DataFrame(z, columns=self.columns, index=index)
                return df.astype(self.column_dtypes)
            z = z.astype(self.dtype)
        if self.container == "torch":
            return torch.from_numpy(z)
        return z


def _to_float_array(X):
    if isinstance(X, pd.DataFrame):
        return X.to_numpy(dtype=np.float64)
    if _is_torch(X):
        return X.detach().cpu().numpy().astype(np.float64)
    return np.asarray(X, dtype=np.float64)


def _to_nchw(arr, layout):
    if layout == "NHWC":
        return arr.transpose(0, 3, 1, 2)
    if layout == "NHW":
        return arr[:, None]
    return arr


def _holds_strings(X):
    """Whether an object array holds any str or bytes (numbers stored as objects are fine)."""
    is_text = np.frompyfunc(lambda v: isinstance(v, (str, bytes)), 1, 1)
    return bool(is_text(np.asarray(X, dtype=object)).any())


def _image_layout(shape):
    if len(shape) == 3:
        return "NHW"
    first, last = shape[1] in (1, 3, 4), shape[3] in (1, 3, 4)
    if first and not last:
        return "NCHW"
    if last and not first:
        return "NHWC"
    raise ValueError(MSG_X_LAYOUT.format(shape=tuple(shape)))


def _check_pandas(X: pd.DataFrame):
    if not X.columns.is_unique:
        dup = list(dict.fromkeys(X.columns[X.columns.duplicated()]))
        raise ValueError(MSG_X_DUPLICATE_COLUMNS.format(cols=dup))
    bad = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    if bad:
        kinds = sorted({str(X[c].dtype) for c in bad})
        raise TypeError(MSG_X_NONNUMERIC.format(cols=bad, kind="/".join(kinds)))
    cplx = [c for c in X.columns if pd.api.types.is_complex_dtype(X[c])]
    if cplx:  # numeric to pandas, but converting them to floats would drop the imaginary part
        kinds = "/".join(sorted({str(X[c].dtype) for c in cplx}))
        raise ValueError(MSG_X_COMPLEX.format(dtype=f"{kinds} in column(s) {cplx}"))


def _check_finite(arr):
    if np.isnan(arr).any():
        raise ValueError(MSG_X_NONFINITE.format(what="NaN"))
    if np.isinf(arr).any():
        raise ValueError(MSG_X_NONFINITE.format(what="infinite values"))


def _raw_dtype(X):
    if isinstance(X, pd.DataFrame):
        return None
    if _is_torch(X):
        try:
            return np.dtype(str(X.dtype).replace("torch.", ""))
        except TypeError:  # bfloat16, float8 types...: no numpy equivalent
            raise TypeError(MSG_X_TORCH_DTYPE.format(dtype=X.dtype)) from None
    return np.asarray(X).dtype


def fit_codec(X) -> Codec:
    """Inspect ``X``, validate it, and return the codec that standardises it.

    Raises ``TypeError`` for non-numeric data and ``ValueError`` for NaN/inf values or shapes
    that are neither tables nor images.
    """
    if sp.issparse(X):
        raise TypeError(MSG_X_SPARSE)
    container = "pandas" if isinstance(X, pd.DataFrame) else "torch" if _is_torch(X) else "numpy"
    if container == "pandas":
        _check_pandas(X)
    else:
        dtype = _raw_dtype(X)
        if dtype.kind == "c":
            raise ValueError(MSG_X_COMPLEX.format(dtype=dtype))
        if dtype.kind not in "biufO":
            raise TypeError(MSG_X_STRINGS.format(dtype=dtype, detail="not a number type"))
        if dtype.kind == "O" and _holds_strings(X):
            raise TypeError(MSG_X_STRINGS.format(dtype=dtype, detail="it holds strings"))
    if isinstance(X, np.ndarray) and X.ndim > 1 and X.size * 8 > FIT_CHUNKED_BYTES:
        return fit_codec_chunked(X)  # the float64 copy of a large array would not fit
    try:
        arr = _to_float_array(X)
    except (TypeError, ValueError) as exc:  # object arrays holding non-numbers
        raise TypeError(MSG_X_STRINGS.format(dtype=_raw_dtype(X), detail=exc)) from exc
    if arr.ndim not in (2, 3, 4):
        raise ValueError(MSG_X_DIM.format(ndim=arr.ndim, shape=arr.shape))
    if arr.size == 0:
        n_features = int(np.prod(arr.shape[1:]))
        raise ValueError(
            MSG_X_EMPTY.format(n_samples=arr.shape[0], n_features=n_features, shape=arr.shape)
        )
    _check_finite(arr)
    if arr.ndim == 2:
        return _fit_tabular_codec(X, arr, container)
    return _fit_image_codec(X, arr, container)


def _check_statistics(arr, *stats):
    """Refuse values so large that the standardisation statistics overflow float64."""
    if not all(np.isfinite(s).all() for s in stats):
        raise ValueError(MSG_X_OVERFLOW.format(max=float(np.abs(arr).max())))


def _fit_tabular_codec(X, arr, container):
    with np.errstate(over="ignore", invalid="ignore"):
        scaler = StandardScaler().fit(arr)
    _check_statistics(arr, scaler.mean_, scaler.var_)  # not scale_: an inf var gives 1
    return _tabular_codec(X, scaler, container)


def _tabular_codec(X, scaler, container):
    """The codec of a table standardised by a fitted ``StandardScaler``."""
    columns, column_dtypes, dtype = None, {}, None
    if container == "pandas":
        columns = list(X.columns)
        # float columns keep their dtype; integer and boolean ones become float64, because
        # synthetic rows take continuous values.
        column_dtypes = {
            c: (X[c].dtype if pd.api.types.is_float_dtype(X[c]) else np.float64) for c in columns
        }
    else:
        raw = _raw_dtype(X)
        dtype = raw if raw.kind == "f" else np.dtype(np.float64)
    return Codec(
        kind="tabular",
        container=container,
        dtype=dtype,
        sample_shape=(scaler.mean_.shape[0],),
        mean=scaler.mean_,
        scale=scaler.scale_,
        columns=columns,
        column_dtypes=column_dtypes,
    )


def _fit_image_codec(X, arr, container):
    if container == "pandas":
        raise ValueError(MSG_X_DIM.format(ndim=arr.ndim, shape=arr.shape))
    layout = _image_layout(arr.shape)
    nchw = _to_nchw(arr, layout)
    value_range = (float(nchw.min()), float(nchw.max()))
    if _raw_dtype(X) == np.uint8:
        nchw = nchw / 255.0
    with np.errstate(over="ignore", invalid="ignore"):
        mean = nchw.mean(axis=(0, 2, 3))
        std = nchw.std(axis=(0, 2, 3))
    _check_statistics(arr, mean, std)
    return _image_codec(X, container, layout, nchw.shape[1:], value_range, mean, std)


def _image_codec(X, container, layout, sample_shape, value_range, mean, std):
    """The codec of images of per-channel ``mean`` and ``std`` (after uint8 / 255)."""
    raw = _raw_dtype(X)
    dtype = np.dtype(np.uint8) if raw == np.uint8 else raw if raw.kind == "f" else np.float64
    std = np.where(std > 1e-8, std, 1.0)
    return Codec(
        kind="image",
        container=container,
        dtype=dtype,
        sample_shape=tuple(sample_shape),
        mean=mean,
        scale=std,
        layout=layout,
        value_range=value_range,
    )


# ---------------------------------------------------------------------------- labels and groups

MSG_Y_MISSING = "y contains missing values (NaN/None); drop those rows before calling fit."
MSG_SF_MISSING = (
    "sensitive_features contains {n} missing value(s). Pass missing_groups='impute' to infer "
    "them by K-means on the inputs, drop those rows, or fill them with an explicit 'unknown' "
    "group if that is what you mean."
)
MSG_LENGTH = (
    "X, y and sensitive_features must have the same number of samples; got {lengths}. "
    "Pass one entry of y (and of sensitive_features) per row/image of X."
)


def scalar(value):
    """A numpy scalar as the plain Python value, for readable messages."""
    return value.item() if isinstance(value, np.generic) else value


def n_samples(obj) -> int:
    """Number of samples of an array-like, DataFrame, Series, tensor or Dataset."""
    if _is_torch(obj) or isinstance(obj, LazySamples):
        return int(obj.shape[0])
    return _num_samples(obj)


def check_lengths(**named):
    """Raise a ValueError naming each argument when sample counts disagree."""
    lengths = {k: n_samples(v) for k, v in named.items() if v is not None}
    if len(set(lengths.values())) > 1:
        text = ", ".join(f"{k}: {v}" for k, v in lengths.items())
        raise ValueError(MSG_LENGTH.format(lengths=text))


def encode_labels(y):
    """Return ``(classes, codes)`` for a 1-D label vector, refusing missing values."""
    values = y.to_numpy() if isinstance(y, pd.Series) else np.asarray(y)
    if _is_torch(y):
        values = y.detach().cpu().numpy()
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per sample); got shape {values.shape}.")
    if pd.isna(values).any():
        raise ValueError(MSG_Y_MISSING)
    check_classification_targets(values)  # refuses continuous targets ("Unknown label type")
    classes, codes = np.unique(values, return_inverse=True)
    return classes, codes.astype(np.int64)


MSG_RECODE = (
    "partial_fit continues a fit whose {what} are {fitted}; these data have {got}. Pass data "
    "with the same {what}, or call fit to start afresh."
)


def recode(names, codes, fitted, what, *, every=False):
    """``codes`` (indices into ``names``) as indices into the ``fitted`` names.

    Names outside ``fitted`` are refused, and with ``every`` so is a fitted name missing from
    ``names``; code ``-1`` (missing) stays ``-1``.
    """
    position = {scalar(v): i for i, v in enumerate(fitted)}
    unknown = [scalar(v) for v in names if scalar(v) not in position]
    if unknown or (every and len(names) != len(fitted)):
        got = unknown or [scalar(v) for v in names]
        raise ValueError(MSG_RECODE.format(what=what, fitted=[scalar(v) for v in fitted], got=got))
    lookup = np.array([position[scalar(v)] for v in names] + [-1], dtype=np.int64)
    return lookup[codes]


def encode_groups(sensitive_features, n, *, allow_missing=False):
    """Return ``(group_names, codes)``; several columns give one group per combination.

    ``None`` means one group holding every sample. With ``allow_missing``, a sample with any
    missing attribute gets code ``-1`` instead of raising.
    """
    if sensitive_features is None:
        return np.array(["all"], dtype=object), np.zeros(n, dtype=np.int64)
    sf = sensitive_features
    if isinstance(sf, pd.Series):
        frame = sf.to_frame()
    elif isinstance(sf, pd.DataFrame):
        frame = sf
    else:
        arr = sf.detach().cpu().numpy() if _is_torch(sf) else np.asarray(sf, dtype=object)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ValueError(
                "sensitive_features must be 1-D (one group per sample) or 2-D (one column per "
                f"attribute); got shape {arr.shape}."
            )
        frame = pd.DataFrame(arr)
    missing = frame.isna().to_numpy().any(axis=1)
    if missing.any() and not allow_missing:
        raise ValueError(MSG_SF_MISSING.format(n=int(missing.sum())))
    known = frame[~missing]
    if frame.shape[1] == 1:
        labels = known.iloc[:, 0].to_numpy()
    else:
        named = isinstance(sensitive_features, pd.DataFrame)
        labels = np.asarray(
            [
                ", ".join(
                    f"{col}={val}" if named else str(val) for col, val in zip(frame.columns, row)
                )
                for row in known.itertuples(index=False, name=None)
            ],
            dtype=object,
        )
    names, known_codes = np.unique(labels, return_inverse=True)
    codes = np.full(n, -1, dtype=np.int64)
    codes[~missing] = known_codes
    return names.astype(object), codes


# ---------------------------------------------------------------------------- torch datasets

MSG_DATASET_ITEM = (
    "X is a torch Dataset, so each item must be an (x, y) or (x, y, sensitive_feature) tuple "
    "with x an array or tensor when y is not passed to fit; item 0 is {got}. Make the dataset "
    "return such tuples, or pass y (and sensitive_features) to fit."
)
MSG_DATASET_X = (
    "X is a torch Dataset whose item {i} holds {got} where the sample x should be; x must be "
    "an array or tensor of numbers (an image or a feature vector)."
)
MSG_DATASET_ITERABLE = (
    "X is an IterableDataset; skdistill draws batches by index, so pass a map-style Dataset "
    "(with __len__ and __getitem__) or an array."
)
MSG_Y_REQUIRED = (
    "requires y to be passed, but the target y is None: y is required unless X is a torch "
    "Dataset whose items are (x, y) or (x, y, sensitive_feature) tuples."
)

#: Items read to estimate the per-channel (or per-feature) statistics of a Dataset.
DATASET_STATS_ITEMS = 2048


def _is_array(obj):
    return _is_torch(obj) or isinstance(obj, np.ndarray)


def _item_x(item, i):
    x = item[0] if isinstance(item, (tuple, list)) else item
    if not _is_array(x):
        raise TypeError(MSG_DATASET_X.format(i=i, got=type(x).__name__))
    return torch.as_tensor(np.asarray(x)) if not _is_torch(x) else x


class LazySamples:
    """Samples read on demand, in batches, and encoded by a codec.

    Indexing with an array of positions returns their standardised float32 tensor, like
    indexing the encoded tensor of an in-memory array; only those samples are read.
    Subclasses implement :meth:`read_raw`.

    Parameters
    ----------
    codec : Codec
        The standardisation of the samples.
    n : int
        Number of samples.
    stats_index : ndarray of int
        Positions of the samples that identify the data (checkpoint fingerprints).
    """

    def __init__(self, codec: Codec, n, stats_index):
        self.codec = codec
        self.stats_index = stats_index
        self.shape = (int(n), *codec.sample_shape)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, index):
        index = np.atleast_1d(np.asarray(index, dtype=np.int64))
        return self.codec.encode(self.read_raw(index))

    def read_raw(self, index):
        """The raw samples (an array or tensor in the input's layout) at ``index``, in order."""
        raise NotImplementedError

    def labels(self):
        """``(y, sensitive_features)`` stored with the samples, when ``fit`` is not given ``y``."""
        raise ValueError(MSG_Y_REQUIRED)

    def with_codec(self, codec):
        """The same samples under another standardisation (``partial_fit`` on new data)."""
        copy = _shallow_copy(self)
        copy.codec = codec
        return copy

    def fingerprint_parts(self):
        """Tensors that identify the samples for checkpoints (a sample of them, their count)."""
        return [self[self.stats_index], torch.as_tensor([len(self)])]


def _shallow_copy(obj):
    copy = object.__new__(type(obj))
    copy.__dict__.update(obj.__dict__)
    return copy


def spaced_positions(n, k=None):
    """Up to ``k`` (default :data:`DATASET_STATS_ITEMS`) evenly spaced positions of ``n``."""
    k = DATASET_STATS_ITEMS if k is None else k
    return np.unique(np.linspace(0, n - 1, min(n, k)).astype(np.int64))


class DatasetSamples(LazySamples):
    """The samples of a map-style torch ``Dataset``, read on demand and encoded by a codec.

    A batch is fetched with the dataset's ``__getitems__`` when it has one (torch's batched
    fetch protocol), else item by item.
    """

    def __init__(self, dataset, codec: Codec, stats_index):
        super().__init__(codec, len(dataset), stats_index)
        self.dataset = dataset

    def read_raw(self, index):
        """The ``x`` of the items at ``index``, stacked."""
        fetch = getattr(self.dataset, "__getitems__", None)
        items = fetch(index.tolist()) if fetch else [self.dataset[int(i)] for i in index]
        return torch.stack([_item_x(item, int(i)) for item, i in zip(items, index)])


class ArraySamples(LazySamples):
    """The samples of an array on disk (``np.load(path, mmap_mode="r")``), read on demand.

    A batch is one sorted fancy-index read of the memory map; nothing else is loaded.
    """

    def __init__(self, array, codec: Codec):
        super().__init__(codec, array.shape[0], spaced_positions(array.shape[0]))
        self.array = array

    def read_raw(self, index):
        """The rows at ``index`` (read in increasing order, returned in ``index``'s)."""
        order = np.argsort(index, kind="stable")
        raw = np.empty((index.shape[0], *self.array.shape[1:]), dtype=self.array.dtype)
        raw[order] = self.array[index[order]]
        return raw


#: Bytes of float64 values that :meth:`Codec.encode` converts at once.
ENCODE_CHUNK_BYTES = 64 << 20
#: Above this size of their float64 copy, in-memory arrays are also inspected chunk by chunk
#: (:func:`fit_codec_chunked`: the same checks, exact statistics).
FIT_CHUNKED_BYTES = 1 << 30
#: Bytes of float64 values that the statistics of a memory-mapped array read at once (a
#: chunk and its channel-last copy are the transient memory of that pass).
STATS_CHUNK_BYTES = 16 << 20


def fit_codec_chunked(X) -> Codec:
    """The codec of :func:`fit_codec` for an array too large to copy, read chunk by chunk.

    Exact statistics (per feature, or per channel), accumulated with ``StandardScaler``'s
    ``partial_fit``; the checks of :func:`fit_codec`, chunk by chunk.
    """
    fit_codec(X[:1])  # the dtype and shape checks of an in-memory array
    image = X.ndim > 2
    layout = _image_layout(X.shape) if image else None
    row_bytes = 8 * int(np.prod(X.shape[1:]))
    chunk = max(1, STATS_CHUNK_BYTES // row_bytes)
    scaler, low, high = StandardScaler(), np.inf, -np.inf
    for start in range(0, X.shape[0], chunk):
        arr = _to_float_array(X[start : start + chunk])
        _check_finite(arr)
        low, high = min(low, float(arr.min())), max(high, float(arr.max()))
        if image:
            arr = _to_nchw(arr, layout) / (255.0 if X.dtype == np.uint8 else 1.0)
            arr = arr.transpose(0, 2, 3, 1).reshape(-1, arr.shape[1])
        with np.errstate(over="ignore", invalid="ignore"):
            scaler.partial_fit(arr)
    _check_statistics(np.array([low, high]), scaler.mean_, scaler.var_)
    if not image:
        return _tabular_codec(X, scaler, "numpy")
    shape = _to_nchw(np.empty((1, *X.shape[1:])), layout).shape[1:]
    return _image_codec(X, "numpy", layout, shape, (low, high), scaler.mean_, np.sqrt(scaler.var_))


def read_lazy(X, y, sensitive_features):
    """Lazy samples of a memory-mapped array, or given as such (e.g. shards on disk).

    Returns ``(samples, y, sensitive_features, codec)``; without ``y``, the labels (and,
    without ``sensitive_features``, the groups) stored with the samples.
    """
    if not isinstance(X, LazySamples):  # a memory map: statistics read chunk by chunk
        X = ArraySamples(X, fit_codec_chunked(X))
    if y is None:
        y, stored = X.labels()
        sensitive_features = stored if sensitive_features is None else sensitive_features
    return X, y, sensitive_features, X.codec


def read_dataset(dataset, y, sensitive_features):
    """Validate a torch Dataset; return ``(samples, y, sensitive_features, codec)``.

    Labels (and groups, from 3-tuples) are read from the items when ``y`` is None; the codec's
    statistics come from up to :data:`DATASET_STATS_ITEMS` evenly spaced items.
    """
    from torch.utils.data import IterableDataset

    if isinstance(dataset, IterableDataset):
        raise TypeError(MSG_DATASET_ITERABLE)
    n = len(dataset)
    first = dataset[0]
    if y is None:
        if not isinstance(first, (tuple, list)) or len(first) not in (2, 3):
            got = (
                f"a {type(first).__name__} of length {len(first)}"
                if isinstance(first, (tuple, list))
                else f"a {type(first).__name__}"
            )
            raise TypeError(MSG_DATASET_ITEM.format(got=got))
        # one pass over the items, keeping only their labels (never every x at once)
        labels = [tuple(map(_scalar_label, dataset[i][1:])) for i in range(n)]
        y = np.asarray([lab[0] for lab in labels])
        if sensitive_features is None and len(first) == 3:
            sensitive_features = np.asarray([lab[1] for lab in labels])
    stats_index = spaced_positions(n)
    sample = torch.stack([_item_x(dataset[int(i)], int(i)) for i in stats_index])
    codec = fit_codec(sample)
    return DatasetSamples(dataset, codec, stats_index), y, sensitive_features, codec


def _scalar_label(value):
    if _is_torch(value) or isinstance(value, np.ndarray):
        return value.item()
    return value
