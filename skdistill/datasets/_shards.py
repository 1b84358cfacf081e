"""Training sets on disk as WebDataset tar shards laid out by (class, group).

:func:`write_shards` writes any input a distiller fits on as POSIX tar files in the
`WebDataset <https://github.com/webdataset/webdataset>`_ layout (one ``<key>.x.npy`` member per
sample, with its ``.cls`` and ``.grp.txt``), every shard holding the samples of one (class, group)
cell, plus an index. Tar shards are the common currency of large training sets: they are
written and read sequentially at disk speed, copied and sharded by standard tools, and read by
WebDataset's own loaders for training models on the same files.

:class:`Shards` reads them back as lazy samples that a distiller fits on: the index gives the
byte offset of every sample, so a stratified batch reads exactly its samples, from the shards
of their cells, in one pass per shard in file order; memory holds one batch. The
standardisation is computed exactly when the shards are written and kept in the index, so a
fit on the shards draws the same batches and gives the in-memory fit's synthetic set.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .._data import (
    ArraySamples,
    LazySamples,
    check_lengths,
    encode_groups,
    encode_labels,
    fit_codec,
    fit_codec_chunked,
    read_dataset,
    spaced_positions,
)
from .._optional import import_optional
from .._serialize import decode, encode

#: File names of the index in a shard folder.
INDEX_JSON, INDEX_ARRAYS = "index.json", "index.npz"
#: Version of the shard layout written by :func:`write_shards`.
LAYOUT_VERSION = 1

MSG_NO_INDEX = (
    "{folder} holds no shard index ({name}); write the shards with "
    "skdistill.datasets.write_shards(X, y, sensitive_features, out_dir)."
)
MSG_SHARD_SIZE = "max_per_shard must be a positive integer; got {got!r}."
MSG_OUT_DIR = (
    "out_dir {folder} already holds shards (an {name}); pass an empty or new folder, or "
    "overwrite=True to replace them."
)


def _raw_reader(X, y, sensitive_features):
    """``(raw samples, y, sensitive_features)`` of any input a distiller takes.

    The raw samples are lazy samples (with the input's codec) whose ``read_raw`` gives the
    input's own values.
    """
    if isinstance(X, Dataset):
        return read_dataset(X, y, sensitive_features)[:3]
    if isinstance(X, np.memmap):
        return ArraySamples(X, fit_codec_chunked(X)), y, sensitive_features
    codec = fit_codec(X)
    if torch.is_tensor(X):
        values = X.detach().cpu().numpy()
    else:
        values = X.to_numpy(dtype=np.float64) if hasattr(X, "to_numpy") else np.asarray(X)
    return ArraySamples(values, codec), y, sensitive_features


def write_shards(
    X, y=None, sensitive_features=None, out_dir="shards", *, max_per_shard=10000, overwrite=False
):
    """Write a training set as WebDataset tar shards laid out by (class, group).

    Parameters
    ----------
    X : array-like, DataFrame, Tensor, memory-mapped array or torch Dataset
        The samples, as :meth:`BarycentricDistiller.fit` takes them.
    y : array-like of shape (n_samples,), default=None
        Class labels (read from the items of a Dataset when None).
    sensitive_features : array-like, default=None
        Protected groups (one or several columns); None puts every sample in one group.
    out_dir : str or Path, default="shards"
        Folder of the shards (``c<class>-g<group>-<n>.tar``) and their index.
    max_per_shard : int, default=10000
        Samples per tar file at most.
    overwrite : bool, default=False
        Replace the shards of a folder that already holds an index.

    Returns
    -------
    Shards
        The written shards, ready to be passed to ``fit``.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from skdistill.datasets import write_shards
    >>> X, y = np.random.default_rng(0).normal(size=(20, 3)), np.repeat([0, 1], 10)
    >>> shards = write_shards(X, y, np.tile(["a", "b"], 10), tempfile.mkdtemp())
    >>> shards.shape, np.allclose(shards[[3, 1]].numpy().std(), 1, atol=0.5)
    ((20, 3), True)
    """
    wds = import_optional("webdataset", "stream", "write_shards")
    if not isinstance(max_per_shard, int) or max_per_shard < 1:
        raise ValueError(MSG_SHARD_SIZE.format(got=max_per_shard))
    folder = Path(out_dir)
    if (folder / INDEX_JSON).exists() and not overwrite:
        raise ValueError(MSG_OUT_DIR.format(folder=folder, name=INDEX_JSON))
    folder.mkdir(parents=True, exist_ok=True)
    raw, y, sensitive_features = _raw_reader(X, y, sensitive_features)
    check_lengths(X=raw, y=y, sensitive_features=sensitive_features)
    classes, y_codes = encode_labels(y)
    groups, g_codes = encode_groups(sensitive_features, y_codes.shape[0])
    files = []
    for cls, grp in sorted(set(zip(y_codes.tolist(), g_codes.tolist()))):
        members = np.flatnonzero((y_codes == cls) & (g_codes == grp))
        pattern = str(folder / f"c{cls}-g{grp}-%06d.tar")
        with wds.ShardWriter(pattern, maxcount=max_per_shard, verbose=0) as sink:
            for start in range(0, members.shape[0], max_per_shard):
                part = members[start : start + max_per_shard]
                for position, x in zip(part, np.asarray(raw.read_raw(part))):
                    sink.write(
                        {"__key__": f"{position:012d}", "x.npy": x, "cls": cls, "grp.txt": str(grp)}
                    )
        files += sorted(p.name for p in folder.glob(f"c{cls}-g{grp}-*.tar"))
    _write_index(folder, files, raw.codec, classes, groups, y_codes, g_codes)
    return Shards(folder)


def _member_offsets(path):
    """``(positions, offsets, sizes)`` of the ``x.npy`` members of one tar shard."""
    positions, offsets, sizes = [], [], []
    with tarfile.open(path) as tar:
        for member in tar:
            key, _, ext = member.name.partition(".")
            if ext == "x.npy":
                positions.append(int(key))
                offsets.append(member.offset_data)
                sizes.append(member.size)
    return positions, offsets, sizes


def _write_index(folder, files, codec, classes, groups, y_codes, g_codes):
    """The index: every sample's shard, byte offset and size, the codes and the codec."""
    n = y_codes.shape[0]
    shard = np.full(n, -1, dtype=np.int64)
    offset, size = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    for k, name in enumerate(files):
        positions, offsets, sizes = _member_offsets(folder / name)
        shard[positions], offset[positions], size[positions] = k, offsets, sizes
    meta, arrays = encode({"codec": codec, "classes": classes, "groups": groups}, "shards")
    per_sample = dict(shard=shard, offset=offset, size=size, y_codes=y_codes, g_codes=g_codes)
    np.savez(folder / INDEX_ARRAYS, **arrays, **{f"sample_{k}": v for k, v in per_sample.items()})
    index = {"version": LAYOUT_VERSION, "n_samples": int(n), "files": files, "meta": meta}
    (folder / INDEX_JSON).write_text(json.dumps(index, indent=1), encoding="utf-8")


class _NpyHeader:
    """The header of an ``.npy`` member (numpy's format module): its bytes, dtype and shape."""

    def __init__(self, raw):
        stream = io.BytesIO(raw)
        version = np.lib.format.read_magic(stream)
        read = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }.get(version)
        if read is None:
            raise ValueError(f"shard member in .npy format version {version} is not supported")
        self.shape, fortran, self.dtype = read(stream)
        if fortran:
            raise ValueError("shard members must be C-ordered .npy arrays")
        self.prefix = raw[: stream.tell()]

    def values(self, raw):
        """The array of a member whose header is :attr:`prefix`."""
        return np.frombuffer(raw, dtype=self.dtype, offset=len(self.prefix)).reshape(self.shape)


