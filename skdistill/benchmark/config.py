"""Configurations of ``skdistill benchmark``: presets, defaults, labels and budgets.

Names, labels and budgets come from the registries: any method of
:data:`skdistill.methods.METHODS` and target of :data:`skdistill.targets.TARGETS` can be
configured; a target's display name is its class's ``label``, a method's its class's ``label``
(the name in capitals when None); a method that :data:`BUDGETS` does not list gets its data
size's :data:`FALLBACK_BUDGETS`.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from .._optional import import_optional
from ..methods import METHOD_SPECS, METHODS
from ..targets import TARGETS
from .data import DATASETS, TABLE1_DATASETS, data_size

#: Version of the evaluation protocol, part of every record's key and of every cached set's
#: digest: results of an earlier protocol are never mixed into a table (2: synthetic sets
#: scored as learnt, siamese DSA with one draw per class, DSA training of image evaluation
#: networks, several evaluation runs per set, FULL trained to convergence).
PROTOCOL = 2

BASELINES = ("full", "random", "random_balanced", "fairlearn", "rf", "df", "mf")
METRICS = ("accuracy", "eod_max", "eod_mean")
#: Criteria reported beside EOD (skdistill.metrics.fairness_report), pooled like METRICS.
CRITERIA = ("dp_max", "dp_mean", "ppd_max", "ppd_mean", "acc_gap_max", "worst_group_accuracy")
SWEEPS = ("gap", "skew")
LAYOUTS = ("default", "paper")

#: How image sets are scored, per data size (see :data:`BUDGETS`).
CMNIST_EVAL = dict(eval_epochs=300, eval_augment="dsa", full_epochs=20)
# Colored Digits' full training set (1,257 images of 8x8, 5 mini-batches per epoch) needs far
# more epochs than Colored MNIST's: after 40 its training loss was still 2.0 (chance is 2.3) and
# FULL scored as RANDOM does (24 %, the colour alone); after 600 its training accuracy is 99-100 %
# from epoch 300, its loss flat at about 0.12, and FULL learns the digits (70 % on the test split)
DIGITS_EVAL = dict(eval_epochs=300, eval_augment="dsa", full_epochs=600)
#: CPU-sized distillation and evaluation budgets per (data size, method), for a 2-core CPU;
#: the papers run far more iterations and evaluation epochs. ``eval_epochs`` trains every
#: evaluation network (with ``eval_augment`` on images: DSA, as the references train on DSA and
#: DM sets, used for every row of an image table so that all rows share one evaluator);
#: ``full_epochs`` trains the full-data model (FULL) and the RF extractor, to convergence (the
#: FULL training curve is recorded and drawn).
BUDGETS = {
    # 1,000 iterations: from the references' start, FairDD's steps (COBRA's default) need
    # them to reach EOD_M about 22 (benchmarks/results/convergence)
    ("cmnist", "dm"): dict(n_iter=1000, batch_real=64, **CMNIST_EVAL),
    ("cmnist", "dc"): dict(
        n_iter=2, batch_real=32, outer_loop=10, inner_loop=5, net_width=64, **CMNIST_EVAL
    ),
    ("cmnist", "idc"): dict(
        n_iter=2, batch_real=32, outer_loop=10, inner_loop=2, net_width=64, **CMNIST_EVAL
    ),
    ("digits", "dm"): dict(n_iter=200, batch_real=64, **DIGITS_EVAL),
    ("digits", "dc"): dict(n_iter=10, batch_real=64, outer_loop=10, inner_loop=10, **DIGITS_EVAL),
    ("digits", "idc"): dict(n_iter=10, batch_real=64, outer_loop=10, inner_loop=2, **DIGITS_EVAL),
    ("tabular", "dm"): dict(n_iter=300, batch_real=256),
    ("tabular", "dc"): dict(n_iter=30, batch_real=256, outer_loop=10, inner_loop=10),
}
# CAFE runs DC's loops (a network trained between matching steps): DC's CPU budgets, but on
# Colored MNIST 50 iterations instead of DC's 2: a CAFE step costs a fraction of DC's
# per-class gradients, and 2 iterations (20 matching steps, 15 s) left every target at
# EOD_M 100 (about 6 minutes per set with 50)
BUDGETS.update(
    {(size, "cafe"): dict(BUDGETS[(size, "dc")]) for size in ("cmnist", "digits", "tabular")}
)
BUDGETS[("cmnist", "cafe")]["n_iter"] = 50
#: MTT on a CPU: a 32-wide network, 10 student steps matched 2 expert epochs later, starts
#: among the first 10 epochs of 5 experts per buffer (trained once per dataset and seed, and
#: cached beside the synthetic sets), a smaller initial student step than the reference's
#: 0.01 (MTT's other rates are the reference's), 300 iterations. Every buffer's epoch makes
#: the SGD steps of one pass over all the data (``expert_epoch_length="all"``; the same for
#: vanilla's one buffer): with the reference's epoch of a buffer's own data, COBRA-MTT's loss
#: became non-finite at iteration 2 on Colored MNIST's ten colour groups
#: (benchmarks/results/benchmark_cafe_mtt/mtt_buffer_epochs.json).
MTT_CPU = dict(
    n_iter=300,
    net_width=32,
    syn_steps=10,
    expert_epochs=2,
    max_start_epoch=10,
    n_experts=5,
    lr_init=0.002,
    expert_epoch_length="all",
)
BUDGETS.update(
    {
        ("cmnist", "mtt"): dict(MTT_CPU, **CMNIST_EVAL),
        ("digits", "mtt"): dict(MTT_CPU, **DIGITS_EVAL),
        ("tabular", "mtt"): dict(MTT_CPU),
    }
)
#: The budget of a method that a budget table does not list, per data size: the size's
#: evaluation and a short distillation with every other option at the method's default.
FALLBACK_BUDGETS = {
    "cmnist": dict(n_iter=100, batch_real=64, **CMNIST_EVAL),
    "digits": dict(n_iter=100, batch_real=64, **DIGITS_EVAL),
    "tabular": dict(n_iter=100, batch_real=256),
    # the distillation of the COBRA authors' gradient-matching scripts
    "paper": dict(n_iter=1000, batch_real=256, eval_epochs=1000, eval_augment=None),
}
#: Distillation and evaluation per method, as the COBRA authors' scripts run them (the COBRA
#: paper states few hyperparameters, "official implementations", §5.1; these are the values
#: of ``mhmoslemi/COBRA``'s ``scripts/run_*.sh`` and ``train_*.py`` defaults, listed with
#: their sources in the user guide). ``eval_epochs``: evaluation networks (ConvNet, SGD lr
#: 0.01, momentum 0.9, weight decay 5e-4, batch 256, lr x0.1 at half the epochs); DSA during
#: evaluation for DM only.
PAPER_BUDGETS = {
    # run_dm.sh: --Iteration 2600 --batch_real 600 --lr_img 1.0; DSA; 1,500 evaluation epochs
    "dm": dict(n_iter=2600, batch_real=600, eval_epochs=1500, eval_augment="dsa"),
    # train_dc.py defaults: 1,000 iterations, 256 real per class, lr_img 0.1, the reference
    # (outer, inner) loops per IPC (the distiller's default), no DSA; 1,000 epochs
    "dc": dict(n_iter=1000, batch_real=256, eval_epochs=1000, eval_augment=None),
    # run_idc.sh: --Iteration 1000, 256 real per class; 1,000 evaluation epochs, no DSA
    "idc": dict(n_iter=1000, batch_real=256, eval_epochs=1000, eval_augment=None),
    # train_cafe.py defaults: 2,000 iterations, 256 real per class, lr_img 0.1 halved at
    # 1,200 / 1,600 / 1,800 (the method's schedule), no DSA; 1,000 evaluation epochs
    "cafe": dict(n_iter=2000, batch_real=256, eval_epochs=1000, eval_augment=None),
}
#: FULL (a ConvNet on all training images) in the paper preset: the paper does not state it.
FULL_EPOCHS = 100
#: Budget keys that go to the distiller or its method object (the others configure the
#: evaluation).
DISTILLER_KEYS = (
    "n_iter",
    "batch_real",
    "outer_loop",
    "inner_loop",
    "net_width",
    "net_depth",
    *(k for k in MTT_CPU if k not in ("n_iter", "net_width")),
)
#: Baselines are scored with this method's evaluation budget (DSA on images, as the
#: references train on DSA and DM sets): one evaluator for every row of a table.
BASELINE_METHOD = "dm"
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
    # CAFE (vanilla, FairDD, COBRA) and MTT (vanilla, COBRA: FairDD-MTT unrolls once per
    # group, 10x the cost on Colored MNIST's 10 colours) at their CPU-sized budgets
    "cafe-mtt": dict(
        datasets=["cmnist-bg"],
        methods=["cafe", "mtt"],
        targets=["vanilla", "fairdd", "cobra"],
        ipc=[10],
        seeds=3,
        baselines=["full", "random"],
        skip=["mtt/fairdd"],
    ),
    # DC and IDC on Colored MNIST BG at their CPU-sized budgets, every target from the
    # references' start: DC's sets are the embedded preset's (one cache serves both)
    "gradient-matching": dict(
        datasets=["cmnist-bg"],
        methods=["dc", "idc"],
        targets=["vanilla", "fairdd", "cobra"],
        ipc=[10],
        seeds=3,
        baselines=["full", "random"],
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
    # (PAPER_BUDGETS); --budget-scale F scales iterations and epochs
    "paper": dict(
        datasets=TABLE1_DATASETS,
        methods=["dm", "dc", "idc", "cafe"],
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
    skip=[],
)


def target_label(name) -> str:
    """A target's display name: its class's ``label`` (its registry name when it has none)."""
    return getattr(TARGETS[name], "label", None) or name


def method_label(name) -> str:
    """A method's display name: its class's ``label`` (the name in capitals when None)."""
    return getattr(METHODS[name], "label", None) or name.upper()


def method_options() -> set:
    """Options that only some methods take (each method's ``options`` and object's parameters)."""
    return set().union(*map(options_of, METHODS)) - {"ipc", "net_norm"}


def options_of(method) -> frozenset:
    """The options of a registered method: its ``options`` and its parameter object's."""
    spec = METHOD_SPECS.get(method)
    params = spec().get_params() if spec is not None else {}
    return frozenset(METHODS[method].options) | frozenset(params)


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
    for key, what, known in (
        ("datasets", "dataset", DATASETS),
        ("methods", "method", METHODS),
        ("targets", "target", TARGETS),
        ("baselines", "baseline", BASELINES),
    ):
        bad = [v for v in config[key] if v not in known]
        if bad:
            raise ValueError(f"unknown {what}(s) {bad}; choose from {list(known)}.")
    bad = set(config["sweeps"] or {}) - set(SWEEPS)
    if bad:
        raise ValueError(f"unknown sweep(s) {sorted(bad)}; choose from {sorted(SWEEPS)}.")
    _check_skip(config)
    _check_numbers(config)
    return config


