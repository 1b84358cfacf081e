"""Benchmarks read from a local folder: nothing is downloaded unless ``download=True``.

Each loader says, when its files are missing, where it looked and which layout it expects.
MNIST, Fashion-MNIST, CIFAR-10 and CelebA are read with torchvision's dataset classes;
torchvision's checksum test of downloaded archives is replaced by a test that the expected
files exist, so a folder prepared by hand (or a subset of it) is accepted.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch, check_random_state

from .._optional import import_optional
from ._colors import PALETTE, colored_bunch

MSG_MISSING = (
    "{name} was not found under root={root!r}: expected {layout}. Put the files there "
    "(skdistill never downloads them by itself){download}."
)
DOWNLOAD_HINT = ", or pass download=True to let torchvision fetch them (needs internet)"

LAYOUTS = {
    "MNIST": "<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (torchvision layout)",
    "FashionMNIST": "<root>/FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte "
    "(torchvision layout)",
    "CIFAR-10": "<root>/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} "
    "(the python version of CIFAR-10)",
    "UTKFace": "<root>/<age>_<gender>_<race>_<date>.jpg[.chip.jpg] image files (the aligned "
    "and cropped faces)",
    "BFFHQ": "<root>/train/align/*.png, <root>/train/conflict/*.png and <root>/test/*.png, "
    "named <id>_<label>_<group>.png",
    "CelebA": "<root>/celeba/img_align_celeba/*.jpg with list_attr_celeba.txt, "
    "list_eval_partition.txt, identity_CelebA.txt, list_bbox_celeba.txt and "
    "list_landmarks_align_celeba.txt beside it (torchvision layout)",
}


def _missing(name, root, download_possible):
    return FileNotFoundError(
        MSG_MISSING.format(
            name=name,
            root=str(root),
            layout=LAYOUTS[name],
            download=DOWNLOAD_HINT if download_possible else "",
        )
    )


def _read_images(paths, size):
    """Decode image files into one uint8 ``(N, 3, size, size)`` array (antialiased resize)."""
    Image = import_optional("PIL.Image", "datasets", "reading image files")
    out = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
        out[i] = np.asarray(rgb).transpose(2, 0, 1)
    return out


# ---------------------------------------------------------------------------- MNIST / FMNIST
def _torchvision_digits(name, root, download):
    from torchvision import datasets

    cls = {"MNIST": datasets.MNIST, "FashionMNIST": datasets.FashionMNIST}[name]
    try:
        train = cls(root, train=True, download=download)
        test = cls(root, train=False, download=download)
    except RuntimeError as exc:
        raise _missing(name, root, True) from exc
    return train.data.numpy(), train.targets.numpy(), test.data.numpy(), test.targets.numpy()


def load_colored_fmnist(root, variant="bg", *, skew=0.9, download=False, random_state=0):
    """Colored Fashion-MNIST (FG/BG) at full size, from Fashion-MNIST files in ``root``.

    Parameters
    ----------
    root : str or Path
        Folder holding ``FashionMNIST/raw/`` in torchvision's layout.
    variant : {"bg", "fg"}, default="bg"
        Colour the background or the object.
    skew : float in [0, 1], default=0.9
        Fraction of every training class in its majority colour.
    download : bool, default=False
        Let torchvision download the files when they are missing (needs internet).
    random_state : int, default=0
        Seed of the colour assignment.

    Returns
    -------
    Bunch
        As :func:`load_colored_mnist`; the 10,000 test images get one colour each, cycling
        within each class, so every (class, colour) cell holds the same count (up to one).
    """
    return _colored_from_folder("FashionMNIST", root, variant, skew, download, random_state)


def _colored_from_folder(name, root, variant, skew, download, random_state):
    d_train, y_train, d_test, y_test = _torchvision_digits(name, root, download)
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
    return colored_bunch(
        d_train,
        y_train,
        d_test,
        y_test,
        variant=variant,
        skew=skew,
        rng=rng,
        test_colors="cycle",
        descr=f"Colored {name} ({variant}) from {root}: {len(y_train)} training images with "
        f"skew={skew}, {len(y_test)} colour-balanced test images, {len(PALETTE)} colours.",
    )


# ---------------------------------------------------------------------------- CIFAR10-S
def _cifar10(root, download):
    from torchvision.datasets import CIFAR10

    class LocalCIFAR10(CIFAR10):
        """CIFAR10 that accepts any folder holding the expected files."""

        def _check_integrity(self):
            folder = Path(self.root) / self.base_folder
            return all((folder / f).is_file() for f, _ in self.train_list + self.test_list)

        def _load_meta(self):
            path = Path(self.root) / self.base_folder / self.meta["filename"]
            if not path.is_file():
                raise RuntimeError("metadata missing")
            with open(path, "rb") as file:
                data = pickle.load(file, encoding="latin1")
            self.classes = data[self.meta["key"]]
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    try:
        train = LocalCIFAR10(root, train=True, download=download)
        test = LocalCIFAR10(root, train=False, download=download)
    except RuntimeError as exc:
        raise _missing("CIFAR-10", root, True) from exc
    return train, test


def _grayscale(images):
    """uint8 ``(N, 3, H, W)`` images turned to grayscale (ITU-R 601 luma), kept on 3 channels."""
    luma = np.tensordot(np.array([0.299, 0.587, 0.114]), images.astype(np.float64), ([0], [1]))
    return np.repeat(np.clip(np.rint(luma), 0, 255).astype(np.uint8)[:, None], 3, axis=1)


def load_cifar10s(root, *, skew=0.9, download=False, random_state=0):
    """CIFAR10-S: CIFAR-10 with a grayscale/colour bias, from the files in ``root``.

    Classes 0-4 are grayscale for a ``skew`` fraction of their training images (colour
    otherwise); classes 5-9 are in colour for a ``skew`` fraction (grayscale otherwise). The
    test set holds every test image twice, in colour and in grayscale, so it is balanced.

    Parameters
    ----------
    root : str or Path
        Folder holding ``cifar-10-batches-py/`` (the python version of CIFAR-10).
    skew : float in [0, 1], default=0.9
        Majority-group fraction of every class.
    download : bool, default=False
        Let torchvision download CIFAR-10 when missing (needs internet).
    random_state : int, default=0
        Seed of which images are grayscale.

    Returns
    -------
    Bunch
        ``X_train`` (uint8 ``(N, 3, 32, 32)``), ``y_train``, ``sensitive_features_train``
        (``"gray"``/``"color"``), ``X_test``, ``y_test``, ``sensitive_features_test``,
        ``classes``, ``DESCR``.
    """
    if not 0.0 <= skew <= 1.0:
        raise ValueError(f"skew must lie in [0, 1]; got {skew}.")
    train, test = _cifar10(root, download)
    X = train.data.transpose(0, 3, 1, 2)
    y = np.asarray(train.targets, dtype=np.int64)
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
    gray = np.zeros(y.shape[0], dtype=bool)
    for cls in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == cls))
        n_major = int(round(skew * members.shape[0]))
        majority_gray = cls < 5
        gray[members[:n_major]] = majority_gray
        gray[members[n_major:]] = not majority_gray
    X_train = X.copy()
    X_train[gray] = _grayscale(X[gray])
    X_test = test.data.transpose(0, 3, 1, 2)
    y_test = np.asarray(test.targets, dtype=np.int64)
    n_test = y_test.shape[0]
    return Bunch(
        X_train=X_train,
        y_train=y,
        sensitive_features_train=np.where(gray, "gray", "color").astype(object),
        X_test=np.concatenate([X_test, _grayscale(X_test)]),
        y_test=np.concatenate([y_test, y_test]),
        sensitive_features_test=np.array(["color"] * n_test + ["gray"] * n_test, dtype=object),
        classes=list(train.classes),
        DESCR=f"CIFAR10-S from {root}: classes 0-4 grayscale-majority, 5-9 colour-majority "
        f"(skew={skew}); test set in both versions ({2 * n_test} images).",
    )


# ---------------------------------------------------------------------------- UTKFace
UTK_PATTERN = re.compile(r"^(\d+)_([01])_([0-4])_")
AGE_BINS = ("<20", "20-39", ">=40")


def _balanced_test(labels, groups, per_cell, rng):
    """Boolean test mask with ``per_cell`` samples of every (label, group) cell (at most half)."""
    test = np.zeros(labels.shape[0], dtype=bool)
    for lab in np.unique(labels):
        for grp in np.unique(groups):
            members = rng.permutation(np.flatnonzero((labels == lab) & (groups == grp)))
            test[members[: min(per_cell, members.shape[0] // 2)]] = True
    return test


def load_utkface(root, *, image_size=32, n_test_per_cell=100, random_state=0):
    """UTKFace: age group (<20, 20-39, >=40) as the label, race (0-3) as the group.

    Reads the aligned-and-cropped faces in ``root`` (file names ``age_gender_race_*``);
    files with another name, and race 4 ("others"), are skipped. The test split holds
    ``n_test_per_cell`` faces of every (age group, race) cell (at most half of the cell), so
    it is balanced; the rest is the training split.

    Parameters
    ----------
    root : str or Path
        Folder of the UTKFace image files.
    image_size : int, default=32
        Side of the (square) returned images.
    n_test_per_cell : int, default=100
        Test faces per (age group, race) cell.
    random_state : int, default=0
        Seed of the split.

    Returns
    -------
    Bunch
        ``X_train``/``X_test`` (uint8 ``(N, 3, image_size, image_size)``), ``y_train``/``y_test``
        (age-group codes 0-2), ``sensitive_features_train``/``_test`` (race codes 0-3),
        ``age_bins``, ``n_skipped``, ``DESCR``.
    """
    folder = Path(root)
    files = sorted(p for p in folder.glob("*.jpg*")) if folder.is_dir() else []
    parsed = [(p, UTK_PATTERN.match(p.name)) for p in files]
    kept = [(p, m) for p, m in parsed if m and m.group(3) != "4"]
    if not kept:
        raise _missing("UTKFace", root, False)
    ages = np.array([int(m.group(1)) for _, m in kept])
    labels = np.digitize(ages, [20, 40]).astype(np.int64)
    groups = np.array([int(m.group(3)) for _, m in kept], dtype=np.int64)
    images = _read_images([p for p, _ in kept], image_size)
    rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
    test = _balanced_test(labels, groups, n_test_per_cell, rng)
    return Bunch(
        X_train=images[~test],
        y_train=labels[~test],
        sensitive_features_train=groups[~test],
        X_test=images[test],
        y_test=labels[test],
        sensitive_features_test=groups[test],
        age_bins=AGE_BINS,
        n_skipped=len(files) - len(kept),
        DESCR=f"UTKFace from {root}: {len(kept)} faces (label: age group {AGE_BINS}; group: "
        f"race 0-3), {int(test.sum())} in the balanced test split.",
    )


# ---------------------------------------------------------------------------- BFFHQ
BFFHQ_PATTERN = re.compile(r"_(\d+)_(\d+)\.(png|jpg|jpeg)$", re.IGNORECASE)


def _bffhq_files(folder):
    files = sorted(p for p in folder.rglob("*") if BFFHQ_PATTERN.search(p.name))
    labels = np.array([int(BFFHQ_PATTERN.search(p.name).group(1)) for p in files], dtype=np.int64)
    groups = np.array([int(BFFHQ_PATTERN.search(p.name).group(2)) for p in files], dtype=np.int64)
    return files, labels, groups


def load_bffhq(root, *, image_size=32):
    """BFFHQ: age (young/old) as the label, gender as the group, bias-aligned training data.

    The training split is ``root/train/align`` (bias-aligned) plus ``root/train/conflict``
    (bias-conflicting); the test split is ``root/test``. Label and group are the last two
    numbers of each file name, ``<id>_<label>_<group>.png``.

    Parameters
    ----------
    root : str or Path
        The BFFHQ folder.
    image_size : int, default=32
        Side of the returned images.

    Returns
    -------
    Bunch
        ``X_train``/``X_test`` (uint8 ``(N, 3, image_size, image_size)``),
        ``y_train``/``y_test``, ``sensitive_features_train``/``_test``, ``conflicting_train``
        (mask of the bias-conflicting training images), ``DESCR``.
    """
    folder = Path(root)
    parts = {}
    for name, sub in (("align", "train/align"), ("conflict", "train/conflict"), ("test", "test")):
        files, labels, groups = _bffhq_files(folder / sub) if (folder / sub).is_dir() else ([],) * 3
        if name != "conflict" and not len(files):
            raise _missing("BFFHQ", root, False)
        parts[name] = (
            list(files),
            np.asarray(labels, dtype=np.int64),
            np.asarray(groups, dtype=np.int64),
        )
    train_files = parts["align"][0] + parts["conflict"][0]
    conflicting = np.r_[
        np.zeros(len(parts["align"][0]), bool), np.ones(len(parts["conflict"][0]), bool)
    ]
    return Bunch(
        X_train=_read_images(train_files, image_size),
        y_train=np.concatenate([parts["align"][1], parts["conflict"][1]]),
        sensitive_features_train=np.concatenate([parts["align"][2], parts["conflict"][2]]),
        X_test=_read_images(parts["test"][0], image_size),
        y_test=parts["test"][1],
        sensitive_features_test=parts["test"][2],
        conflicting_train=conflicting,
        DESCR=f"BFFHQ from {root}: {len(train_files)} training faces "
        f"({int(conflicting.sum())} bias-conflicting), {len(parts['test'][0])} test faces.",
    )


# ---------------------------------------------------------------------------- CelebA
def load_celeba(
    root,
    *,
    target="Attractive",
    sensitive="Male",
    image_size=32,
    max_train=None,
    max_test=None,
    download=False,
    random_state=0,
):
    """CelebA with any binary attribute as the label and another as the group.

    Parameters
    ----------
    root : str or Path
        Folder holding ``celeba/`` in torchvision's layout.
    target, sensitive : str, default="Attractive", "Male"
        Attribute names (as in ``list_attr_celeba.txt``) of the label and the group.
    image_size : int, default=32
        Side of the returned (resized, not cropped) images.
    max_train, max_test : int or None
        Read at most this many images of each split (a random subset), for speed.
    download : bool, default=False
        Let torchvision download CelebA when missing (needs internet).
    random_state : int, default=0
        Seed of the subsets.

    Returns
    -------
    Bunch
        ``X_train``/``X_test`` (uint8 images), ``y_train``/``y_test`` and
        ``sensitive_features_train``/``_test`` (0/1 attribute values), ``attributes``
        (every attribute name), ``DESCR``.
    """
    from torchvision.datasets import CelebA

    class LocalCelebA(CelebA):
        """CelebA that accepts any folder holding the expected files."""

        def _check_integrity(self):
            base = Path(self.root) / self.base_folder
            files = [f for _, _, f in self.file_list if not f.endswith((".zip", ".7z"))]
            return (base / "img_align_celeba").is_dir() and all((base / f).is_file() for f in files)

    rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
    out = {}
    for split, limit in (("train", max_train), ("test", max_test)):
        try:
            data = LocalCelebA(root, split=split, target_type="attr", download=download)
        except RuntimeError as exc:
            raise _missing("CelebA", root, True) from exc
        names = list(data.attr_names)
        for attr, what in ((target, "target"), (sensitive, "sensitive")):
            if attr not in names:
                raise ValueError(
                    f"{what}={attr!r} is not a CelebA attribute; choose from {names[:40]}."
                )
        index = np.arange(len(data))
        if limit is not None and limit < index.shape[0]:
            index = np.sort(rng.choice(index, limit, replace=False))
        base = Path(data.root) / data.base_folder / "img_align_celeba"
        out[split] = (
            _read_images([base / data.filename[i] for i in index], image_size),
            data.attr[index, names.index(target)].numpy().astype(np.int64),
            data.attr[index, names.index(sensitive)].numpy().astype(np.int64),
        )
    return Bunch(
        X_train=out["train"][0],
        y_train=out["train"][1],
        sensitive_features_train=out["train"][2],
        X_test=out["test"][0],
        y_test=out["test"][1],
        sensitive_features_test=out["test"][2],
        attributes=names[:40],
        DESCR=f"CelebA from {root}: label {target}, group {sensitive}.",
    )
