"""The ``skdistill benchmark`` harness: the papers' comparisons over a grid of settings.

The built-in presets run CPU-sized budgets (far fewer iterations and evaluation epochs than
the papers); every table states its budgets. A configuration crosses datasets x methods x
targets x IPC x seeds x evaluation architectures (and optional method variants, SKEW/GAP
sweeps), beside the baselines FULL,
RANDOM, fairlearn's mitigations and the COBRA paper's RF / DF / MF interventions. Synthetic
sets are cached on disk and every evaluation is appended to ``results.json`` as soon as it
is done, so an interrupted run resumes where it stopped. The outputs are ``results.json``,
``results.md`` (the papers' "EOD (Acc)" layout) and PNG figures.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from sklearn.linear_model import LogisticRegression
from sklearn.utils import Bunch
from tqdm.auto import tqdm

from . import __version__
from ._device import resolve_device
from ._distiller import BarycentricDistiller
from ._paper import (
    FOLDERS,
    FULL_EPOCHS,
    PAPER_BUDGETS,
    TABLE1_DATASETS,
    is_paper_dataset,
    load_paper_dataset,
    read_timing,
    scaled,
    table1_markdown,
    time_dataset,
    timing_markdown,
    timing_pending,
)
from ._persistence import CHECKPOINT_NAME
from .baselines import (
    MITIGATIONS,
    FairFeatureExtractor,
    balanced_weights,
    fairlearn_mitigations,
    fit_group_classifier,
    random_subset,
)
from .baselines._fairlearn import LABELS as MITIGATION_LABELS
from .datasets import (
    adult_preprocessor,
    gap_split,
    german_preprocessor,
    load_adult,
    load_colored_digits,
    load_colored_mnist,
    load_german,
)
from .evaluation import evaluate_synthetic
from .evaluation._evaluate import _train_torch
from .methods import METHODS
from .plotting import (
    plot_embedding,
    plot_fairness_accuracy,
    plot_metric_curves,
    plot_synthetic_images,
    plot_training_curves,
)

EMBEDDED = ("cmnist-bg", "cmnist-fg", "digits-bg", "digits-fg", "adult", "adult-sexrace", "german")
#: Embedded datasets, then those read from ``data_root`` (the COBRA paper's, see ``_paper``).
DATASETS = EMBEDDED + tuple(FOLDERS)
TARGET_LABELS = {
    "vanilla": "vanilla",
    "uniform": "uniform",
    "fairdd": "FairDD",
    "cobra": "COBRA",
    "reweighted": "DF",
    "wasserstein": "Wasserstein",
    "mmd": "MMD",
}
BASELINES = ("full", "random", "random_balanced", "fairlearn", "rf", "df", "mf")
METRICS = ("accuracy", "eod_max", "eod_mean")
#: Criteria reported beside EOD (skdistill.metrics.fairness_report), pooled like METRICS.
CRITERIA = ("dp_max", "dp_mean", "ppd_max", "ppd_mean", "acc_gap_max", "worst_group_accuracy")

#: Version of the evaluation protocol, part of every record's key and of every cached set's
#: digest: results of an earlier protocol are never mixed into a table (2: synthetic sets
#: scored as learnt, siamese DSA with one draw per class, DSA training of image evaluation
#: networks, several evaluation runs per set, FULL trained to convergence).
PROTOCOL = 2

#: How image sets are scored, per data size (see :data:`BUDGETS`).
_CMNIST_EVAL = dict(eval_epochs=300, eval_augment="dsa", full_epochs=20)
_DIGITS_EVAL = dict(eval_epochs=300, eval_augment="dsa", full_epochs=40)
#: CPU-sized distillation and evaluation budgets per (data size, method), for a 2-core CPU;
#: the papers run far more iterations and evaluation epochs. ``eval_epochs`` trains every
#: evaluation network (with ``eval_augment`` on images: DSA, as the references train on DSA and
#: DM sets, used for every row of an image table so that all rows share one evaluator);
#: ``full_epochs`` trains the full-data model (FULL) and the RF extractor, to convergence (the
#: FULL training curve is recorded and drawn).
BUDGETS = {
    # 1,000 iterations: from the references' start, FairDD's steps (COBRA's default) need
    # them to reach EOD_M about 22 (benchmarks/results/convergence)
    ("cmnist", "dm"): dict(n_iter=1000, batch_real=64, **_CMNIST_EVAL),
    ("cmnist", "dc"): dict(
        n_iter=2, batch_real=32, outer_loop=10, inner_loop=5, net_width=64, **_CMNIST_EVAL
    ),
    ("cmnist", "idc"): dict(
        n_iter=2, batch_real=32, outer_loop=10, inner_loop=2, net_width=64, **_CMNIST_EVAL
    ),
    ("digits", "dm"): dict(n_iter=200, batch_real=64, **_DIGITS_EVAL),
    ("digits", "dc"): dict(n_iter=10, batch_real=64, outer_loop=10, inner_loop=10, **_DIGITS_EVAL),
    ("digits", "idc"): dict(n_iter=10, batch_real=64, outer_loop=10, inner_loop=2, **_DIGITS_EVAL),
    ("tabular", "dm"): dict(n_iter=300, batch_real=256),
    ("tabular", "dc"): dict(n_iter=30, batch_real=256, outer_loop=10, inner_loop=10),
}
#: Colored MNIST in the benchmark: 4,000 training digits, 500 test digits in every colour.
CMNIST_TEST_DIGITS = 500
#: Options that only some methods take (see each method's ``options``).
METHOD_OPTIONS = {o for cls in METHODS.values() for o in cls.options} - {"ipc", "net_norm"}
DISTILLER_KEYS = ("n_iter", "batch_real", "outer_loop", "inner_loop", "net_width", "net_depth")
#: Threads of every distillation: the harness is meant to run alone, so it takes every core
#: (the estimator's default is half of them, for fits that share a machine).
BENCH_THREADS = -1
#: Evaluation runs (independently trained models) per synthetic set, unless configured.
EVAL_RUNS = 3

#: Named configurations. ``embedded`` is the committed CPU table; ``ablation`` separates
#: COBRA's barycenter from the L1 distance and the warmed-up network of its authors' code;
#: ``sweeps`` draws the EOD-vs-IPC, SKEW and GAP curves; ``architectures`` evaluates the same
#: synthetic sets with ConvNet, AlexNet, VGG11 and ResNet18; ``smoke`` is a seconds-long run.
PRESETS = {
    "embedded": dict(
        datasets=["cmnist-bg", "cmnist-fg", "digits-bg", "adult", "german"],
        methods=["dm", "dc"],
        targets=["vanilla", "fairdd", "cobra"],
        ipc=[10],
        seeds=3,
        baselines=list(BASELINES),
        tsne=["cmnist-bg"],
    ),
    "inits": dict(
        datasets=["cmnist-bg"],
        methods=["dm"],
        targets=["vanilla", "fairdd", "cobra"],
        ipc=[10],
        seeds=3,
        baselines=["full", "random", "random_balanced"],
        variants={
            "random real init": {"init": "random_real"},
            "balanced init": {"init": "balanced"},
        },
    ),
    "ablation": dict(
        datasets=["digits-bg"],
        methods=["dm"],
        targets=["vanilla", "fairdd", "cobra"],
        ipc=[10],
        seeds=3,
        baselines=[],
        variants={
            "L2, random net": {},
            "L1, random net": {"distance": "l1"},
            "L2, warmed-up net": {"net_warmup_epochs": 5},
            "L1, warmed-up net": {"distance": "l1", "net_warmup_epochs": 5},
        },
    ),
    "sweeps": dict(
        datasets=["digits-bg"],
        methods=["dm"],
        targets=["vanilla", "fairdd", "cobra"],
        ipc=[1, 10, 20],
        seeds=3,
        baselines=["random"],
        sweeps={"skew": [0.5, 0.7, 0.9, 0.95], "gap": [0, 1, 2, 3, 4]},
    ),
    "architectures": dict(
        datasets=["digits-bg"],
        methods=["dm"],
        targets=["vanilla", "fairdd", "cobra"],
        ipc=[10],
        seeds=3,
        baselines=["full", "random"],
        architectures=["convnet", "alexnet", "vgg11", "resnet18"],
    ),
    # the COBRA paper's Table 1 from the user's own folders, at its authors' budgets
    # (skdistill._paper.PAPER_BUDGETS); --budget-scale F scales iterations and epochs
    "paper": dict(
        datasets=TABLE1_DATASETS,
        methods=["dm", "dc", "idc"],
        targets=["vanilla", "uniform", "fairdd", "cobra"],
        ipc=[10, 50, 100],
        seeds=1,
        eval_runs=10,
        baselines=["full", "random"],
        layout="paper",
        timing=True,
    ),
    "smoke": dict(
        datasets=["digits-bg", "german"],
        methods=["dm"],
        targets=["vanilla", "cobra"],
        ipc=[2, 3],
        seeds=2,
        baselines=list(BASELINES),
        architectures=None,
        tsne=["digits-bg"],
        sweeps={"gap": [0, 2]},
        eval_runs=2,
        budgets={
            "digits": dict(n_iter=3, batch_real=16, net_width=8, eval_epochs=2, full_epochs=1),
            "tabular": dict(n_iter=3, batch_real=32, net_width=8),
        },
    ),
}
DEFAULTS = dict(
    datasets=["digits-bg"],
    methods=["dm"],
    targets=["vanilla", "fairdd", "cobra"],
    ipc=[10],
    seeds=3,
    baselines=["full", "random"],
    architectures=None,
    variants=None,
    sweeps=None,
    tsne=[],
    budgets=None,
    eval_runs=EVAL_RUNS,
    device="auto",
    data_root=None,
    budget_scale=1.0,
    layout="default",
    timing=False,
)


def make_config(preset=None, **overrides):
    """A complete configuration: the defaults, then ``preset``, then non-None ``overrides``."""
    if preset is not None and preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}; got {preset!r}.")
    config = copy.deepcopy(DEFAULTS)
    config.update(copy.deepcopy(PRESETS.get(preset, {})))
    config.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(config) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown configuration key(s) {sorted(unknown)}; use {sorted(DEFAULTS)}.")
    bad = [d for d in config["datasets"] if d not in DATASETS]
    if bad:
        raise ValueError(f"unknown dataset(s) {bad}; choose from {list(DATASETS)}.")
    bad = [t for t in config["targets"] if t not in TARGET_LABELS]
    if bad:
        raise ValueError(f"unknown target(s) {bad}; choose from {list(TARGET_LABELS)}.")
    bad = [b for b in config["baselines"] if b not in BASELINES]
    if bad:
        raise ValueError(f"unknown baseline(s) {bad}; choose from {list(BASELINES)}.")
    bad = set(config["sweeps"] or {}) - {"skew", "gap"}
    if bad:
        raise ValueError(f"unknown sweep(s) {sorted(bad)}; choose from ['gap', 'skew'].")
    if int(config["seeds"]) < 1:
        raise ValueError("seeds must be at least 1.")
    if int(config["eval_runs"]) < 1:
        raise ValueError("eval_runs must be at least 1.")
    if not float(config["budget_scale"]) > 0:
        raise ValueError(f"budget_scale must be positive; got {config['budget_scale']!r}.")
    if config["layout"] not in ("default", "paper"):
        raise ValueError(f"layout must be 'default' or 'paper'; got {config['layout']!r}.")
    return config


def load_config(path):
    """A configuration from a YAML or JSON file (keys as in :data:`DEFAULTS`, plus ``preset``)."""
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith((".yaml", ".yml")):
        import yaml

        raw = yaml.safe_load(text)
    else:
        raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a configuration is a mapping of keys to values.")
    return make_config(raw.pop("preset", None), **raw)


# ---------------------------------------------------------------------------------- data
def _size(name):
    if is_paper_dataset(name):
        return "paper"
    return name.split("-")[0] if name.split("-")[0] in ("cmnist", "digits") else "tabular"


def load_benchmark_dataset(name, *, skew=None, gap=None, data_root=None):
    """An embedded dataset as a Bunch of train/test splits, groups and a title.

    ``skew`` (images) sets the fraction of every class in its majority colour; ``gap``
    corrupts the training AND test images of every colour but the training split's most
    frequent one with the COBRA paper's GAP severity (:func:`skdistill.datasets.gap_split`;
    the test noise is an independent draw, the training images are as before).
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {list(DATASETS)}; got {name!r}.")
    if is_paper_dataset(name):
        if skew is not None or gap is not None:
            raise ValueError("the skew and gap sweeps apply to the embedded image datasets.")
        return load_paper_dataset(name, data_root)
    kw = {} if skew is None else {"skew": skew}
    if _size(name) == "tabular":
        if skew is not None or gap is not None:
            raise ValueError("the skew and gap sweeps apply to the image datasets.")
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
        title = f"{name.split('-')[0].capitalize()} (sensitive: {sensitive})"
    else:
        family, variant = name.split("-")
        if family == "cmnist":
            data = load_colored_mnist(variant, n_test=CMNIST_TEST_DIGITS, **kw)
        else:
            data = load_colored_digits(variant, **kw)
        X_train, X_test = data.X_train, data.X_test
        title = f"Colored {'MNIST' if family == 'cmnist' else 'Digits'} ({variant.upper()})"
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