def _check_skip(config):
    """``skip``: ``"method/target"`` pairs of the grid left out of the plan."""
    for pair in config["skip"]:
        method, _, target = str(pair).partition("/")
        if method not in METHODS or target not in TARGETS:
            raise ValueError(
                f"skip entries are 'method/target' pairs of registered names; got {pair!r}."
            )


def seed_list(config) -> list:
    """The seeds a configuration runs: ``seeds`` is a count (seeds 0..n-1) or a list of seeds.

    A list lets one machine run, say, seed 2 of a preset while another runs seeds 0 and 1;
    the records of both are keyed by their seed.
    """
    seeds = config["seeds"]
    if isinstance(seeds, (list, tuple)):
        return [int(s) for s in seeds]
    return list(range(int(seeds)))


def _check_numbers(config):
    seeds = config["seeds"]
    if isinstance(seeds, (list, tuple)):
        if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
            raise ValueError(
                f"seeds is a count or a non-empty list of non-negative integers; got {seeds!r}."
            )
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds lists a seed twice: {seeds!r}.")
    elif int(seeds) < 1:
        raise ValueError("seeds must be at least 1.")
    if int(config["eval_runs"]) < 1:
        raise ValueError("eval_runs must be at least 1.")
    if not float(config["budget_scale"]) > 0:
        raise ValueError(f"budget_scale must be positive; got {config['budget_scale']!r}.")
    if config["layout"] not in LAYOUTS:
        raise ValueError(f"layout must be 'default' or 'paper'; got {config['layout']!r}.")


