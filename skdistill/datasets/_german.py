"""UCI Statlog German Credit, vendored with the package."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils import Bunch

COLUMNS = [
    "status",
    "duration",
    "credit_history",
    "purpose",
    "credit_amount",
    "savings",
    "present_employment",
    "installment_rate",
    "status_sex",
    "other_debtors",
    "residence_since",
    "property",
    "age",
    "installment_plans",
    "housing",
    "existing_credits",
    "job",
    "people_liable",
    "telephone",
    "foreign_worker",
]
FEMALE = {"A92", "A95"}
#: Age threshold of the usual German Credit fairness split ("young" below it).
AGE_THRESHOLD = 25

DESCR = """UCI Statlog German Credit: predict whether a credit applicant is a good or bad risk.

1,000 applicants, 20 attributes (7 numeric, 13 categorical, decoded to readable values).
Labels: 'good' (700) and 'bad' (300). Sensitive features: {sensitive} (sex from the
personal-status attribute; age group 'young' below {age} years, else 'older').
Split: {n_test} test rows, stratified by label and sensitive group (random_state={seed}).
Source: UCI Machine Learning Repository, Hofmann (1994), doi:10.24432/C5NC77, CC BY 4.0.
Use ``german_preprocessor()`` to standardise numeric and one-hot encode categorical columns.
"""


def _read():
    folder = resources.files("skdistill.datasets") / "data" / "german"
    with resources.as_file(folder / "german.data.gz") as file:
        frame = pd.read_csv(file, sep=" ", header=None, compression="gzip")
    maps = json.loads((folder / "values_maps.json").read_text(encoding="utf-8"))
    frame.columns = [*COLUMNS, "credit"]
    sex = np.where(frame["status_sex"].isin(FEMALE), "female", "male")
    age = np.where(frame["age"] < AGE_THRESHOLD, "young", "older")
    for column, mapping in maps.items():
        if column in frame and column != "credit":
            # readable values; the yes/no attributes (telephone, foreign_worker) map to "yes"/"no"
            readable = {
                k: ("yes" if v else "no") if isinstance(v, bool) else v.strip()
                for k, v in mapping.items()
            }
            frame[column] = frame[column].map(readable)
    y = frame.pop("credit").map({1: "good", 2: "bad"})
    return frame, y, pd.DataFrame({"sex": sex, "age": age})


def load_german(*, sensitive="sex", test_size=0.3, random_state=0):
    """Load the vendored German Credit dataset as DataFrames, offline.

    Parameters
    ----------
    sensitive : {"sex", "age"} or list of them, default="sex"
        Sensitive feature(s): sex (from the personal-status attribute) and/or age group
        (``"young"`` below 25). Several columns give intersectional groups.
    test_size : float, default=0.3
        Fraction of rows held out, stratified by label and sensitive group.
    random_state : int, default=0
        Seed of the split.

    Returns
    -------
    Bunch
        ``X_train``, ``X_test`` (DataFrames of the 20 attributes), ``y_train``, ``y_test``
        (``'good'`` / ``'bad'``), ``sensitive_features_train``, ``sensitive_features_test``
        (Series, or DataFrames for several columns), ``numeric_features``,
        ``categorical_features``, ``DESCR``.
    """
    names = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    unknown = [n for n in names if n not in ("sex", "age")]
    if unknown:
        raise ValueError(f"sensitive must be 'sex', 'age' or both; got {unknown}.")
    X, y, groups = _read()
    groups = groups[names[0]] if len(names) == 1 else groups[names]
    strata = (
        y.astype(str) + "|" + groups.astype(str).agg("|".join, axis=1)
        if len(names) > 1
        else y.astype(str) + "|" + groups.astype(str)
    )
    idx_train, idx_test = train_test_split(
        np.arange(len(y)), test_size=test_size, stratify=strata, random_state=random_state
    )
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    categorical = [c for c in X.columns if c not in numeric]

    def rows(obj, idx):
        return obj.iloc[idx].reset_index(drop=True)

    return Bunch(
        X_train=rows(X, idx_train),
        y_train=rows(y, idx_train),
        sensitive_features_train=rows(groups, idx_train),
        X_test=rows(X, idx_test),
        y_test=rows(y, idx_test),
        sensitive_features_test=rows(groups, idx_test),
        numeric_features=numeric,
        categorical_features=categorical,
        DESCR=DESCR.format(
            sensitive=", ".join(names),
            age=AGE_THRESHOLD,
            n_test=len(idx_test),
            seed=random_state,
        ),
    )


def german_preprocessor():
    """Standardise German Credit's numeric columns and one-hot encode the categorical ones.

    Returns an unfitted ``ColumnTransformer`` with dense DataFrame output.
    """
    return ColumnTransformer(
        [
            ("num", StandardScaler(), make_column_selector(dtype_include="number")),
            (
                "cat",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                make_column_selector(dtype_exclude="number"),
            ),
        ],
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