def _combine(frame):
    """One group name per row from several sensitive columns (``"sex=Male, race=White"``)."""
    if not isinstance(frame, pd.DataFrame):
        return np.asarray(frame)
    parts = [f"{c}=" + frame[c].astype(str) for c in frame.columns]
    combined = parts[0]
    for part in parts[1:]:
        combined = combined + ", " + part
    return combined.to_numpy()


# ---------------------------------------------------------------------------------- plan
def _key(task):
    fields = {k: v for k, v in task.items() if k not in ("title", "loader")}
    return json.dumps(fields, sort_keys=True, default=str)


def _digest(obj):
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _entry(method, what, variant=""):
    return f"{method.upper()} · {what}" + (f" ({variant})" if variant else "")


def plan(config):
    """Every evaluation the configuration asks for, grouped by dataset.

    Returns ``{(name, sweep, value): [task, ...]}``; a task is a dict of the fields of its
    ``results.json`` record.
    """
    groups = {}
    first_ipc = config["ipc"][0]
    variants = config["variants"] or {"": {}}

    def add(dataset, sweep, value, **task):
        task = dict(
            dataset=dataset,
            sweep=sweep,
            sweep_value=value,
            protocol=PROTOCOL,
            eval_runs=int(config["eval_runs"]),
            **task,
        )
        groups.setdefault((dataset, sweep, value), []).append(task)

    for name in config["datasets"]:
        image = _size(name) != "tabular"
        archs = _architectures(config, image)
        for seed in range(int(config["seeds"])):
            for ipc in config["ipc"]:
                for arch in archs:
                    if "full" in config["baselines"] and ipc == first_ipc:
                        add(
                            name,
                            None,
                            None,
                            kind="full",
                            entry="FULL",
                            ipc=ipc,
                            seed=seed,
                            arch=arch,
                        )
                    for kind, entry in (
                        ("random", "RANDOM"),
                        ("random_balanced", "RANDOM (group-balanced)"),
                    ):
                        if kind in config["baselines"]:
                            add(
                                name,
                                None,
                                None,
                                kind=kind,
                                entry=entry,
                                ipc=ipc,
                                seed=seed,
                                arch=arch,
                            )
                if "fairlearn" in config["baselines"] and ipc == first_ipc:
                    for mitigation in MITIGATIONS:
                        add(
                            name,
                            None,
                            None,
                            kind="fairlearn",
                            entry=MITIGATION_LABELS[mitigation],
                            mitigation=mitigation,
                            ipc=ipc,
                            seed=seed,
                            arch=archs[0],
                        )
                for method in config["methods"]:
                    for target in config["targets"]:
                        for vname, vparams in variants.items():
                            for arch in archs:
                                add(
                                    name,
                                    None,
                                    None,
                                    kind="distilled",
                                    entry=_entry(method, TARGET_LABELS[target], vname),
                                    method=method,
                                    target=target,
                                    variant=vname,
                                    params=vparams,
                                    ipc=ipc,
                                    seed=seed,
                                    arch=arch,
                                )
                    if ipc != first_ipc or config["variants"]:
                        continue
                    for kind, what in (
                        ("df", "DF (loss reweighting)"),
                        ("mf", "MF (fair downstream)"),
                        ("rf", "RF (fair extractor)"),
                    ):
                        if kind not in config["baselines"]:
                            continue
                        for arch in archs if kind != "rf" else archs[:1]:
                            add(
                                name,
                                None,
                                None,
                                kind=kind,
                                entry=_entry(method, what),
                                method=method,
                                target="reweighted" if kind == "df" else "vanilla",
                                variant="",
                                params={},
                                ipc=ipc,
                                seed=seed,
                                arch=arch,
                            )
        for sweep, values in (config["sweeps"] or {}).items():
            if not image:
                continue
            for value in values:
                for seed in range(int(config["seeds"])):
                    for method in config["methods"]:
                        for target in config["targets"]:
                            add(
                                name,
                                sweep,
                                value,
                                kind="distilled",
                                entry=_entry(method, TARGET_LABELS[target]),
                                method=method,
                                target=target,
                                variant="",
                                params={},
                                ipc=first_ipc,
                                seed=seed,
                                arch="convnet",
                            )
    return groups