def load_config(path):
    """A configuration from a YAML or JSON file (keys as in :data:`DEFAULTS`, plus ``preset``)."""
    text = Path(path).read_text(encoding="utf-8")
    if str(path).endswith((".yaml", ".yml")):
        yaml = import_optional("yaml", "bench", "a YAML configuration")
        raw = yaml.safe_load(text)
    else:
        raw = json.loads(text)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a configuration is a mapping of keys to values.")
    return make_config(raw.pop("preset", None), **raw)


def scaled(budget: dict, scale: float) -> dict:
    """``budget`` with iterations and epochs times ``scale`` (at least 1 each)."""
    if scale == 1:
        return dict(budget)
    out = dict(budget)
    for key in ("n_iter", "eval_epochs", "full_epochs"):
        if out.get(key):
            out[key] = max(1, int(round(out[key] * scale)))
    return out


def base_budget(dataset, method, table=None) -> dict:
    """A cell's budget before overrides: ``table``'s (default :data:`BUDGETS`) or the paper's.

    A method the table does not list gets its size's :data:`FALLBACK_BUDGETS`.
    """
    size = data_size(dataset)
    if size == "paper":
        return dict(PAPER_BUDGETS.get(method, FALLBACK_BUDGETS["paper"]), full_epochs=FULL_EPOCHS)
    table = BUDGETS if table is None else table
    return dict(table.get((size, method), FALLBACK_BUDGETS[size]))


