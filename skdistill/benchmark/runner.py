"""Runs a plan: distils (with a cache of synthetic sets), evaluates and records every cell."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils import Bunch
from tqdm.auto import tqdm

from .._device import resolve_device
from .._distiller import BarycentricDistiller
from .._persistence import CHECKPOINT_NAME, write_text_atomic
from ..baselines import (
    FairFeatureExtractor,
    balanced_weights,
    fairlearn_mitigations,
    fit_group_classifier,
    random_subset,
)
from ..evaluation import evaluate_synthetic
from ..methods import METHOD_SPECS
from .config import (
    BASELINE_METHOD,
    BENCH_THREADS,
    BUDGETS,
    DISTILLER_KEYS,
    PROTOCOL,
    cell_budget,
    distiller_params,
)
from .data import load_benchmark_dataset
from .figures import make_figures, require_matplotlib
from .paper import estimate_cells, read_timing, time_dataset, timing_pending
from .plan import plan, task_key
from .report import machine, write_markdown

#: Iterations between the checkpoints of a cached fit (an interrupted run resumes mid-fit).
CHECKPOINT_EVERY = 50


def digest(obj) -> str:
    """The short SHA-1 of an object's sorted JSON: the file name of a cached synthetic set."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


class Runner:
    """Executes tasks, caching synthetic sets and appending records to ``results.json``.

    Parameters
    ----------
    config : dict
        A configuration (:func:`~skdistill.benchmark.make_config`).
    out : str or Path
        Output folder: ``results.json`` and, with ``cache``, ``cache/``.
    log : callable
        Receives progress lines.
    budgets : dict, default=None
        Budget table keyed by (data size, method) (:data:`~skdistill.benchmark.BUDGETS`).
    persistent : bool, default=True
        Keep synthetic sets in ``out/cache`` (their fits checkpointed there) and records in
        ``out/results.json``, so that a rerun resumes; otherwise synthetic sets are kept in
        memory for this run only (or in ``cache_dir``).
    cache_dir : str or Path, default=None
        With ``persistent=False``: a folder that keeps the synthetic sets (their fits
        checkpointed there) but no records, so that an interrupted run resumes its fits and
        a set made before with the same settings is reused. Its files are named as in
        ``out/cache`` of a persistent run.
    """

    def __init__(self, config, out, log, *, budgets=None, persistent=True, cache_dir=None):
        self.config = config
        self.out = Path(out)
        self.budgets = BUDGETS if budgets is None else budgets
        if persistent and cache_dir is not None:
            raise ValueError("cache_dir is for persistent=False: a persistent run caches in out")
        if cache_dir is not None:
            self.cache = Path(cache_dir)
        else:
            self.cache = self.out / "cache" if persistent else None
        if self.cache is not None:
            self.cache.mkdir(parents=True, exist_ok=True)
        self.memory = {}  # digest -> synthetic set, without a cache folder
        self.log = log
        self.device = resolve_device(config["device"])
        self.path = self.out / "results.json"
        self.records, self.seconds, self.made_on = [], 0.0, None
        if persistent and self.path.exists():
            saved = json.loads(self.path.read_text())
            self.records = saved["records"]
            self.seconds = saved.get("wall_seconds", 0.0)
            self.made_on = saved.get("machine")
        # a record counts as done under the budget it was made with: another budget redoes it
        self.done = {(r["key"], r.get("budget")) for r in self.records}
        self.extracted = {}  # (dataset, seed) -> RF features, shared by the methods
        self.group_models = {}  # (dataset, seed) -> MF group classifier

    def budget(self, dataset, method):
        """The cell's budget (:func:`~skdistill.benchmark.config.cell_budget`)."""
        return cell_budget(self.config, dataset, method, self.budgets)

    def stamp(self, task) -> str:
        """What a record depends on beyond its fields: a digest of its cell's budget.

        Rows without a method (FULL, RANDOM, fairlearn's mitigations) depend on its evaluation
        settings only.
        """
        method = task.get("method")
        budget = self.budget(task["dataset"], method or BASELINE_METHOD)
        return digest({k: v for k, v in budget.items() if method or k not in DISTILLER_KEYS})

    def is_done(self, task) -> bool:
        """Whether ``task`` has a record made under its current budget."""
        return (task_key(task), self.stamp(task)) in self.done

    @property
    def machine(self) -> dict:
        """The machine that made the newest records (a rerun that computes nothing keeps it)."""
        return self.made_on or machine(self.device)

    def save(self, wall_seconds):
        """Write ``results.json`` (atomically): configuration, machine and every record."""
        payload = {
            "config": self.config,
            "machine": self.machine,
            "wall_seconds": wall_seconds,
            "records": self.records,
        }
        write_text_atomic(self.path, json.dumps(payload, indent=1, default=str))

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

    def distiller_kwargs(self, label, method, target, ipc, seed, params):
        """The distiller's parameters for a cell, and the digest of its cached set.

        The digest holds every parameter of the distiller, defaults included: a set made
        under other defaults (e.g. another init or augmentation) is never reused.
        """
        budget = self.budget(label, method)
        options = {**{k: v for k, v in budget.items() if k in DISTILLER_KEYS}, **params}
        kwargs = dict(
            target=target,
            ipc=ipc,
            random_state=seed,
            n_threads=BENCH_THREADS,
            **distiller_params(method, options),
        )
        every = BarycentricDistiller(**kwargs).get_params()
        every = {k: repr(v) for k, v in every.items() if k not in ("device", "verbose")}
        key = {"data": label, "device": self.device.type, "protocol": PROTOCOL, **every}
        return self.with_experts(kwargs, label), digest(key)

    def with_experts(self, kwargs, label):
        """``kwargs`` whose trajectory method keeps its expert buffers beside the cache.

        One folder per data, seed, device, network and expert training, shared by every
        target and IPC (each kind of buffer is trained once, by the first fit that needs
        it); the folder is no part of the synthetic set's digest. Without a cache, for a
        method given its own folder, or for other methods, ``kwargs`` as they are.
        """
        method = kwargs["method"]
        if isinstance(method, str):
            method = METHOD_SPECS[method]() if method in METHOD_SPECS else None
        params = method.get_params() if method is not None else {}
        if self.cache is None or "expert_dir" not in params or params["expert_dir"] is not None:
            return kwargs  # (a folder given in a variant's parameters is kept)
        training = {k: v for k, v in params.items() if k.startswith("expert") or k == "n_experts"}
        training["max_start_epoch"] = params["max_start_epoch"]
        net = {k: kwargs.get(k) for k in ("net_width", "net_depth", "net_norm", "augment")}
        key = dict(data=label, seed=kwargs["random_state"], device=self.device.type, **net)
        folder = self.cache / "experts" / digest({**key, **training, "protocol": PROTOCOL})
        return dict(kwargs, method=clone(method).set_params(expert_dir=str(folder)))

    def distil(self, data, label, method, target, ipc, seed, params):
        """The synthetic set of one cell and its fit time, from the cache when it was made."""
        kwargs, name = self.distiller_kwargs(label, method, target, ipc, seed, params)
        if self.cache is None:
            if name not in self.memory:
                distiller = BarycentricDistiller(**kwargs, device=self.device)
                self.memory[name] = _fitted_set(distiller, data)
            return self.memory[name]
        path = self.cache / f"{name}.npz"
        if path.exists():
            saved = np.load(path, allow_pickle=False)
            y = saved["y"]  # string labels are stored as fixed-width unicode
            y = y.astype(object) if y.dtype.kind == "U" else y
            return saved["X"], y, float(saved["seconds"])
        # long fits checkpoint beside the cache, so that an interrupted run resumes mid-fit
        # (a resumed fit equals the uninterrupted one); the folder goes once the set is cached
        folder = self.cache / f"{name}.ckpt"
        distiller = BarycentricDistiller(
            **kwargs, device=self.device, checkpoint_dir=folder, checkpoint_every=CHECKPOINT_EVERY
        )
        X_syn, y, seconds = _fitted_set(distiller, data, resume=(folder / CHECKPOINT_NAME).exists())
        np.savez(path, X=X_syn, y=y.astype(str) if y.dtype == object else y, seconds=seconds)
        shutil.rmtree(folder, ignore_errors=True)
        return X_syn, y, seconds

    def execute(self, task, data, label):
        """Metrics of one task (a dict with accuracy, eod_max, eod_mean, ...)."""
        run = {
            "full": self._full,
            "random": self._random,
            "random_balanced": self._random,
            "fairlearn": self._fairlearn,
            "rf": self.fair_extractor,
        }.get(task["kind"], self._distilled)
        return run(task, data, label)

    def _full(self, task, data, label):
        budget = self.budget(label, BASELINE_METHOD)
        X, y = data.X_train, data.y_train
        return self.evaluate(data, X, y, task["arch"], task["seed"], budget, full=True)

    def _random(self, task, data, label):
        X_r, y_r = random_subset(
            data.X_train,
            data.y_train,
            task["ipc"],
            sensitive_features=data.A_train,
            balanced=task["kind"] == "random_balanced",
            random_state=task["seed"],
        )
        budget = self.budget(label, BASELINE_METHOD)
        return self.evaluate(data, X_r, y_r, task["arch"], task["seed"], budget)

    def _fairlearn(self, task, data, label):
        return (
            fairlearn_mitigations(
                data.X_train,
                data.y_train,
                data.A_train,
                data.X_test,
                data.y_test,
                data.A_test,
                mitigations=[task["mitigation"]],
                random_state=task["seed"],
            )
            .iloc[0]
            .to_dict()
        )

    def _distilled(self, task, data, label):
        """A distilled cell: ``distilled``, DF (its target) and MF (group-balanced weights)."""
        method, seed = task["method"], task["seed"]
        X_s, y_s, seconds = self.distil(
            data, label, method, task["target"], task["ipc"], seed, task["params"]
        )
        weights = None
        if task["kind"] == "mf":
            weights = balanced_weights(y_s, self.group_model(data, label, seed)(X_s))
        budget = self.budget(label, method)
        metrics = self.evaluate(data, X_s, y_s, task["arch"], seed, budget, sample_weight=weights)
        return {**metrics, "distil_seconds": seconds}

    def group_model(self, data, label, seed):
        """MF's group classifier of ``(dataset, seed)``, shared by the methods."""
        infer = self.group_models.get((label, seed))
        if infer is None:
            budget = self.budget(label, BASELINE_METHOD)
            infer = fit_group_classifier(
                data.X_train,
                data.A_train,
                epochs=budget.get("full_epochs") or 3,
                net_width=budget.get("net_width"),
                random_state=seed,
            )
            self.group_models[(label, seed)] = infer
        return infer

    def fair_extractor(self, task, data, label):
        """RF: a fair extractor, vanilla distillation of its features, LogisticRegression."""
        features = self.extracted.get((label, task["seed"]))
        if features is None:  # one extractor per (dataset, seed), shared by the methods
            budget = self.budget(label, BASELINE_METHOD)
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
            target="vanilla",
            ipc=task["ipc"],
            random_state=task["seed"],
            device=self.device,
            **distiller_params(task["method"], tabular),
        ).fit(features.X_train, features.y_train, sensitive_features=features.A_train)
        X_s, y_s = distiller.X_synthetic_, distiller.y_synthetic_
        metrics = self.evaluate(features, X_s, y_s, "logreg", task["seed"], {})
        note = "LogisticRegression on the fair extractor's features"
        return {**metrics, "distil_seconds": distiller.fit_time_, "note": note}

    def record(self, task, metrics):
        """Append the record of a finished task (the cell's fields and its metrics)."""
        record = {"key": task_key(task), "budget": self.stamp(task), **task}
        record.pop("params", None)
        record.update({k: _plain(v) for k, v in metrics.items() if k != "run"})
        # a record of an earlier budget is replaced, never kept beside the new one
        self.records = [r for r in self.records if r["key"] != record["key"]] + [record]
        self.done.add((record["key"], record["budget"]))
        self.made_on = machine(self.device)