def _architectures(config, image):
    archs = config["architectures"]
    if image:
        return [a for a in (archs or ["convnet"]) if a != "logreg"] or ["convnet"]
    return [a for a in (archs or ["logreg"]) if a in ("logreg", "mlp")] or ["logreg"]


# ---------------------------------------------------------------------------------- run
class _Runner:
    """Executes tasks, caching synthetic sets and appending records to ``results.json``."""

    def __init__(self, config, out, log):
        self.config = config
        self.out = Path(out)
        self.cache = self.out / "cache"
        self.cache.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.device = resolve_device(config["device"])
        self.path = self.out / "results.json"
        self.records = []
        if self.path.exists():
            saved = json.loads(self.path.read_text())
            self.records = saved["records"]
            self.seconds = saved.get("wall_seconds", 0.0)
        else:
            self.seconds = 0.0
        self.done = {r["key"] for r in self.records}
        self.extracted = {}  # (dataset, seed) -> RF features, shared by the methods
        self.group_models = {}  # (dataset, seed) -> MF group classifier

    def budget(self, dataset, method):
        """The cell's budget: the size's (or the paper's), overrides, then ``budget_scale``."""
        size = _size(dataset)
        if size == "paper":
            budget = dict(PAPER_BUDGETS[method], full_epochs=FULL_EPOCHS)
        else:
            budget = dict(BUDGETS[(size, method)])
        overrides = (self.config["budgets"] or {}).get(size, {})
        # an override of one method's option (e.g. outer_loop) leaves the other methods alone
        options = METHODS[method].options
        budget.update(
            (k, v) for k, v in overrides.items() if k in options or k not in METHOD_OPTIONS
        )
        return scaled(budget, float(self.config["budget_scale"]))

    def estimate(self, data, label, tasks):
        """Print every pending cell's estimated wall time (``layout="paper"`` only).

        From a short timed warm-up: a few distillation iterations and one evaluation epoch.
        """
        if self.config["layout"] != "paper":
            return
        n_classes = np.unique(data.y_train).shape[0]
        seen = set()
        for task in tasks:
            if task["kind"] != "distilled":
                continue
            method, target, ipc = task["method"], task["target"], task["ipc"]
            if (method, target, ipc) in seen:
                continue
            seen.add((method, target, ipc))
            budget = self.budget(label, method)
            probe = BarycentricDistiller(
                method=method,
                target=target,
                ipc=ipc,
                random_state=0,
                device=self.device,
                n_threads=BENCH_THREADS,
                **{**{k: v for k, v in budget.items() if k in DISTILLER_KEYS}, "n_iter": 3},
            ).fit(data.X_train, data.y_train, sensitive_features=data.A_train)
            per_iter = float(np.diff(probe.history_["seconds"].to_numpy()).mean())
            X_s, y_s = probe.transform()
            started = time.perf_counter()
            few = slice(0, 16)  # the test split barely matters: training time is measured
            evaluate_synthetic(
                X_s,
                y_s,
                data.X_test[few],
                data.y_test[few],
                data.A_test[few],
                epochs=1,
                augment=budget.get("eval_augment"),
                device=self.device,
                random_state=0,
            )
            per_epoch = time.perf_counter() - started
            distil = per_iter * budget["n_iter"]
            evaluate = per_epoch * budget["eval_epochs"] * int(self.config["eval_runs"])
            self.log(
                f"[estimate] {data.title}: {_entry(method, TARGET_LABELS[target])}, IPC {ipc} "
                f"({n_classes * ipc} images): distillation ≈ {_duration(distil)} "
                f"({budget['n_iter']} it × {per_iter:.2f} s), evaluation ≈ "
                f"{_duration(evaluate)} ({self.config['eval_runs']} × {budget['eval_epochs']} "
                "epochs), per seed"
            )

    def save(self, wall_seconds):
        payload = {
            "config": self.config,
            "machine": machine(self.device),
            "wall_seconds": wall_seconds,
            "records": self.records,
        }
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=1, default=str))
        tmp.replace(self.path)

    def evaluate(self, data, X, y, arch, seed, budget, sample_weight=None, *, full=False):
        """Metrics of ``eval_runs`` models trained on ``(X, y)``: their mean, and every run.

        FULL (``full=True``) trains one model per seed for ``full_epochs`` and records its
        training curve.
        """
        model = LogisticRegression(max_iter=1000) if arch == "logreg" else arch
        kw = {}
        if arch != "logreg":
            epochs = budget.get("full_epochs" if full else "eval_epochs")
            kw = {"epochs": epochs} if epochs else {}
            if data.image:
                kw["augment"] = budget.get("eval_augment")
            kw["curves"] = full
        result = evaluate_synthetic(
            X,
            y,
            data.X_test,
            data.y_test,
            data.A_test,
            model=model,
            n_runs=1 if full else int(self.config["eval_runs"]),
            random_state=seed,
            device=self.device,
            sample_weight=sample_weight,
            **kw,
        )
        runs = result.runs.drop(columns="run")
        metrics = runs.mean().to_dict()
        metrics["runs"] = runs.to_dict(orient="records")
        if full and "curves" in result:
            metrics["curve"] = result.curves[0].to_dict(orient="list")
        return metrics

    def distil(self, data, label, method, target, ipc, seed, params):
        """The synthetic set of one cell, from the cache when it was distilled before."""
        budget = self.budget(label, method)
        kwargs = dict(
            method=method,
            target=target,
            ipc=ipc,
            random_state=seed,
            n_threads=BENCH_THREADS,
            **{k: v for k, v in budget.items() if k in DISTILLER_KEYS},
            **params,
        )
        # the digest holds every parameter of the distiller, defaults included: a set made
        # under other defaults (e.g. another init or augmentation) is never reused
        params = BarycentricDistiller(**kwargs).get_params()
        params = {k: repr(v) for k, v in params.items() if k not in ("device", "verbose")}
        key = {"data": label, "device": self.device.type, "protocol": PROTOCOL, **params}
        path = self.cache / f"{_digest(key)}.npz"
        if path.exists():
            saved = np.load(path, allow_pickle=False)
            y = saved["y"]  # string labels are stored as fixed-width unicode
            return (
                saved["X"],
                (y.astype(object) if y.dtype.kind == "U" else y),
                float(saved["seconds"]),
            )
        # long fits checkpoint beside the cache, so that an interrupted run resumes mid-fit
        # (a resumed fit equals the uninterrupted one); the folder goes once the set is cached
        folder = self.cache / f"{_digest(key)}.ckpt"
        distiller = BarycentricDistiller(
            **kwargs, device=self.device, checkpoint_dir=folder, checkpoint_every=50
        )
        resume = (folder / CHECKPOINT_NAME).exists()
        distiller.fit(
            data.X_train, data.y_train, sensitive_features=data.A_train, resume=resume
        )
        X_syn, y_syn = distiller.transform()
        X_syn = X_syn.numpy() if torch.is_tensor(X_syn) else np.asarray(X_syn)
        y = np.asarray(y_syn)
        np.savez(
            path, X=X_syn, y=y.astype(str) if y.dtype == object else y, seconds=distiller.fit_time_
        )
        shutil.rmtree(folder, ignore_errors=True)
        return X_syn, np.asarray(y_syn), distiller.fit_time_

    def execute(self, task, data, label):
        """Metrics of one task (a dict with accuracy, eod_max, eod_mean, ...)."""
        kind, seed, arch, ipc = task["kind"], task["seed"], task["arch"], task["ipc"]
        method = task.get("method", "dm")
        budget = self.budget(label, method)
        if kind == "full":
            return self.evaluate(
                data, data.X_train, data.y_train, arch, seed, self.budget(label, "dm"), full=True
            )
        if kind in ("random", "random_balanced"):
            X_r, y_r = random_subset(
                data.X_train,
                data.y_train,
                ipc,
                sensitive_features=data.A_train,
                balanced=kind == "random_balanced",
                random_state=seed,
            )
            return self.evaluate(data, X_r, y_r, arch, seed, self.budget(label, "dm"))
        if kind == "fairlearn":
            row = fairlearn_mitigations(
                data.X_train,
                data.y_train,
                data.A_train,
                data.X_test,
                data.y_test,
                data.A_test,
                mitigations=[task["mitigation"]],
                random_state=seed,
            ).iloc[0]
            return row.to_dict()
        if kind == "rf":
            return self.fair_extractor(task, data, label)
        X_s, y_s, seconds = self.distil(
            data, label, method, task["target"], ipc, seed, task["params"]
        )
        weights = None
        if kind == "mf":  # one group classifier per (dataset, seed), shared by the methods
            infer = self.group_models.get((label, seed))
            if infer is None:
                budget = self.budget(label, "dm")
                infer = fit_group_classifier(
                    data.X_train,
                    data.A_train,
                    epochs=budget.get("full_epochs") or 3,
                    net_width=budget.get("net_width"),
                    random_state=seed,
                )
                self.group_models[(label, seed)] = infer
            weights = balanced_weights(y_s, infer(X_s))
        metrics = self.evaluate(data, X_s, y_s, arch, seed, budget, sample_weight=weights)
        return {**metrics, "distil_seconds": seconds}

    def fair_extractor(self, task, data, label):
        """RF: a fair extractor, vanilla distillation of its features, LogisticRegression."""
        features = self.extracted.get((label, task["seed"]))
        if features is None:  # one extractor per (dataset, seed), shared by the methods
            budget = self.budget(label, "dm")
            extractor = FairFeatureExtractor(
                epochs=budget.get("full_epochs") or 20,
                net_width=budget.get("net_width"),
                device=self.device,
                random_state=task["seed"],
            ).fit(data.X_train, data.y_train, sensitive_features=data.A_train)
            features = Bunch(
                X_train=extractor.transform(data.X_train),
                y_train=data.y_train,
                A_train=data.A_train,
                X_test=extractor.transform(data.X_test),
                y_test=data.y_test,
                A_test=data.A_test,
            )
            self.extracted[(label, task["seed"])] = features
        tabular = {
            k: v for k, v in self.budget("adult", task["method"]).items() if k in DISTILLER_KEYS
        }
        distiller = BarycentricDistiller(
            method=task["method"],
            target="vanilla",
            ipc=task["ipc"],
            random_state=task["seed"],
            device=self.device,
            **tabular,
        ).fit(features.X_train, features.y_train, sensitive_features=features.A_train)
        X_s, y_s = distiller.transform()
        metrics = self.evaluate(features, X_s, y_s, "logreg", task["seed"], {})
        note = "LogisticRegression on the fair extractor's features"
        return {**metrics, "distil_seconds": distiller.fit_time_, "note": note}


