"""A format for fitted objects that loads without running code: JSON plus plain arrays.

:func:`encode` turns a value into JSON-able data and a dict of numeric or string arrays (the
arrays go into an ``.npz`` archive, read back with ``allow_pickle=False``); :func:`decode`
rebuilds the value. Only the types a fitted distiller holds are known: ``None``, booleans,
numbers, strings, lists, tuples, dicts, numpy arrays and scalars, torch tensors, numpy, torch
and pandas dtypes, pandas Series, DataFrames and Index, torch devices, file-system paths (e.g.
MTT's ``expert_dir``), :class:`~skdistill.methods.augment.DSA`, the method specs, targets and
built-in callbacks of the package (stored by name with their parameters) and the internal
:class:`~skdistill._data.Codec`. Anything else is refused with :class:`UnsupportedValue`,
which names where it was found. Loading never imports or calls anything the file names: every
tag maps to a fixed constructor here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePath

import numpy as np
import pandas as pd
import torch


class UnsupportedValue(TypeError):
    """A value the safe format cannot store; ``where`` says which attribute holds it."""

    def __init__(self, where, value):
        self.where = where
        super().__init__(
            f"{where} holds a {type(value).__name__}, which the safe format cannot store"
        )


_TORCH_DTYPES = {
    str(t): t
    for t in (
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
        torch.uint8,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.bool,
    )
}


class _Writer:
    def __init__(self):
        self.arrays = {}

    def array(self, arr: np.ndarray, where: str):
        """A tag for ``arr``: numeric and string arrays are stored, object arrays encoded."""
        if arr.dtype.kind == "O":
            return {
                "__objarray__": [self.value(v, f"{where}[]") for v in arr.ravel().tolist()],
                "shape": list(arr.shape),
            }
        if arr.dtype.kind not in "biufcUS" or arr.dtype.hasobject:
            raise UnsupportedValue(where, arr)
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.ascontiguousarray(arr)
        return {"__array__": key}

    def dtype(self, dtype, where):
        if isinstance(dtype, pd.CategoricalDtype):
            categories = self.array(np.asarray(dtype.categories), where)
            return {"__category__": categories, "ordered": bool(dtype.ordered)}
        return {"__dtype__": str(dtype)}

    def value(self, value, where="value"):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, np.generic):
            return (
                value
                if not isinstance(value, float) or np.isfinite(value)
                else {"__float__": repr(value)}
            )
        if isinstance(value, np.generic):
            return {"__scalar__": self.array(np.asarray(value), where)}
        if isinstance(value, list):
            return [self.value(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, tuple):
            return {"__tuple__": [self.value(v, f"{where}[{i}]") for i, v in enumerate(value)]}
        if isinstance(value, dict):
            return {
                "__dict__": [
                    [self.value(k, where), self.value(v, f"{where}[{k!r}]")]
                    for k, v in value.items()
                ]
            }
        if isinstance(value, np.ndarray):
            return self.array(value, where)
        if torch.is_tensor(value):
            if value.dtype == torch.bfloat16:
                raise UnsupportedValue(where, value)
            return {
                "__tensor__": self.array(value.detach().cpu().numpy(), where),
                "dtype": str(value.dtype),
            }
        if isinstance(value, (np.dtype, pd.api.extensions.ExtensionDtype)):
            return self.dtype(value, where)
        if isinstance(value, type) and issubclass(value, np.generic):  # np.float64 and the like
            return self.dtype(np.dtype(value), where)
        if isinstance(value, torch.dtype):
            return {"__torch_dtype__": str(value)}
        if isinstance(value, torch.device):
            return {"__device__": str(value)}
        if isinstance(value, PurePath):
            return {"__path__": str(value)}
        if isinstance(value, (pd.Index, pd.Series, pd.DataFrame)):
            return self._pandas(value, where)
        return self._component(value, where)

    def _pandas(self, value, where):
        if isinstance(value, pd.Index):
            return {
                "__index__": self.array(np.asarray(value, dtype=object), where),
                "dtype": self.dtype(value.dtype, where),
                "name": self.value(value.name, where),
            }
        if isinstance(value, pd.Series):
            return {
                "__series__": self.array(np.asarray(value, dtype=object), where),
                "dtype": self.dtype(value.dtype, where),
                "name": self.value(value.name, where),
                "index": self.value(value.index, f"{where}.index"),
            }
        return {
            "__frame__": [
                self.value(value.iloc[:, i], f"{where}[{i}]") for i in range(value.shape[1])
            ],
            "columns": self.value(value.columns, f"{where}.columns"),
            "index": self.value(value.index, f"{where}.index"),
        }

    def _component(self, value, where):
        from ._data import Codec
        from .methods.augment import DSA

        key = next((k for k, cls in _components().items() if type(value) is cls), None)
        if key is not None:
            params = value.get_params(deep=False)
            return {"__component__": key, "params": self.value(params, f"{where}.params")}
        if isinstance(value, DSA):
            spec = {"flip": "flip" in value.families, "pairing": value.pairing}
            return {
                "__dsa__": self.value(spec, where),
                "settings": self.value(value.settings, where),
            }
        if isinstance(value, Codec):
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            return {"__codec__": self.value(fields, f"{where}.codec")}
        raise UnsupportedValue(where, value)


def _components():
    """The parameter objects the format stores, by a fixed name: methods, targets, callbacks.

    Loading builds them through these classes only, from their stored parameters.
    """
    from .callbacks import EarlyStopping, ProgressBar
    from .methods import METHOD_SPECS
    from .targets import TARGETS

    classes = {f"method:{name}": cls for name, cls in METHOD_SPECS.items()}
    classes.update({f"target:{name}": cls for name, cls in TARGETS.items()})
    classes.update({f"callback:{cls.__name__}": cls for cls in (EarlyStopping, ProgressBar)})
    return classes


def encode(value, where="value"):
    """``(data, arrays)``: JSON-able ``data`` and the arrays it refers to by name."""
    writer = _Writer()
    data = writer.value(value, where)
    return data, writer.arrays


def _pandas_dtype(tag, arrays):
    if "__category__" in tag:
        return pd.CategoricalDtype(decode(tag["__category__"], arrays), ordered=tag["ordered"])
    return pd.api.types.pandas_dtype(tag["__dtype__"])


def _as_objects(tag, arrays):
    """The values of a stored Series or Index as an object array."""
    values = decode(tag, arrays)
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def decode(data, arrays):
    """Rebuild the value that :func:`encode` turned into ``data`` and ``arrays``."""
    if isinstance(data, list):
        return [decode(v, arrays) for v in data]
    if not isinstance(data, dict):
        return data
    tag = next(k for k in data if k.startswith("__"))
    body = data[tag]
    if tag == "__array__":
        return np.array(arrays[body])
    if tag == "__objarray__":
        out = np.empty(len(body), dtype=object)
        out[:] = [decode(v, arrays) for v in body]
        return out.reshape(data["shape"])
    if tag == "__float__":
        return float(body)
    if tag == "__scalar__":
        return decode(body, arrays)[()]
    if tag == "__tuple__":
        return tuple(decode(v, arrays) for v in body)
    if tag == "__dict__":
        return {_hashable(decode(k, arrays)): decode(v, arrays) for k, v in body}
    if tag == "__tensor__":
        return torch.from_numpy(decode(body, arrays)).to(_TORCH_DTYPES[data["dtype"]])
    if tag in ("__dtype__", "__category__"):
        return _pandas_dtype(data, arrays)
    if tag == "__torch_dtype__":
        return _TORCH_DTYPES[body]
    if tag == "__device__":
        return torch.device(body)
    if tag == "__path__":
        return Path(body)
    if tag == "__index__":
        dtype = _pandas_dtype(data["dtype"], arrays)
        return pd.Index(_as_objects(body, arrays), name=decode(data["name"], arrays)).astype(dtype)
    if tag == "__series__":
        values, dtype = _as_objects(body, arrays), _pandas_dtype(data["dtype"], arrays)
        index = decode(data["index"], arrays)
        return pd.Series(values, index=index, name=decode(data["name"], arrays)).astype(dtype)
    if tag == "__frame__":
        columns = [decode(c, arrays) for c in body]
        frame = (
            pd.concat(columns, axis=1)
            if columns
            else pd.DataFrame(index=decode(data["index"], arrays))
        )
        frame.columns = decode(data["columns"], arrays)
        return frame
    if tag == "__dsa__":
        from .methods.augment import DSA

        dsa = DSA(**decode(body, arrays))
        dsa.settings.update(decode(data["settings"], arrays))
        return dsa
    if tag == "__component__" and body in _components():
        return _components()[body](**decode(data["params"], arrays))
    if tag == "__codec__":
        from ._data import Codec

        return Codec(**decode(body, arrays))
    raise ValueError(f"unknown tag {tag!r} in a saved file")


def _hashable(key):
    return key.tolist() if isinstance(key, np.ndarray) else key
