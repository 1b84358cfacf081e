"""Saving and loading: checkpoints of a running fit, fitted distillers, synthetic sets.

Every file is written atomically (to a temporary file in the same folder, then renamed), and
distillers and synthetic sets get a JSON sidecar ``<file>.json`` with their provenance and a
SHA-256 checksum that loading verifies.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
import torch

CHECKPOINT_NAME = "skdistill-checkpoint.pt"
SIDECAR_SUFFIX = ".json"

MSG_NO_SIDECAR = (
    "{path} has no provenance file {sidecar}; skdistill writes one beside every saved file. "
    "Copy it along with the file, or save the object again."
)
MSG_CORRUPTED = (
    "{path} is corrupted or was modified: its SHA-256 is {actual}, but {sidecar} records "
    "{expected}. Restore the file from a good copy or save it again."
)
MSG_SUFFIX = "path must end in '.npz' or '.pt' to choose the file format; got {path!r}."


def _atomic_write(path: Path, write) -> None:
    """Call ``write(file_object)`` on a temporary file beside ``path``, then rename it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def sha256(path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint_tensor(tensor: torch.Tensor) -> str:
    """Hex SHA-256 of a tensor's values, to recognise the data a checkpoint was made from."""
    array = np.ascontiguousarray(tensor.detach().cpu().numpy())
    return hashlib.sha256(array.tobytes()).hexdigest() + f":{tuple(array.shape)}"


# ---------------------------------------------------------------------------- checkpoints
def write_checkpoint(directory, state: dict) -> Path:
    """Atomically write a fit checkpoint into ``directory``."""
    path = Path(directory) / CHECKPOINT_NAME
    _atomic_write(path, lambda fh: torch.save(state, fh))
    return path


def read_checkpoint(directory) -> dict | None:
    """The checkpoint in ``directory``, or ``None`` when there is none."""
    path = Path(directory) / CHECKPOINT_NAME
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


# ---------------------------------------------------------------------------- provenance
def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def provenance(estimator) -> dict:
    """What made a fitted distiller: parameters, versions, data shapes, class and group counts."""
    from . import __version__

    counts = estimator.group_counts_
    return _jsonable(
        {
            "skdistill_version": __version__,
            "torch_version": torch.__version__,
            "sklearn_version": sklearn.__version__,
            "numpy_version": np.__version__,
            "python_version": platform.python_version(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "estimator": type(estimator).__name__,
            "params": estimator.get_params(),
            "random_state": estimator.get_params()["random_state"],
            "n_samples_fit": int(counts.to_numpy().sum()),
            "sample_shape": list(np.shape(estimator.X_synthetic_)[1:]),
            "n_synthetic": int(np.shape(estimator.X_synthetic_)[0]),
            "classes": list(estimator.classes_),
            "groups": list(estimator.groups_),
            "class_group_counts": {
                str(c): {str(g): int(v) for g, v in row.items()} for c, row in counts.iterrows()
            },
            "n_iter": estimator.n_iter_,
        }
    )


def _write_sidecar(path: Path, info: dict) -> None:
    info = dict(info, file=path.name, sha256=sha256(path))
    text = json.dumps(info, indent=2, sort_keys=True).encode("utf-8")
    _atomic_write(Path(str(path) + SIDECAR_SUFFIX), lambda fh: fh.write(text))


def _verified_sidecar(path) -> dict:
    path = Path(path)
    sidecar = Path(str(path) + SIDECAR_SUFFIX)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist.")
    if not sidecar.exists():
        raise ValueError(MSG_NO_SIDECAR.format(path=path, sidecar=sidecar))
    info = json.loads(sidecar.read_text(encoding="utf-8"))
    actual = sha256(path)
    if actual != info.get("sha256"):
        raise ValueError(
            MSG_CORRUPTED.format(
                path=path, actual=actual, sidecar=sidecar, expected=info.get("sha256")
            )
        )
    return info


# ---------------------------------------------------------------------------- distillers
def save_estimator(estimator, path) -> Path:
    """Pickle a fitted distiller to ``path`` with a provenance sidecar."""
    path = Path(path)
    _atomic_write(path, lambda fh: pickle.dump(estimator, fh, protocol=pickle.HIGHEST_PROTOCOL))
    _write_sidecar(path, provenance(estimator))
    return path


def load(path):
    """Load a distiller saved with :meth:`BarycentricDistiller.save`, verifying its checksum.

    Loading unpickles the file: only load files you trust.

    Parameters
    ----------
    path : str or Path
        The saved file; its ``.json`` sidecar must sit beside it.

    Returns
    -------
    BarycentricDistiller
        The fitted distiller, on the CPU.
    """
    _verified_sidecar(path)
    with open(path, "rb") as fh:
        return pickle.load(fh)


# ---------------------------------------------------------------------------- synthetic sets
def save_synthetic_set(estimator, path) -> Path:
    """Write ``(X_synthetic_, y_synthetic_)`` as ``.npz`` or ``.pt`` with a provenance sidecar."""
    path = Path(path)
    if path.suffix not in (".npz", ".pt"):
        raise ValueError(MSG_SUFFIX.format(path=str(path)))
    X, y = estimator.X_synthetic_, estimator.y_synthetic_
    info = provenance(estimator)
    info["container"] = (
        "pandas" if isinstance(X, pd.DataFrame) else "torch" if torch.is_tensor(X) else "numpy"
    )
    if isinstance(X, pd.DataFrame):
        info["columns"] = [str(c) for c in X.columns]
        info["column_dtypes"] = [str(t) for t in X.dtypes]
    info["y_name"] = _jsonable(getattr(y, "name", None))
    X_arr = X.to_numpy() if isinstance(X, pd.DataFrame) else X
    y_arr = np.asarray(y)
    if y_arr.dtype.kind == "O":
        y_arr = y_arr.astype(str)
    if path.suffix == ".npz":
        X_arr = X_arr.numpy() if torch.is_tensor(X_arr) else X_arr
        _atomic_write(path, lambda fh: np.savez(fh, X=X_arr, y=y_arr))
    else:
        X_t = X_arr if torch.is_tensor(X_arr) else torch.as_tensor(X_arr)
        _atomic_write(path, lambda fh: torch.save({"X": X_t, "y": y_arr.tolist()}, fh))
    _write_sidecar(path, info)
    return path


def load_synthetic(path):
    """Load a synthetic set written by :meth:`BarycentricDistiller.save_synthetic`.

    The checksum recorded in the ``.json`` sidecar is verified first; a corrupted or modified
    file is refused with a ``ValueError``.

    Parameters
    ----------
    path : str or Path
        The ``.npz`` or ``.pt`` file.

    Returns
    -------
    X : ndarray, DataFrame or Tensor
        The synthetic samples, in the container they were saved from.
    y : ndarray or Series
        Their labels.
    provenance : dict
        Parameters, versions, data shapes, class and group counts, seed and checksum.
    """
    path = Path(path)
    info = _verified_sidecar(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            X, y = data["X"], data["y"]
    else:
        data = torch.load(path, map_location="cpu", weights_only=True)
        X, y = data["X"], np.asarray(data["y"])
    if info.get("container") == "pandas":
        X = pd.DataFrame(np.asarray(X), columns=info["columns"]).astype(
            dict(zip(info["columns"], info["column_dtypes"]))
        )
    elif info.get("container") == "torch" and not torch.is_tensor(X):
        X = torch.as_tensor(X)
    elif info.get("container") == "numpy" and torch.is_tensor(X):
        X = X.numpy()
    if info.get("y_name") is not None:
        y = pd.Series(y, name=info["y_name"])
    return X, y, info
