"""Saving and loading: checkpoints of a running fit, fitted distillers, synthetic sets.

Every file is written atomically (to a temporary file in the same folder, flushed to disk, then
renamed over the old one), so a process killed at any moment leaves the previous file or the
new one, never a half-written one. Distillers and synthetic sets get a JSON sidecar
``<file>.json`` with their provenance and a SHA-256 checksum that loading verifies.

Nothing is unpickled on load: checkpoints and ``.pt`` sets are read with
``torch.load(weights_only=True)`` (tensors, numbers, strings and plain containers only), and a
distiller is saved as JSON plus plain arrays (:mod:`skdistill._serialize`) and rebuilt through
its constructor. Pickled distillers of earlier versions load only with ``trusted=True``.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
import torch
from filelock import FileLock, Timeout

from ._distributed import main_process_writes
from ._serialize import UnsupportedValue, decode, encode

CHECKPOINT_NAME = "skdistill-checkpoint.pt"
LOCK_NAME = "skdistill.lock"
OWNER_NAME = "skdistill.lock.json"
SIDECAR_SUFFIX = ".json"

MSG_NO_SIDECAR = (
    "{path} has no provenance file {sidecar}; skdistill writes one beside every saved file. "
    "Copy it along with the file, or save the object again."
)
MSG_CORRUPTED = (
    "{path} is corrupted or was modified: its SHA-256 is {actual}, but {sidecar} records "
    "{expected}. Restore the file from a good copy or save it again."
)
MSG_UNSAFE_FILE = (
    "{path} holds Python objects that loading would have to execute ({detail}); skdistill "
    "refuses to load it. Files skdistill writes hold only tensors, numbers and strings: this "
    "one was written by something else, or tampered with. Delete it, or write it again."
)
MSG_UNREADABLE_CHECKPOINT = (
    "the checkpoint {path} cannot be read ({detail}). Delete it to start afresh, or restore it "
    "from a good copy."
)
MSG_PICKLED_DISTILLER = (
    "{path} is a pickle (the format of skdistill 0.x saves, or a file written by pickle): "
    "unpickling runs any code the file contains. Load it only if you trust who wrote it, with "
    "skdistill.load(path, trusted=True), then save it again to get the safe format."
)
MSG_NOT_A_DISTILLER = "{path} is not a distiller saved by skdistill (no {key!r} entry)."
MSG_NEWER_FORMAT = (
    "{path} was saved in format version {version} by skdistill {by}; this skdistill reads "
    "version {supported} and earlier. Upgrade skdistill to load it."
)
MSG_CANNOT_SAVE = (
    "cannot save the distiller: {detail}. The saved format holds numbers, strings, arrays and "
    "tensors, and nothing that loading would have to execute; if a parameter holds another "
    "object (e.g. random_state a RandomState), set it to a plain value (an int) and save again."
)
MSG_UNWRITABLE_DIR = (
    "checkpoint_dir={dir!r} cannot be written ({detail}). Choose a folder you can write to, "
    "on a disk with free space, or pass checkpoint_dir=None to fit without checkpoints."
)
MSG_CHECKPOINT_WRITE = (
    "writing the checkpoint into checkpoint_dir={dir!r} failed after {done} iterations "
    "({detail}); the previous checkpoint is intact. Free space or fix the folder, then fit again "
    "with resume=True (the estimator holds the set of the last completed iteration)."
)
MSG_LOCKED = (
    "checkpoint_dir={dir!r} is in use by another fit ({owner}). Two fits writing one folder "
    "would overwrite each other's checkpoints: wait for that fit to finish, or give this one "
    "another checkpoint_dir."
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
        _fsync_folder(path.parent)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries to disk, so that a rename survives a power cut (POSIX)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stale_temporaries(folder, name) -> list[Path]:
    """Temporary files of interrupted atomic writes of ``name`` in ``folder``."""
    return sorted(Path(folder).glob(f".{name}.*.tmp"))


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


def fingerprint_data(real, codec, codes, extra=()) -> str:
    """What identifies a training set: its encoded samples, their codes and its scaling.

    ``real`` is the encoded tensor (or the samples of a Dataset, identified by their
    ``fingerprint_parts``), ``codes`` the integer labels (and groups) of every sample, and
    ``extra`` further arrays (e.g. sample weights). Checkpoints and expert buffers record it
    and are refused for data with another fingerprint.
    """
    parts = real.fingerprint_parts() if hasattr(real, "fingerprint_parts") else [real]
    parts += [torch.as_tensor(codes)]
    parts += [torch.as_tensor(np.concatenate([codec.mean, codec.scale]))]  # scale and shift
    parts += [torch.as_tensor(e) for e in extra]
    return "|".join(map(fingerprint_tensor, parts))


# ---------------------------------------------------------------------------- checkpoints
class CheckpointFolderError(OSError):
    """``checkpoint_dir`` cannot be written (missing permission, read-only or full disk)."""


class CheckpointFolderLocked(RuntimeError):
    """Another fit holds ``checkpoint_dir``."""


class CheckpointFolder:
    """The checkpoint folder of one fit: checked writable and locked for the fit's duration.

    Entering creates the folder, writes and removes a probe file (so that an unwritable
    folder or a full disk fails before any work, naming the folder), takes an exclusive lock
    (``filelock``: an OS lock the kernel releases when its process dies, so the lock of a
    killed fit is never stale), records the owner and removes temporary files left by writes
    that a killed process interrupted.
    """

    def __init__(self, directory):
        self.directory = Path(directory)
        self._lock = None

    def __enter__(self):
        folder = self.directory
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".skdistill-probe.")
            try:
                os.write(fd, b"\0" * 4096)
                os.fsync(fd)
            finally:
                os.close(fd)
                os.unlink(probe)
        except OSError as exc:
            raise CheckpointFolderError(
                MSG_UNWRITABLE_DIR.format(dir=str(folder), detail=_os_detail(exc))
            ) from exc
        lock = FileLock(folder / LOCK_NAME)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise CheckpointFolderLocked(
                MSG_LOCKED.format(dir=str(folder), owner=self._owner())
            ) from None
        self._lock = lock
        owner = {
            "pid": os.getpid(),
            "host": platform.node(),
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        _atomic_write(folder / OWNER_NAME, lambda fh: fh.write(json.dumps(owner).encode()))
        for path in stale_temporaries(folder, CHECKPOINT_NAME):
            path.unlink(missing_ok=True)
        return self

    def _owner(self) -> str:
        try:
            owner = json.loads((self.directory / OWNER_NAME).read_text(encoding="utf-8"))
            return f"process {owner['pid']} on {owner['host']}, since {owner['since']}"
        except (OSError, ValueError, KeyError):
            return "owner unknown"

    def write(self, state: dict, done: int) -> Path:
        """Atomically write a checkpoint; a failure names the folder and what was kept."""
        try:
            return write_checkpoint(self.directory, state)
        except OSError as exc:
            raise CheckpointFolderError(
                MSG_CHECKPOINT_WRITE.format(
                    dir=str(self.directory), done=done, detail=_os_detail(exc)
                )
            ) from exc

    def __exit__(self, *exc_info):
        if self._lock is not None:
            (self.directory / OWNER_NAME).unlink(missing_ok=True)
            self._lock.release()
            self._lock = None


def _os_detail(exc: OSError) -> str:
    return f"{type(exc).__name__}: {exc.strerror or exc}"


def write_checkpoint(directory, state: dict) -> Path:
    """Atomically write a fit checkpoint into ``directory``."""
    path = Path(directory) / CHECKPOINT_NAME
    _atomic_write(path, lambda fh: torch.save(state, fh))
    return path


def read_checkpoint(directory) -> dict | None:
    """The checkpoint in ``directory``, or ``None`` when there is none.

    Read with ``weights_only=True``: a file holding other objects than tensors, numbers,
    strings and plain containers is refused, and nothing in it runs.
    """
    path = Path(directory) / CHECKPOINT_NAME
    if not path.exists():
        return None
    return safe_torch_load(path, checkpoint=True)


def safe_torch_load(path, *, checkpoint=False, mmap=False):
    """``torch.load(path, weights_only=True)`` with clear errors for unsafe or broken files.

    With ``mmap`` the tensors stay in the file, memory-mapped, and are read when used.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        detail = str(exc).strip().splitlines()
        detail = next((line for line in detail if "GLOBAL" in line or "Unsupported" in line), "")
        raise ValueError(
            MSG_UNSAFE_FILE.format(path=path, detail=detail.strip() or "pickle")
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as exc:
        if not checkpoint:
            raise
        raise ValueError(MSG_UNREADABLE_CHECKPOINT.format(path=path, detail=exc)) from exc


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


def save_tensors(path, tensors: dict, info: dict) -> Path:
    """Atomically write a dict of tensors (``torch.save``) with a checksummed ``.json`` sidecar.

    ``info`` (JSON-able provenance) goes into the sidecar, with the file's SHA-256.
    """
    path = Path(path)
    _atomic_write(path, lambda fh: torch.save(tensors, fh))
    _write_sidecar(path, _jsonable(info))
    return path


def load_tensors(path, *, mmap=False):
    """``(tensors, info)`` of a file written by :func:`save_tensors`, its checksum verified.

    Read with ``weights_only=True`` (nothing in the file runs); a file whose bytes no longer
    match the sidecar's checksum is refused with a ``ValueError``.
    """
    info = _verified_sidecar(path)
    return safe_torch_load(path, mmap=mmap), info


# ---------------------------------------------------------------------------- distillers
#: The archive entry of a saved distiller that holds its JSON description.
SAVED_KEY = "skdistill"
#: Version of the saved-distiller format (JSON description plus ``.npz`` arrays).
FORMAT_VERSION = 1


@main_process_writes
def save_estimator(estimator, path) -> Path:
    """Save a fitted distiller without pickle: JSON parameters and state, plus plain arrays.

    The file is an ``.npz`` archive (numpy's zip of ``.npy`` arrays) whose ``skdistill``
    entry holds the JSON; :func:`load` reads it with ``allow_pickle=False``.
    """
    from . import __version__

    path = Path(path)
    params = estimator.get_params(deep=False)
    state = {k: v for k, v in vars(estimator).items() if k not in params}
    try:
        data, arrays = encode({"params": params, "state": state}, "distiller")
    except UnsupportedValue as exc:
        raise ValueError(MSG_CANNOT_SAVE.format(detail=exc)) from None
    description = {
        "format": "skdistill-distiller",
        "format_version": FORMAT_VERSION,
        "skdistill_version": __version__,
        "class": type(estimator).__name__,
        "data": data,
    }
    text = json.dumps(description).encode("utf-8")
    arrays[SAVED_KEY] = np.frombuffer(text, dtype=np.uint8)
    _atomic_write(path, lambda fh: np.savez(fh, **arrays))
    _write_sidecar(path, provenance(estimator))
    return path


def load(path, *, trusted=False):
    """Load a distiller saved with :meth:`BarycentricDistiller.save`, verifying its checksum.

    The saved format is parameters and state as JSON plus plain arrays: loading rebuilds the
    distiller through its constructor and runs nothing from the file.

    Parameters
    ----------
    path : str or Path
        The saved file; its ``.json`` sidecar must sit beside it.
    trusted : bool, default=False
        Also load a pickled distiller (skdistill 0.x saves). Unpickling runs any code the file
        holds, and the checksum cannot tell a malicious file from a good one (whoever writes the
        file writes the sidecar): pass ``True`` only for files from someone you trust.

    Returns
    -------
    BarycentricDistiller
        The fitted distiller, on the CPU.
    """
    path = Path(path)
    _verified_sidecar(path)
    if not zipfile.is_zipfile(path):
        if not trusted:
            raise ValueError(MSG_PICKLED_DISTILLER.format(path=path))
        with open(path, "rb") as fh:
            return pickle.load(fh)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except ValueError as exc:  # an object array: it would need unpickling
        raise ValueError(MSG_UNSAFE_FILE.format(path=path, detail=exc)) from None
    if SAVED_KEY not in arrays:
        raise ValueError(MSG_NOT_A_DISTILLER.format(path=path, key=SAVED_KEY))
    description = json.loads(arrays.pop(SAVED_KEY).tobytes().decode("utf-8"))
    if description.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            MSG_NEWER_FORMAT.format(
                path=path,
                version=description["format_version"],
                by=description.get("skdistill_version"),
                supported=FORMAT_VERSION,
            )
        )
    from ._distiller import BarycentricDistiller

    classes = {"BarycentricDistiller": BarycentricDistiller}
    if description.get("class") not in classes:
        raise ValueError(MSG_NOT_A_DISTILLER.format(path=path, key=SAVED_KEY))
    saved = decode(description["data"], arrays)
    estimator = classes[description["class"]](**saved["params"])
    vars(estimator).update(saved["state"])
    return estimator


# ---------------------------------------------------------------------------- synthetic sets
@main_process_writes
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
        data = safe_torch_load(path)
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


def write_text_atomic(path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: a reader sees the old file or the new one."""
    _atomic_write(Path(path), lambda fh: fh.write(text.encode("utf-8")))
