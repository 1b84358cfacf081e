"""Embedded loaders offline, and local-folder loaders on fixture files written here."""

import pickle
import struct

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from skdistill.cli import main
from skdistill.datasets import (
    german_preprocessor,
    load_bffhq,
    load_celeba,
    load_cifar10s,
    load_colored_digits,
    load_colored_fmnist,
    load_colored_mnist,
    load_german,
    load_utkface,
)


# ---------------------------------------------------------------- embedded
@pytest.mark.parametrize("variant", ["bg", "fg"])
def test_colored_digits_counts_skew_and_balanced_test(variant):
    b = load_colored_digits(variant)
    assert b.X_train.shape[1:] == (3, 8, 8) and b.X_train.dtype == np.uint8
    assert b.X_train.shape[0] + b.X_test.shape[0] // 5 == 1797
    counts = pd.crosstab(b.y_train, b.sensitive_features_train)
    assert counts.shape == (10, 5) and (counts > 0).all().all()  # every cell populated
    for cls in range(10):
        row = counts.loc[cls]
        assert row[b.color_names[cls % 5]] / row.sum() == pytest.approx(0.9, abs=0.01)
    test = pd.crosstab(b.y_test, b.sensitive_features_test)
    assert (test.nunique(axis=1) == 1).all()  # each digit in every colour


def test_colored_digits_skew_is_settable_and_checked():
    b = load_colored_digits(skew=0.6, n_colors=3)
    counts = pd.crosstab(b.y_train, b.sensitive_features_train)
    assert (counts.max(axis=1) / counts.sum(axis=1)).round(2).between(0.59, 0.61).all()
    with pytest.raises(ValueError, match="n_colors"):
        load_colored_digits(n_colors=11)


@pytest.mark.parametrize("sensitive", ["sex", "age"])
def test_german_loads_offline_with_stratified_split(sensitive):
    b = load_german(sensitive=sensitive)
    assert b.X_train.shape == (700, 20) and b.X_test.shape == (300, 20)
    assert set(b.y_train) == {"good", "bad"}
    assert b.y_train.value_counts()["good"] == 490  # 70 % good, as in the full data
    share_train = b.sensitive_features_train.value_counts(normalize=True)
    share_test = b.sensitive_features_test.value_counts(normalize=True)
    assert (share_train - share_test).abs().max() < 0.01
    assert german_preprocessor().fit_transform(b.X_train).shape == (700, 61)
    assert not b.X_train.isna().any().any()


def test_german_intersectional_and_errors():
    b = load_german(sensitive=["sex", "age"])
    assert list(b.sensitive_features_train.columns) == ["sex", "age"]
    with pytest.raises(ValueError, match="sensitive must be"):
        load_german(sensitive="race")


# ---------------------------------------------------------------- fixture writers
def write_idx(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    magic = 0x0803 if array.ndim == 3 else 0x0801
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root, folder, n_train=60, n_test=20):
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        raw = root / folder / "raw"
        write_idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{split}-labels-idx1-ubyte", np.arange(n) % 10)


def write_cifar(root, n_per_batch=20, n_test=20):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else n_per_batch
        entry = {
            "data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            "labels": list(np.arange(n) % 10),
        }
        (folder / name).write_bytes(pickle.dumps(entry))
    meta = {"label_names": [f"c{i}" for i in range(10)]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))


def write_image(seed, path, size=20):
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


# ---------------------------------------------------------------- folder loaders
@pytest.mark.parametrize("loader, folder", [("mnist", "MNIST"), ("fmnist", "FashionMNIST")])
def test_colored_mnist_and_fmnist_from_torchvision_files(tmp_path, loader, folder):
    write_mnist(tmp_path, folder)
    if loader == "mnist":
        b = load_colored_mnist("fg", root=tmp_path)
    else:
        b = load_colored_fmnist(tmp_path, "bg")
    assert b.X_train.shape == (60, 3, 28, 28) and b.X_test.shape == (20, 3, 28, 28)
    counts = pd.crosstab(b.y_train, b.sensitive_features_train)
    np.testing.assert_allclose(counts.max(axis=1) / counts.sum(axis=1), 5 / 6)  # round(0.9 * 6)
    test = pd.crosstab(b.y_test, b.sensitive_features_test)
    assert test.to_numpy().max() == 1  # two test digits per class, in two different colours


def test_cifar10s_skew_and_duplicated_test(tmp_path):
    write_cifar(tmp_path)
    b = load_cifar10s(tmp_path, skew=0.9)
    assert b.X_train.shape == (100, 3, 32, 32) and b.X_test.shape == (40, 3, 32, 32)
    gray = b.sensitive_features_train == "gray"
    for cls in range(10):
        share = gray[b.y_train == cls].mean()
        assert share == pytest.approx(0.9 if cls < 5 else 0.1, abs=0.01)
    x = b.X_train[gray]
    assert (x[:, 0] == x[:, 1]).all() and (x[:, 1] == x[:, 2]).all()  # grayscale images
    assert (b.sensitive_features_test == "gray").sum() == 20
    np.testing.assert_array_equal(b.y_test[:20], b.y_test[20:])