def cell_budget(config, dataset, method, table=None) -> dict:
    """The cell's budget: :func:`base_budget`, ``config["budgets"]`` overrides, then the scale.

    An override of one method's option (e.g. ``outer_loop``) leaves the other methods alone.
    """
    budget = base_budget(dataset, method, table)
    overrides = (config["budgets"] or {}).get(data_size(dataset), {})
    options = options_of(method) if method in METHODS else frozenset()
    special = method_options()
    budget.update((k, v) for k, v in overrides.items() if k in options or k not in special)
    return scaled(budget, float(config["budget_scale"]))


#: Former flat option names of the distiller, under the name their method object uses.
_SPEC_NAMES = {"net_warmup_epochs": "warmup_epochs"}


def distiller_params(method, options) -> dict:
    """``method=`` and the distiller's other options for a cell.

    The options of ``method``'s own parameters (loops, distance, warm-up) go into its method
    object (:data:`skdistill.methods.METHOD_SPECS`), the rest (iterations, batch, network
    size) stay the distiller's; a method without an object takes them all by name.
    """
    spec = METHOD_SPECS.get(method)
    if spec is None:
        return {"method": method, **options}
    names = spec().get_params()
    inside = {
        _SPEC_NAMES.get(k, k): v for k, v in options.items() if _SPEC_NAMES.get(k, k) in names
    }
    rest = {k: v for k, v in options.items() if _SPEC_NAMES.get(k, k) not in names}
    return {"method": spec(**inside) if inside else method, **rest}