def machine(device):
    """A short description of the machine, for the results."""
    info = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "skdistill": __version__,
        "device": str(device),
    }
    if torch.device(device).type == "cuda":
        info["gpu"] = torch.cuda.get_device_name()
    return info


def run_benchmark(config, out_dir="skdistill-benchmark", *, command=None, log=print, progress=True):
    """Run a benchmark configuration (see :func:`make_config`); resume from ``out_dir``.

    Returns
    -------
    Bunch
        ``records`` (DataFrame, one row per evaluation), ``markdown`` (path of
        ``results.md``), ``figures`` (PNG paths), ``seconds`` (wall time of all sessions).
    """
    runner = _Runner(config, out_dir, log)
    groups = plan(config)
    total = sum(len(tasks) for tasks in groups.values())
    start = time.perf_counter() - runner.seconds
    timing = read_timing(runner.out) if config["timing"] else []
    bar = tqdm(total=total, disable=not progress, desc="benchmark")
    missing = {}
    for (name, sweep, value), tasks in groups.items():
        pending = [t for t in tasks if _key(t) not in runner.done]
        bar.update(len(tasks) - len(pending))
        # the timing table is measured on the data the cells load, not on a second copy
        untimed = config["timing"] and sweep is None and timing_pending(config, name, timing)
        if not pending and not untimed:
            continue
        # the label names the data (sweep included): it keys the cache of synthetic sets
        label = name if sweep is None else f"{name} {sweep}={value}"
        kwargs = {} if sweep is None else {sweep: value}
        try:
            data = load_benchmark_dataset(name, data_root=config["data_root"], **kwargs)
        except FileNotFoundError as exc:  # one line, and the rest of the plan still runs
            missing[name] = str(exc)
            log(f"[benchmark] skipped {name}: {exc}")
            bar.update(len(pending))
            continue
        if untimed:
            time_dataset(config, runner, log, name, data, timing)
        runner.estimate(data, label, pending)
        for task in pending:
            log(
                f"[benchmark] {data.title}: {task['entry']}, IPC {task['ipc']}, "
                f"seed {task['seed']}, {task['arch']}"
            )
            metrics = runner.execute(task, data, label)
            record = {"key": _key(task), **task}
            record.pop("params", None)
            record.update({k: _plain(v) for k, v in metrics.items() if k != "run"})
            runner.records.append(record)
            runner.done.add(record["key"])
            runner.save(time.perf_counter() - start)
            bar.update()
    bar.close()
    seconds = time.perf_counter() - start
    runner.save(seconds)
    # a folder may hold records of an earlier configuration: report this one's only
    planned = {_key(t) for tasks in groups.values() for t in tasks}
    records = pd.DataFrame([r for r in runner.records if r["key"] in planned])
    figures = make_figures(runner, records, Path(out_dir)) if len(records) else []
    markdown = write_markdown(
        config, records, figures, Path(out_dir), seconds, runner, command, timing, missing
    )
    return Bunch(
        records=records, markdown=markdown, figures=figures, seconds=seconds, missing=missing
    )


