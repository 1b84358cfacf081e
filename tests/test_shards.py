"""Data beyond RAM: tar shards by (class, group), memory-mapped arrays, batched Dataset reads."""

import numpy as np
import pandas as pd
import pytest
import torch

from skdistill import BarycentricDistiller
from skdistill._data import fit_codec, fit_codec_chunked
from skdistill.datasets import Shards, write_shards
from skdistill.datasets._shards import INDEX_JSON, MSG_NO_INDEX, MSG_OUT_DIR

pytest.importorskip("webdataset")

FIT = dict(ipc=2, n_iter=3, batch_real=8, net_width=4, net_depth=2, random_state=0)
FIT.update(device="cpu", n_threads=1)


def images():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(60, 8, 8, 3), dtype=np.uint8)
    return X, np.repeat(["cat", "dog", "owl"], 20), np.tile(["a", "b", "b"], 20)


def tabular():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 25)
    return rng.normal(size=(50, 3)) + y[:, None], y, np.tile([0, 1], 25)


def _synthetic(X, y=None, groups=None, **params):
    distiller = BarycentricDistiller(**{**FIT, **params})
    return distiller.fit(X, y, sensitive_features=groups).X_synthetic_


def test_shards_are_laid_out_by_class_and_group(tmp_path):
    X, y, groups = images()
    shards = write_shards(X, y, groups, tmp_path, max_per_shard=7)
    names = sorted(p.name for p in tmp_path.glob("*.tar"))
    # 3 classes x 2 groups; 20 samples per class split 7 a / 13 b: 1 + 2 shards per class
    assert len(names) == 9 and names[0] == "c0-g0-000000.tar"
    assert all(np.unique(shards.g_codes[shards.shard == k]).size == 1 for k in range(9))
    picked = np.array([59, 3, 31, 0, 3])
    np.testing.assert_array_equal(shards.read_raw(picked), X[picked])
    y_read, groups_read = shards.labels()
    np.testing.assert_array_equal(y_read, y)
    np.testing.assert_array_equal(groups_read, groups)


@pytest.mark.parametrize("target", ["cobra", "fairdd", "vanilla"])
def test_fit_on_shards_gives_the_in_memory_set(tmp_path, target):
    X, y, groups = images()
    write_shards(X, y, groups, tmp_path, max_per_shard=16)
    expected = _synthetic(X, y, groups, target=target)
    np.testing.assert_allclose(_synthetic(Shards(tmp_path), target=target), expected, atol=1e-5)


def test_shards_of_a_table_decode_to_its_container(tmp_path):
    X, y, groups = tabular()
    frame = pd.DataFrame(X, columns=["u", "v", "w"])
    write_shards(frame, y, groups, tmp_path)
    expected = _synthetic(frame, y, groups, method="dc", target="cobra")
    found = _synthetic(Shards(tmp_path), method="dc", target="cobra")
    assert list(found.columns) == ["u", "v", "w"]
    np.testing.assert_allclose(found.to_numpy(), expected.to_numpy(), atol=1e-5)


def test_memmap_gives_the_in_memory_set(tmp_path):
    X, y, groups = images()
    np.save(tmp_path / "x.npy", X)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    expected = _synthetic(X, y, groups, target="cobra")
    np.testing.assert_allclose(_synthetic(mapped, y, groups, target="cobra"), expected, atol=1e-5)


@pytest.mark.parametrize("make", [images, tabular])
def test_chunked_statistics_are_the_in_memory_ones(make, monkeypatch):
    import skdistill._data as data

    X = make()[0]
    monkeypatch.setattr(data, "STATS_CHUNK_BYTES", 7 * 8 * int(np.prod(X.shape[1:])))
    whole, chunked = fit_codec(X), fit_codec_chunked(X)
    np.testing.assert_allclose(chunked.mean, whole.mean, rtol=1e-12)
    np.testing.assert_allclose(chunked.scale, whole.scale, rtol=1e-10)
    assert (chunked.kind, chunked.layout, chunked.value_range, chunked.dtype) == (
        whole.kind,
        whole.layout,
        whole.value_range,
        whole.dtype,
    )


class BatchedDataset(torch.utils.data.Dataset):
    """A Dataset with torch's batched fetch protocol, counting the calls."""

    def __init__(self, X, y):
        self.X, self.y, self.calls = torch.as_tensor(X), y, {"item": 0, "batch": 0}

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        self.calls["item"] += 1
        return self.X[i], self.y[i]

    def __getitems__(self, indices):
        self.calls["batch"] += 1
        return [(self.X[i], self.y[i]) for i in indices]


def test_datasets_are_read_batch_by_batch():
    X, y, groups = tabular()
    dataset = BatchedDataset(X.astype(np.float32), y)
    found = _synthetic(dataset, y, groups, target="cobra")
    expected = _synthetic(torch.as_tensor(X.astype(np.float32)), y, groups, target="cobra")
    np.testing.assert_allclose(found, expected, atol=1e-5)
    assert dataset.calls["batch"] >= FIT["n_iter"]
    # items read one by one: the first and the statistics sample, before the fit starts
    assert dataset.calls["item"] <= 1 + len(dataset)


def test_shard_folder_errors(tmp_path):
    X, y, groups = tabular()
    with pytest.raises(ValueError) as info:
        Shards(tmp_path)
    assert str(info.value) == MSG_NO_INDEX.format(folder=tmp_path, name=INDEX_JSON)
    write_shards(X, y, groups, tmp_path)
    with pytest.raises(ValueError) as info:
        write_shards(X, y, groups, tmp_path)
    assert str(info.value) == MSG_OUT_DIR.format(folder=tmp_path, name=INDEX_JSON)
    with pytest.raises(ValueError, match="max_per_shard"):
        write_shards(X, y, groups, tmp_path, max_per_shard=0, overwrite=True)