def test_utkface_parses_names_and_balances_test(tmp_path):
    ages, k = [5, 25, 50], 0
    for age in ages:
        for race in range(5):
            for j in range(4):
                write_image(k, tmp_path / f"{age + j}_{j % 2}_{race}_2017{k}.jpg.chip.jpg")
                k += 1
    (tmp_path / "broken_name.jpg").write_bytes(b"")
    b = load_utkface(tmp_path, image_size=16, n_test_per_cell=1)
    assert b.X_train.shape[1:] == (3, 16, 16)
    assert b.n_skipped == 3 * 4 + 1  # race 4 and the unparseable file
    assert set(b.y_train) == {0, 1, 2} and set(b.sensitive_features_train) == {0, 1, 2, 3}
    test = pd.crosstab(b.y_test, b.sensitive_features_test)
    assert test.shape == (3, 4) and (test.to_numpy() == 1).all()


def test_bffhq_reads_align_conflict_and_test(tmp_path):
    for sub, n in (("train/align", 6), ("train/conflict", 2), ("test", 4)):
        (tmp_path / sub).mkdir(parents=True)
        for i in range(n):
            label = i % 2
            group = label if sub == "train/align" else 1 - label
            write_image(i, tmp_path / sub / f"{i}_{label}_{group}.png")
    b = load_bffhq(tmp_path, image_size=8)
    assert b.X_train.shape == (8, 3, 8, 8) and b.X_test.shape == (4, 3, 8, 8)
    assert b.conflicting_train.sum() == 2
    aligned = ~b.conflicting_train
    assert (b.y_train[aligned] == b.sensitive_features_train[aligned]).all()


def test_celeba_selects_any_attribute_pair(tmp_path):
    base = tmp_path / "celeba"
    (base / "img_align_celeba").mkdir(parents=True)
    n = 8
    names = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    for i, name in enumerate(names):
        write_image(i, base / "img_align_celeba" / name)
    attrs = ["Attractive", "Male", "Young"]
    rows = [
        f"{name} " + " ".join("1" if (i + j) % 2 else "-1" for j in range(3))
        for i, name in enumerate(names)
    ]
    (base / "list_attr_celeba.txt").write_text(f"{n}\n{' '.join(attrs)}\n" + "\n".join(rows))
    (base / "list_eval_partition.txt").write_text(
        "\n".join(f"{name} {0 if i < 6 else 2}" for i, name in enumerate(names))
    )
    (base / "identity_CelebA.txt").write_text("\n".join(f"{name} 1" for name in names))
    (base / "list_bbox_celeba.txt").write_text(
        f"{n}\nimage_id x_1 y_1 width height\n" + "\n".join(f"{x} 0 0 1 1" for x in names)
    )
    (base / "list_landmarks_align_celeba.txt").write_text(
        f"{n}\nlefteye_x lefteye_y\n" + "\n".join(f"{x} 1 1" for x in names)
    )
    b = load_celeba(tmp_path, target="Young", sensitive="Male", image_size=8)
    assert b.X_train.shape == (6, 3, 8, 8) and b.X_test.shape == (2, 3, 8, 8)
    np.testing.assert_array_equal(b.y_train, [i % 2 for i in range(6)])  # Young = (i + 2) % 2
    np.testing.assert_array_equal(b.sensitive_features_train, [(i + 1) % 2 for i in range(6)])
    with pytest.raises(ValueError, match="not a CelebA attribute"):
        load_celeba(tmp_path, target="Smiling")


@pytest.mark.parametrize(
    "call, layout",
    [
        (lambda r: load_colored_mnist(root=r), "MNIST/raw"),
        (lambda r: load_colored_fmnist(r), "FashionMNIST/raw"),
        (lambda r: load_cifar10s(r), "cifar-10-batches-py"),
        (lambda r: load_utkface(r), "<age>_<gender>_<race>"),
        (lambda r: load_bffhq(r), "train/align"),
        (lambda r: load_celeba(r), "img_align_celeba"),
    ],
)
def test_missing_folders_name_the_path_and_layout(tmp_path, call, layout):
    root = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError) as info:
        call(root)
    message = str(info.value)
    assert str(root) in message and layout in message and "never downloads" in message


def test_datasets_command_lists_offline_and_folder_loaders(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in ("colored_digits", "german", "adult", "cifar10s", "utkface", "bffhq", "celeba"):
        assert name in out
    assert "Embedded" in out and "local folder" in out