class Shards(LazySamples):
    """Samples stored by :func:`write_shards`, read on demand from their tar shards.

    Pass it to ``fit`` as ``X`` (``y`` and ``sensitive_features`` are then read from the
    index unless given). A batch is read shard by shard, each shard opened once and read in
    file order at the samples' byte offsets.

    Parameters
    ----------
    folder : str or Path
        The folder written by :func:`write_shards`.

    Attributes
    ----------
    files : list of Path
        The tar shards.
    classes, groups : ndarray
        Class labels and group names; ``y_codes`` and ``g_codes`` index them per sample.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        if not (self.folder / INDEX_JSON).is_file():
            raise ValueError(MSG_NO_INDEX.format(folder=self.folder, name=INDEX_JSON))
        index = json.loads((self.folder / INDEX_JSON).read_text(encoding="utf-8"))
        with np.load(self.folder / INDEX_ARRAYS, allow_pickle=False) as stored:
            arrays = dict(stored)
        meta = decode(index["meta"], arrays)
        self.files = [self.folder / name for name in index["files"]]
        self.classes, self.groups = meta["classes"], meta["groups"]
        self.shard, self.offset, self.size = (
            arrays[f"sample_{k}"] for k in ("shard", "offset", "size")
        )
        self.y_codes, self.g_codes = arrays["sample_y_codes"], arrays["sample_g_codes"]
        n = index["n_samples"]
        super().__init__(meta["codec"], n, spaced_positions(n))

    def labels(self):
        """``(y, sensitive_features)`` of every sample, as written."""
        return self.classes[self.y_codes], self.groups[self.g_codes]

    def read_raw(self, index):
        """The stored values at ``index``: one pass per shard, in file order.

        Every member is an ``.npy`` file; its header is parsed once per batch and the values
        of the others are read with ``np.frombuffer`` when their header is the same bytes.
        """
        out, header = None, None
        order = np.lexsort((self.offset[index], self.shard[index]))
        shards = self.shard[index[order]]
        for k in np.unique(shards):
            with open(self.files[k], "rb") as f:
                for slot in order[shards == k]:
                    f.seek(self.offset[index[slot]])
                    raw = f.read(self.size[index[slot]])
                    if header is None or not raw.startswith(header.prefix):
                        header = _NpyHeader(raw)
                    if out is None:
                        out = np.empty((index.shape[0], *header.shape), dtype=header.dtype)
                    out[slot] = header.values(raw)
        return out

    def fingerprint_parts(self):
        """The sample of :class:`LazySamples` and the per-sample offsets."""
        return super().fingerprint_parts() + [torch.as_tensor(self.offset)]