def _fitted_set(distiller, data, resume=False):
    """Fit ``distiller`` on the training split: ``(X_syn, y_syn, seconds)`` as arrays."""
    distiller.fit(data.X_train, data.y_train, sensitive_features=data.A_train, resume=resume)
    X_syn, y_syn = distiller.X_synthetic_, distiller.y_synthetic_
    X_syn = X_syn.numpy() if torch.is_tensor(X_syn) else np.asarray(X_syn)
    return X_syn, np.asarray(y_syn), distiller.fit_time_


def _plain(value):
    """A metric value for ``results.json``: missing numbers become None, containers stay."""
    if isinstance(value, (list, dict)):
        return value
    return None if pd.isna(value) else value


def run_benchmark(config, out_dir="skdistill-benchmark", *, command=None, log=print, progress=True):
    """Run a benchmark configuration (see :func:`make_config`); resume from ``out_dir``.

    Returns
    -------
    Bunch
        ``records`` (DataFrame, one row per evaluation), ``markdown`` (path of
        ``results.md``), ``figures`` (PNG paths), ``seconds`` (wall time of all sessions),
        ``missing`` (datasets skipped, with the reason), ``failed`` (cells whose run raised,
        e.g. a fit whose loss became non-finite: each with its error; the rest of the plan
        still runs, the report lists them, and the next run retries them).
    """
    require_matplotlib()  # before hours of work, not at the figures
    runner = Runner(config, out_dir, log)
    groups = plan(config)
    start = time.perf_counter() - runner.seconds
    timing = read_timing(runner.out) if config["timing"] else []
    bar = tqdm(total=sum(map(len, groups.values())), disable=not progress, desc="benchmark")
    missing, failed = {}, []
    for group, tasks in groups.items():
        _run_group(runner, group, tasks, timing, missing, failed, bar, start)
    bar.close()
    seconds = time.perf_counter() - start
    runner.save(seconds)
    # a folder may hold records of an earlier configuration: report this one's only
    planned = {(task_key(t), runner.stamp(t)) for tasks in groups.values() for t in tasks}
    records = pd.DataFrame([r for r in runner.records if (r["key"], r.get("budget")) in planned])
    out = Path(out_dir)
    figures = make_figures(runner, records, out) if len(records) else []
    markdown = write_markdown(
        config, records, figures, out, seconds, runner, command, timing, missing, failed
    )
    return Bunch(
        records=records,
        markdown=markdown,
        figures=figures,
        seconds=seconds,
        missing=missing,
        failed=failed,
    )