def _duration(seconds):
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _plain(value):
    """A metric value for ``results.json``: missing numbers become None, containers stay."""
    if isinstance(value, (list, dict)):
        return value
    return None if pd.isna(value) else value


# ---------------------------------------------------------------------------------- report
def _per_run(records: pd.DataFrame) -> pd.DataFrame:
    """One row per trained evaluation model: a record's ``runs`` replace its mean metrics."""
    if "runs" not in records:
        return records.copy()
    rows = []
    for record in records.to_dict(orient="records"):
        runs = record.pop("runs", None)
        if not isinstance(runs, list) or not runs:
            rows.append(record)
            continue
        rows += [{**record, **{m: run.get(m) for m in METRICS + CRITERIA}} for run in runs]
    return pd.DataFrame(rows)


def summarise(records: pd.DataFrame) -> pd.DataFrame:
    """Mean and std of every metric per (dataset, sweep, IPC, arch, entry).

    The statistics pool every evaluation model of every seed (seeds x evaluation runs);
    ``n_seeds`` and ``n_models`` count them.
    """
    keys = ["dataset", "sweep", "sweep_value", "ipc", "arch", "entry"]
    frame = _per_run(records)
    for col in ("sweep", "sweep_value", "note"):
        if col not in frame:
            frame[col] = None
    frame[["sweep", "sweep_value"]] = frame[["sweep", "sweep_value"]].astype(object)
    frame = frame.fillna({"sweep": "", "note": ""})
    frame["sweep_value"] = frame["sweep_value"].where(frame["sweep_value"].notna(), "")
    for m in CRITERIA:  # records of fairlearn's mitigations (and older records) lack them
        if m not in frame:
            frame[m] = np.nan
    frame[list(CRITERIA)] = frame[list(CRITERIA)].astype(float)
    grouped = frame.groupby(keys, sort=False, dropna=False)
    table = grouped[list(METRICS + CRITERIA)].agg(["mean", "std"])
    table.columns = [f"{m}_{s}" for m, s in table.columns]
    table["n_seeds"] = grouped["seed"].nunique()
    table["n_models"] = grouped.size()
    table["note"] = grouped["note"].first()
    if "distil_seconds" in frame:
        table["distil_seconds"] = grouped["distil_seconds"].mean()
    return table.fillna({f"{m}_std": 0.0 for m in METRICS}).reset_index()


