"""UCI Adult (Census Income), vendored with the package."""

from __future__ import annotations

from importlib import resources

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils import Bunch

COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
]
NUMERIC = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
CATEGORICAL = [
    "workclass",
    "education",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "native-country",
]

DESCR = """UCI Adult (Census Income): predict whether income exceeds 50K a year.

Train: adult.data (30,162 rows after dropping rows with missing values); test: adult.test
(15,060 rows). Labels are the strings '<=50K' and '>50K'. Sensitive features: {sensitive}.
Source: UCI Machine Learning Repository, Becker & Kohavi (1996), doi:10.24432/C5XW20,
CC BY 4.0. Use ``adult_preprocessor()`` to standardise the numeric columns and one-hot
encode the categorical ones (104 features).
"""


def _read(name, skiprows):
    path = resources.files("skdistill.datasets") / "data" / "adult" / name
    with resources.as_file(path) as file:
        frame = pd.read_csv(
            file,
            header=None,
            names=COLUMNS,
            skipinitialspace=True,
            na_values="?",
            skiprows=skiprows,
            compression="gzip",
        )
    frame = frame.dropna().reset_index(drop=True)
    frame["income"] = frame["income"].str.rstrip(".")
    return frame


def load_adult(*, sensitive="sex"):
    """Load the vendored UCI Adult dataset as DataFrames, offline.

    Parameters
    ----------
    sensitive : str or list of str, default="sex"
        Column(s) returned as sensitive features: ``"sex"``, ``"race"`` or both (several
        columns give intersectional groups). They stay in ``X`` as ordinary features too.

    Returns
    -------
    Bunch
        ``X_train``, ``X_test`` (DataFrames of the 14 raw features), ``y_train``, ``y_test``
        (Series of '<=50K' / '>50K'), ``sensitive_features_train``,
        ``sensitive_features_test`` (Series, or DataFrames for several columns),
        ``numeric_features``, ``categorical_features``, ``DESCR``.
    """
    names = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    unknown = [n for n in names if n not in ("sex", "race")]
    if unknown:
        raise ValueError(f"sensitive must be 'sex', 'race' or both; got {unknown}.")
    train, test = _read("adult.data.gz", 0), _read("adult.test.gz", 1)

    def sens(frame):
        return frame[names[0]] if len(names) == 1 else frame[names]

    features = COLUMNS[:-1]
    return Bunch(
        X_train=train[features],
        y_train=train["income"],
        sensitive_features_train=sens(train),
        X_test=test[features],
        y_test=test["income"],
        sensitive_features_test=sens(test),
        numeric_features=list(NUMERIC),
        categorical_features=list(CATEGORICAL),
        DESCR=DESCR.format(sensitive=", ".join(names)),
    )


def adult_preprocessor():
    """Standardise Adult's numeric columns and one-hot encode its categorical ones.

    Returns an unfitted ``ColumnTransformer`` whose output is a dense DataFrame, ready for
    :class:`~skdistill.BarycentricDistiller`.
    """
    return ColumnTransformer(
        [
            ("num", StandardScaler(), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
        ],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