def _run_group(runner, group, tasks, timing, missing, failed, bar, start):
    """The pending tasks of one ``(dataset, sweep, value)`` group, on its data loaded once."""
    config, log = runner.config, runner.log
    name, sweep, value = group
    pending = [t for t in tasks if not runner.is_done(t)]
    bar.update(len(tasks) - len(pending))
    # the timing table is measured on the data the cells load, not on a second copy
    untimed = config["timing"] and sweep is None and timing_pending(config, name, timing)
    if not pending and not untimed:
        return
    # the label names the data (sweep included): it keys the cache of synthetic sets
    label = name if sweep is None else f"{name} {sweep}={value}"
    kwargs = {} if sweep is None else {sweep: value}
    try:
        data = load_benchmark_dataset(name, data_root=config["data_root"], **kwargs)
    except FileNotFoundError as exc:  # one line, and the rest of the plan still runs
        missing[name] = str(exc)
        log(f"[benchmark] skipped {name}: {exc}")
        bar.update(len(pending))
        return
    if untimed:
        time_dataset(config, runner, log, name, data, timing)
    if config["layout"] == "paper":
        estimate_cells(runner, data, label, pending)
    for task in pending:
        log(
            f"[benchmark] {data.title}: {task['entry']}, IPC {task['ipc']}, "
            f"seed {task['seed']}, {task['arch']}"
        )
        try:
            metrics = runner.execute(task, data, label)
        except Exception as exc:  # noqa: BLE001 - one cell's failure must not end the plan
            # e.g. a fit whose loss became non-finite: reported, retried by the next run
            failed.append(
                {
                    "entry": task["entry"],
                    "dataset": name,
                    "ipc": task["ipc"],
                    "seed": task["seed"],
                    "error": f"{type(exc).__name__}: {exc}",
                }
            )
            log(f"[benchmark] FAILED {data.title}: {task['entry']}, seed {task['seed']}: {exc}")
        else:
            runner.record(task, metrics)
            runner.save(time.perf_counter() - start)
        bar.update()