def _cell(row):
    if pd.isna(row["eod_max_mean"]):
        return f"n/a ({row['note']})" if row["note"] else "n/a"
    return (
        f"{100 * row['eod_max_mean']:.1f} ± {100 * row['eod_max_std']:.1f} "
        f"({100 * row['accuracy_mean']:.1f} ± {100 * row['accuracy_std']:.1f})"
    )


def _criteria_cell(row):
    if pd.isna(row["dp_max_mean"]):
        return "-"
    return (
        f"{100 * row['dp_max_mean']:.1f} / {100 * row['ppd_max_mean']:.1f} / "
        f"{100 * row['worst_group_accuracy_mean']:.1f}"
    )


def _grid(summary, columns, cell=_cell):
    """A table: entries as rows (in order of appearance), ``columns`` values as columns.

    Cells by ``cell``: "EOD (Acc)" by default.
    """
    summary = summary.assign(_col=summary[columns].astype(str).agg(" · ".join, axis=1))
    cells = summary.assign(cell=summary.apply(cell, axis=1))
    grid = cells.pivot_table(
        index="entry", columns="_col", values="cell", aggfunc="first", sort=False
    )
    order = list(dict.fromkeys(cells["entry"]))
    cols = list(dict.fromkeys(cells["_col"]))
    return grid.reindex(index=order, columns=cols).fillna("-")


