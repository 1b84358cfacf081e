"""The datasets of ``skdistill benchmark``: embedded ones, and the COBRA paper's from folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ..datasets import (
    adult_preprocessor,
    gap_split,
    german_preprocessor,
    load_adult,
    load_bffhq,
    load_celeba,
    load_cifar10s,
    load_colored_digits,
    load_colored_fmnist,
    load_colored_mnist,
    load_german,
    load_utkface,
)

EMBEDDED = ("cmnist-bg", "cmnist-fg", "digits-bg", "digits-fg", "adult", "adult-sexrace", "german")
#: Benchmark dataset name -> (title, loader(root), folder under --data-root). The folder is
#: what the loader's ``root`` expects: torchvision's layouts share one root, UTKFace and BFFHQ
#: have folders of their own.
FOLDERS = {
    "c-mnist-fg": ("C-MNIST (FG)", lambda r: load_colored_mnist("fg", root=r), "."),
    "c-mnist-bg": ("C-MNIST (BG)", lambda r: load_colored_mnist("bg", root=r), "."),
    "c-fmnist-fg": ("C-FMNIST (FG)", lambda r: load_colored_fmnist(r, "fg"), "."),
    "c-fmnist-bg": ("C-FMNIST (BG)", lambda r: load_colored_fmnist(r, "bg"), "."),
    "cifar10-s": ("CIFAR10-S", lambda r: load_cifar10s(r), "."),
    "utkface": ("UTKFace (age / race)", lambda r: load_utkface(r, image_size=64), "UTKFace"),
    "bffhq": ("BFFHQ (age / gender)", lambda r: load_bffhq(r, image_size=64), "bffhq"),
    "celeba": (
        "CelebA (attractive / male)",
        lambda r: load_celeba(r, target="Attractive", sensitive="Male", image_size=64),
        ".",
    ),
}
#: Embedded datasets, then those read from ``data_root`` (the COBRA paper's).
DATASETS = EMBEDDED + tuple(FOLDERS)
#: The seven datasets of the COBRA paper's Table 1, in its row order (CelebA is in the
#: authors' code, not in the paper: available by name, not in the preset).
TABLE1_DATASETS = [
    "cifar10-s",
    "c-fmnist-fg",
    "c-fmnist-bg",
    "c-mnist-fg",
    "c-mnist-bg",
    "utkface",
    "bffhq",
]
#: Colored MNIST in the benchmark: 4,000 training digits, 500 test digits in every colour.
CMNIST_TEST_DIGITS = 500

MSG_SWEEP_IMAGES = "the skew and gap sweeps apply to the image datasets."
MSG_SWEEP_EMBEDDED = "the skew and gap sweeps apply to the embedded image datasets."
MSG_NO_DATA_ROOT = (
    "dataset {name!r} is read from a local folder: pass --data-root DIR "
    "(data_root= in a configuration) holding it in the layout `skdistill datasets` lists."
)


def is_paper_dataset(name) -> bool:
    """Whether ``name`` is read from ``data_root`` (the COBRA paper's datasets)."""
    return name in FOLDERS


def data_size(name) -> str:
    """The budget family of a dataset: ``"cmnist"``, ``"digits"``, ``"tabular"`` or ``"paper"``."""
    if is_paper_dataset(name):
        return "paper"
    family = name.split("-")[0]
    return family if family in ("cmnist", "digits") else "tabular"


def load_benchmark_dataset(name, *, skew=None, gap=None, data_root=None):
    """A benchmark dataset as a Bunch of train/test splits, groups and a title.

    ``skew`` (images) sets the fraction of every class in its majority colour; ``gap``
    corrupts the training AND test images of every colour but the training split's most
    frequent one with the COBRA paper's GAP severity (:func:`skdistill.datasets.gap_split`;
    the test noise is an independent draw, the training images are as before). The COBRA
    paper's datasets are read from ``data_root``.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {list(DATASETS)}; got {name!r}.")
    if is_paper_dataset(name):
        if skew is not None or gap is not None:
            raise ValueError(MSG_SWEEP_EMBEDDED)
        return load_paper_dataset(name, data_root)
    if data_size(name) == "tabular":
        if skew is not None or gap is not None:
            raise ValueError(MSG_SWEEP_IMAGES)
        data, X_train, X_test, title = _load_tabular(name)
    else:
        data, title = _load_images(name, skew)
        X_train, X_test = data.X_train, data.X_test
    A_train = np.asarray(data.sensitive_features_train)
    if gap is not None:
        if gap:  # both splits: GAP is a property of the group, not of the training set
            data = gap_split(data, gap, random_state=0)
            X_train, X_test = data.X_train, data.X_test
        title += f", GAP {gap}"
    if skew is not None:
        title += f", SKEW {skew}"
    return Bunch(
        X_train=X_train,
        y_train=np.asarray(data.y_train),
        A_train=A_train,
        X_test=X_test,
        y_test=np.asarray(data.y_test),
        A_test=np.asarray(data.sensitive_features_test),
        image=np.ndim(X_train) > 2,
        title=title,
    )


def _load_tabular(name):
    """Adult or German, one-hot encoded and scaled: ``(data, X_train, X_test, title)``."""
    if name == "german":
        data = load_german(sensitive="sex")
    else:  # adult-sexrace: intersectional groups, one per (sex, race) combination
        data = load_adult(sensitive="sex" if name == "adult" else ["sex", "race"])
        data.sensitive_features_train = _combine(data.sensitive_features_train)
        data.sensitive_features_test = _combine(data.sensitive_features_test)
    prep = (german_preprocessor if name == "german" else adult_preprocessor)()
    prep.fit(data.X_train)
    X_train = np.asarray(prep.transform(data.X_train), dtype=np.float64)
    X_test = np.asarray(prep.transform(data.X_test), dtype=np.float64)
    sensitive = "sex" if name != "adult-sexrace" else "sex x race"
    return data, X_train, X_test, f"{name.split('-')[0].capitalize()} (sensitive: {sensitive})"


def _load_images(name, skew):
    """Colored MNIST or Colored Digits (``family-variant``): ``(data, title)``."""
    kw = {} if skew is None else {"skew": skew}
    family, variant = name.split("-")
    if family == "cmnist":
        data = load_colored_mnist(variant, n_test=CMNIST_TEST_DIGITS, **kw)
    else:
        data = load_colored_digits(variant, **kw)
    title = f"Colored {'MNIST' if family == 'cmnist' else 'Digits'} ({variant.upper()})"
    return data, title


def _combine(frame):
    """One group name per row from several sensitive columns (``"sex=Male, race=White"``)."""
    if not isinstance(frame, pd.DataFrame):
        return np.asarray(frame)
    parts = [f"{c}=" + frame[c].astype(str) for c in frame.columns]
    combined = parts[0]
    for part in parts[1:]:
        combined = combined + ", " + part
    return combined.to_numpy()


def load_paper_dataset(name, data_root):
    """A folder dataset as the harness's Bunch.

    Raises ``FileNotFoundError`` when its files are missing (the message names the folder
    and the expected layout).
    """
    if data_root is None:
        raise FileNotFoundError(MSG_NO_DATA_ROOT.format(name=name))
    title, loader, folder = FOLDERS[name]
    data = loader(Path(data_root) / folder)
    return Bunch(
        X_train=data.X_train,
        y_train=np.asarray(data.y_train),
        A_train=np.asarray(data.sensitive_features_train),
        X_test=data.X_test,
        y_test=np.asarray(data.y_test),
        A_test=np.asarray(data.sensitive_features_test),
        image=True,
        title=title,
    )
