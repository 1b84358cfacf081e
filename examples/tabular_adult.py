# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     name: python3
# ---

# %% [markdown]
# # Fair distillation of Adult, beside fairlearn's mitigations
#
# Adult (UCI Census Income) predicts whether income exceeds 50K; the sensitive feature is
# sex. We distil the preprocessed training rows into 10 synthetic rows per class with each
# target (vanilla, uniform, FairDD, COBRA) inside a scikit-learn `Pipeline`, train a
# `LogisticRegression` on each synthetic set, and compare accuracy and the equalized-odds
# gap with two of fairlearn's mitigations trained on *all* the data:
# `ThresholdOptimizer` (post-processing) and `ExponentiatedGradient` (reductions).
#
# Open it as a notebook with `jupytext --to notebook tabular_adult.py`, or run it as a
# script. Setting the environment variable `SKDISTILL_EXAMPLES_FAST=1` shrinks every
# setting so the whole notebook runs in seconds (the test suite does this).

# %%
import os

import numpy as np
import pandas as pd
from fairlearn.postprocessing import ThresholdOptimizer
from fairlearn.reductions import EqualizedOdds, ExponentiatedGradient
from matplotlib.figure import Figure
from sklearn import set_config
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.pipeline import Pipeline

from skdistill import BarycentricDistiller, DistilledClassifier
from skdistill.datasets import adult_preprocessor, load_adult
from skdistill.metrics import fairlearn_crosscheck, model_metric_frame
from skdistill.plotting import plot_fairness_accuracy

FAST = os.environ.get("SKDISTILL_EXAMPLES_FAST") == "1"
N_ITER = 20 if FAST else 500  # distillation iterations
SEEDS = [0] if FAST else [0, 1, 2]
N_FAIRLEARN = 2000 if FAST else None  # rows used by the fairlearn mitigations (None: all)

set_config(enable_metadata_routing=True)  # lets the pipeline route sensitive_features
data = load_adult(sensitive="sex")
A_train, A_test = data.sensitive_features_train, data.sensitive_features_test
print(data.X_train.shape, data.y_train.value_counts().to_dict())

# %% [markdown]
# ## Distil inside a pipeline
#
# `DistilledClassifier` distils the rows it receives, then fits a clone of its estimator on
# the synthetic set. With metadata routing on, the pipeline passes it the groups (it requests
# `sensitive_features` by default). The distiller alone is also an imbalanced-learn sampler:
# `imblearn.pipeline.Pipeline([("prep", ...), ("distil", BarycentricDistiller(...)),
# ("clf", LogisticRegression())])` does the same.

# %%
rows = []


def score(name, y_pred, seed=0):
    """Accuracy and equalized-odds gaps of test-split predictions."""
    check = fairlearn_crosscheck(data.y_test, y_pred, sensitive_features=A_test)
    rows.append(
        {
            "row": name,
            "seed": seed,
            "accuracy": accuracy_score(data.y_test, y_pred),
            "eod_max": check.eod_max,
            "eod_max_fairlearn": check.eod_max_fairlearn,
        }
    )


pipelines = {}
for target in ["vanilla", "uniform", "fairdd", "cobra"]:
    for seed in SEEDS:
        clf = DistilledClassifier(
            BarycentricDistiller(target=target, ipc=10, n_iter=N_ITER, random_state=seed),
            LogisticRegression(max_iter=1000),
        )
        pipe = Pipeline([("prep", adult_preprocessor()), ("clf", clf)])
        pipe.fit(data.X_train, data.y_train, sensitive_features=A_train)
        score(target, pipe.predict(data.X_test), seed)
        pipelines[target] = pipe

# %% [markdown]
# ## The full-data model and fairlearn's mitigations
#
# Both mitigations are binary-only in fairlearn, which Adult is. They see every training
# row, where the distilled models see 20.

# %%
prep = adult_preprocessor().fit(data.X_train)
X_train, X_test = prep.transform(data.X_train), prep.transform(data.X_test)
sub = slice(None) if N_FAIRLEARN is None else slice(0, N_FAIRLEARN)
# fairlearn's mitigations want 0/1 labels: 1 for '>50K'
Xf, yf, Af = X_train[sub], (data.y_train[sub] == ">50K").astype(int), A_train[sub]
labels = np.array(["<=50K", ">50K"])

full = LogisticRegression(max_iter=1000).fit(X_train, data.y_train)
score("full", full.predict(X_test))

threshold = ThresholdOptimizer(
    estimator=LogisticRegression(max_iter=1000),
    constraints="equalized_odds",
    predict_method="predict_proba",
)
threshold.fit(Xf, yf, sensitive_features=Af)
# post-processing needs the groups at prediction time too
y_threshold = threshold.predict(X_test, sensitive_features=A_test, random_state=0)
score("ThresholdOptimizer", labels[y_threshold])

expgrad = ExponentiatedGradient(
    LogisticRegression(max_iter=1000), constraints=EqualizedOdds(), max_iter=10 if FAST else 50
)
expgrad.fit(Xf, yf, sensitive_features=Af)
score("ExponentiatedGradient", labels[expgrad.predict(X_test, random_state=0)])

# %% [markdown]
# ## Results
#
# EOD_M is the largest gap in per-class recall between the sexes (0 is perfectly fair);
# the `eod_max_fairlearn` column recomputes it with fairlearn's `MetricFrame`.

# %%
runs = pd.DataFrame(rows)
table = runs.groupby("row", sort=False)[["accuracy", "eod_max", "eod_max_fairlearn"]].agg(
    ["mean", "std"]
)
table.columns = [f"{m}_{s}" for m, s in table.columns]
table = table.fillna(0.0)
print((100 * table).round(1).to_string())
assert (table.eod_max_mean - table.eod_max_fairlearn_mean).abs().max() < 1e-9

# %% [markdown]
# ## Fairness against accuracy
#
# Down and to the right is worse: up and to the left is fairer and more accurate.

# %%
ax = plot_fairness_accuracy(table, title="Adult: distilled sets vs fairlearn mitigations")
ax.figure.savefig("adult_fairness_accuracy.png", dpi=110)
ax.figure

# %% [markdown]
# ## Keep using fairlearn
#
# `model_metric_frame` returns fairlearn's `MetricFrame` for any fitted model, so its
# `by_group` table and plots work unchanged — here for the COBRA pipeline.

# %%
frame = model_metric_frame(pipelines["cobra"], data.X_test, data.y_test, sensitive_features=A_test)
print(frame.by_group.round(3).to_string())
fig = Figure(figsize=(9, 3), layout="constrained")
frame.by_group[["accuracy", "recall[<=50K]", "recall[>50K]"]].plot.bar(
    subplots=True, ax=fig.subplots(1, 3), legend=False, rot=0
)
fig.savefig("adult_metric_frame.png", dpi=110)
fig