def _markdown(frame, corner=""):
    lines = ["| " + " | ".join([corner, *map(str, frame.columns)]) + " |"]
    lines.append("|" + "---|" * (len(frame.columns) + 1))
    for name, row in frame.iterrows():
        lines.append("| " + " | ".join([str(name), *map(str, row.tolist())]) + " |")
    return "\n".join(lines)


def _paper_header(config, summary, timing, device_name):
    """The paper layout's opening: what the budgets are, Table 1, the timing table."""
    scale = float(config["budget_scale"])
    budget = (
        "the COBRA authors' scripts (listed under Settings)"
        if scale == 1
        else f"the COBRA authors' scripts × **budget scale {scale:g}** (iterations and epochs; "
        "a quick look, not the paper's protocol)"
    )
    lines = [
        "# skdistill benchmark: the COBRA paper's Table 1 layout",
        "",
        f"Budgets: {budget}. Cells: **EOD_M ± std (accuracy ± std)** in points over "
        f"{config['seeds']} seed(s) × {config['eval_runs']} evaluation run(s), as the paper's "
        "'EOD (Acc)'. FULL: one ConvNet per seed on all training images.",
        "",
    ]
    if not summary.empty:
        lines += [table1_markdown(summary[summary["sweep"] == ""], config), ""]
    lines += [timing_markdown(timing, device_name)] if timing else []
    return lines


def write_markdown(
    config, records, figures, out, seconds, runner, command, timing=(), missing=None
):
    """``results.md``: the main table per IPC, the sweep tables, settings and figures."""
    empty = pd.DataFrame(columns=["sweep", "ipc", "dataset", "entry", "distil_seconds"])
    summary = summarise(records) if len(records) else empty
    info = machine(runner.device)
    paper = config["layout"] == "paper"
    device_name = info.get("gpu", info["processor"]) + f" ({info['device']})"
    lines = _paper_header(config, summary, timing, device_name) if paper else []
    lines += [
        "# skdistill benchmark" if not paper else "## Every cell",
        "",
        (
            "Budgets: **CPU-sized** (listed under Settings; the papers distil and evaluate far "
            "longer). "
            if not paper
            else ""
        )
        + "Cells: **EOD_M ± std (accuracy ± std)**, in points, pooled over "
        f"{config['seeds']} seed(s) x {config['eval_runs']} evaluation run(s): each seed "
        "distils its own synthetic set, scored as learnt (floats, not rounded) by "
        f"{config['eval_runs']} models trained from scratch on it; FULL trains one model per "
        "seed to convergence (its training curve is drawn below). EOD_M is the largest "
        "per-class gap in recall between groups (lower is fairer), on the held-out test "
        "split. Images are evaluated by the named architecture (trained with the budget's "
        "`eval_augment`: DSA in the CPU presets), tables by "
        "LogisticRegression. RF rows train LogisticRegression on the fair extractor's "
        "features; fairlearn's mitigations and FULL train on the whole training set.",
        "",
    ]
    main = summary[summary["sweep"] == ""]
    for ipc in config["ipc"]:
        part = main[main["ipc"] == ipc]
        if part.empty:
            continue
        lines += [f"## IPC {ipc}", "", _markdown(_grid(part, ["dataset", "arch"]), "entry"), ""]
        lines += [
            f"Other criteria, IPC {ipc}: demographic parity gap DP_M / predictive parity "
            "(sufficiency) gap PP_M / worst group's accuracy, in points, means over the same "
            "models (skdistill.metrics; '-' where not computed)",
            "",
            _markdown(_grid(part, ["dataset", "arch"], _criteria_cell), "entry"),
            "",
        ]
    for sweep in config["sweeps"] or {}:
        part = summary[summary["sweep"] == sweep]
        for dataset, rows in part.groupby("dataset", sort=False):
            rows = rows.assign(sweep_value=sweep.upper() + " " + rows["sweep_value"].astype(str))
            lines += [
                f"## {sweep.upper()} sweep: {dataset}, IPC {config['ipc'][0]}",
                "",
                _markdown(_grid(rows, ["sweep_value"]), "entry"),
                "",
            ]
    if missing:
        lines += ["## Skipped datasets", ""]
        lines += [f"- `{name}`: {why}" for name, why in missing.items()] + [""]
    if paper:
        budgets = {
            f"paper/{method}": runner.budget(config["datasets"][0], method)
            for method in config["methods"]
        }
    else:
        budgets = {
            f"{size}/{method}": {**budget, **(config["budgets"] or {}).get(size, {})}
            for (size, method), budget in BUDGETS.items()
        }
    timing = summary.dropna(subset=["distil_seconds"]) if "distil_seconds" in summary else None
    lines += ["## Settings", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [
        f"Machine: {info.get('gpu', info['processor'])}, {info['cpu_count']} cores "
        f"({info['torch_threads']} torch threads), {info['platform']}; Python "
        f"{info['python']}, torch {info['torch']}, skdistill {info['skdistill']}. Wall time: "
        f"{seconds:.0f} s.",
        "",
        ("The COBRA authors' budgets" if paper else "CPU-sized budgets")
        + " (distillation: `n_iter`, `batch_real`, ...; evaluation: "
        "`eval_epochs` per network with `eval_augment`, `full_epochs` for FULL and the RF "
        "extractor); every other distiller parameter is its default (e.g. `init` "
        "random_real, the references' start, unless a row names another):",
        "",
        "```json",
        json.dumps(budgets, indent=1),
        "```",
        "",
    ]
    if timing is not None and not timing.empty:
        mean = timing.groupby("entry", sort=False)["distil_seconds"].mean()
        lines += [
            "Mean distillation time per synthetic set (s): "
            + ", ".join(f"{k} {v:.0f}" for k, v in mean.items()),
            "",
        ]
    lines += [f"![{p.stem}]({p.name})" for p in figures]
    path = out / "results.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _save(fig, path, figures):
    fig.savefig(path, dpi=110)
    figures.append(path)


def make_figures(runner, records, out):
    """The PNG figures of a finished run (see :func:`run_benchmark`)."""
    config, figures = runner.config, []
    summary = summarise(records)
    main = summary[summary["sweep"] == ""]
    first_ipc = config["ipc"][0]
    if "curve" in records:
        full = records[records["entry"].eq("FULL") & records["curve"].notna()]
        for dataset, rows in full.groupby("dataset", sort=False):
            axes = plot_training_curves(
                list(rows["curve"]), title=f"{dataset}: FULL training curve (one run per seed)"
            )
            _save(axes[0].figure, out / f"{dataset}_full_training.png", figures)
    for dataset, rows in main.groupby("dataset", sort=False):
        arch = rows["arch"].iloc[0]
        table = rows[(rows["ipc"] == first_ipc) & (rows["arch"] == arch)].dropna(
            subset=["eod_max_mean"]
        )
        if not table.empty:
            ax = plot_fairness_accuracy(
                table.set_index("entry"), title=f"{dataset}, IPC {first_ipc}, {arch}"
            )
            _save(ax.figure, out / f"{dataset}_fairness_accuracy.png", figures)
        if len(config["ipc"]) > 1:
            curve = rows[(rows["arch"] == arch) & ~rows["entry"].isin(["FULL"])]
            curve = curve.dropna(subset=["eod_max_mean"])
            curve = curve[curve.groupby("entry")["ipc"].transform("nunique") > 1]
            if not curve.empty:
                ax = plot_metric_curves(
                    curve, x="ipc", xlabel="IPC", title=f"{dataset}: EOD vs IPC"
                )
                _save(ax[0].figure, out / f"{dataset}_ipc.png", figures)
    for sweep in config["sweeps"] or {}:
        part = summary[summary["sweep"] == sweep]
        for dataset, rows in part.groupby("dataset", sort=False):
            rows = rows.assign(sweep_value=rows["sweep_value"].astype(float))
            ax = plot_metric_curves(
                rows,
                x="sweep_value",
                xlabel=sweep.upper(),
                title=f"{dataset}: {sweep.upper()} sweep",
            )
            _save(ax[0].figure, out / f"{dataset}_{sweep}.png", figures)
    figures += _image_figures(runner, out)
    return figures


def _image_figures(runner, out):
    """Synthetic grids (every target, every class) and the t-SNE of learned features."""
    config, figures = runner.config, []
    first_ipc = config["ipc"][0]
    variant = next(iter(config["variants"] or {"": {}}))
    params = (config["variants"] or {"": {}})[variant]
    for dataset in config["datasets"]:
        if _size(dataset) == "tabular":
            continue
        try:
            data = load_benchmark_dataset(dataset, data_root=config["data_root"])
        except FileNotFoundError:  # skipped, and said so in the report
            continue
        for method in config["methods"]:
            sets = {
                t: runner.distil(data, dataset, method, t, first_ipc, 0, params)[:2]
                for t in config["targets"]
            }
            fig = Figure(figsize=(4.2 * len(sets), 4.6), layout="constrained")
            for ax, (target, (X_s, y_s)) in zip(
                fig.subplots(1, len(sets), squeeze=False)[0], sets.items()
            ):
                plot_synthetic_images(
                    X_s, y_s, ax=ax, title=f"{method.upper()} · {TARGET_LABELS[target]}"
                )
            _save(fig, out / f"{dataset}_{method}_synthetic.png", figures)
            if dataset in config["tsne"] and method == config["methods"][0]:
                figures.append(_tsne_figure(runner, data, dataset, method, sets, out))
    return figures


def _tsne_figure(runner, data, dataset, method, sets, out, n_points=600):
    """Paper Fig. 3: features of real test images by a ConvNet trained on each synthetic set."""
    budget = runner.budget(dataset, method)
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(data.y_test), min(n_points, len(data.y_test)), replace=False))
    fig = Figure(figsize=(9, 4.2 * len(sets)), layout="constrained")
    axes = fig.subplots(len(sets), 2, squeeze=False)
    for row, (target, (X_s, y_s)) in zip(axes, sets.items()):
        network, codec, _, shape = _train_torch(
            "convnet",
            X_s,
            y_s,
            0,
            runner.device,
            budget.get("eval_epochs") or 300,
            0.01,
            256,
            None,
            None,
        )
        x = codec.encode(np.asarray(data.X_test)[pick]).reshape(-1, *shape)
        with torch.no_grad():
            feats = network.embed(x.to(runner.device)).cpu().numpy()
        plot_embedding(
            feats,
            data.y_test[pick],
            data.A_test[pick],
            axes=row,
            title=f"{method.upper()} · {TARGET_LABELS[target]}: coloured by class",
        )
    path = out / f"{dataset}_{method}_tsne.png"
    fig.savefig(path, dpi=110)
    return path
