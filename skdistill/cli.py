"""The ``skdistill`` command."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

from . import __version__
from ._optional import MissingDependency


def _demo(args):
    from .benchmark.demo import TARGET_NAMES, run_demo

    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    result = run_demo(
        args.dataset,
        method=args.method,
        out_dir=args.out,
        targets=args.targets or TARGET_NAMES,
        n_iter=args.n_iter,
        seeds=args.seeds,
        eval_runs=args.eval_runs,
        eval_epochs=args.eval_epochs,
        full_epochs=args.full_epochs,
        device=args.device,
        cache_dir=args.cache,
        log=log,
    )
    print()
    print(result.formatted.to_string())
    print()
    print(f"report: {result.report}")
    for path in result.figures:
        print(f"figure: {path}")
    print(f"wall time: {result.seconds:.0f} s")
    return 0


def _benchmark(args):
    from .benchmark import load_config, make_config, run_benchmark

    overrides = dict(
        datasets=args.datasets,
        methods=args.methods,
        targets=args.targets,
        ipc=args.ipc,
        seeds=args.seeds,
        architectures=args.architectures,
        baselines=args.baselines,
        eval_runs=args.eval_runs,
        device=args.device,
        data_root=args.data_root,
        budget_scale=args.budget_scale,
    )
    if args.config:
        config = load_config(args.config)
        config.update({k: v for k, v in overrides.items() if v is not None})
        config = make_config(**config)
    else:
        config = make_config(args.preset, **overrides)
    log = (lambda *a: None) if args.quiet else (lambda *a: tqdm_write(*a))
    command = "skdistill " + " ".join(args.argv)
    result = run_benchmark(config, args.out, command=command, log=log, progress=not args.quiet)
    print(result.markdown.read_text(encoding="utf-8").split("## Settings")[0])
    print(f"results: {result.markdown.parent / 'results.json'}")
    print(f"report: {result.markdown}")
    for path in result.figures:
        print(f"figure: {path}")
    print(f"wall time: {result.seconds:.0f} s")
    if result.failed:
        print(
            f"skdistill: {len(result.failed)} cell(s) failed (listed in the report); rerun the "
            "same command to retry them.",
            file=sys.stderr,
        )
        return 1
    return 0


def tqdm_write(*parts):
    """Print a log line without breaking the progress bar."""
    from tqdm.auto import tqdm

    tqdm.write(" ".join(map(str, parts)))


def _datasets(args):
    from .datasets import CATALOG

    print("Embedded (work offline, nothing to download):")
    for name, (loader, layout) in CATALOG.items():
        if layout is None:
            summary = (loader.__doc__ or "").strip().splitlines()[0]
            print(f"  {name:20s} {loader.__name__}(): {summary}")
    print()
    print("From a local folder (pass root=...; nothing is downloaded unless download=True):")
    for name, (loader, layout) in CATALOG.items():
        if layout is not None:
            call = f"{loader.__name__}(root=...)"
            print(f"  {name:20s} {call}\n  {'':20s} expects {layout}")
    return 0


def _distill(args):
    from ._job import run_job

    run_job(args.config, log=(lambda *a: None) if args.quiet else print)
    return 0


def _add_distill(sub):
    """The ``distill`` sub-command."""
    distill = sub.add_parser(
        "distill",
        help="distil one dataset as a job file says (also under torchrun, data-parallel)",
        description="Fit one distiller on the data of a job file and write its synthetic set. "
        "Under `torchrun --nproc_per_node=N -m skdistill distill --config job.yaml` the N "
        "processes fit together, each reading its slice of the data; rank 0 writes. The job "
        "file (YAML or JSON) holds data (a shard folder from skdistill.datasets.write_shards, "
        "a folder of class folders of images, or a .npy file with labels and groups .npy "
        "files), output (.npz or .pt), optionally backend (gloo or nccl), and any "
        "BarycentricDistiller parameter (method, target, ipc, n_iter, random_state, ...).",
    )
    distill.add_argument("--config", required=True, help="the job file (YAML or JSON)")
    distill.add_argument("--quiet", action="store_true", help="print nothing when done")
    distill.set_defaults(func=_distill)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``skdistill`` command.

    Its choices of methods, targets, datasets, presets and demos come from the registries
    (:data:`skdistill.methods.METHODS`, :data:`skdistill.targets.TARGETS`) and the
    benchmark's configuration, as they are when it is built.
    """
    from .benchmark import method_label, target_label
    from .methods import METHODS
    from .targets import TARGETS

    methods = ", ".join(map(method_label, METHODS))
    targets = ", ".join(map(target_label, TARGETS))
    parser = argparse.ArgumentParser(
        prog="skdistill",
        description=f"Fair dataset distillation ({methods} with {targets} targets).",
    )
    parser.add_argument("--version", action="version", version=f"skdistill {__version__}")
    parser.add_argument(
        "--plugin",
        action="append",
        metavar="MODULE",
        help="import MODULE (a module name or a .py file) before anything else, so that the "
        "methods and targets it registers can be named; repeatable",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _add_demo(sub)
    _add_benchmark(sub)
    _add_distill(sub)
    datasets = sub.add_parser(
        "datasets",
        help="list the biased datasets available offline and those that need a local folder",
    )
    datasets.set_defaults(func=_datasets)
    return parser


def _add_demo(sub):
    """The ``demo`` sub-command."""
    from .benchmark import DEMOS
    from .benchmark.demo import DEFAULT_METHOD, TARGET_NAMES
    from .methods import METHODS
    from .targets import TARGETS

    demo = sub.add_parser(
        "demo",
        help="distil an embedded biased dataset with every target and compare fairness",
        description="Distil an embedded dataset with one method under each target, train "
        "fresh models on the synthetic sets, and print accuracy and equalized-odds gaps beside "
        "the full training set and a random subset. Writes a markdown report and PNG figures.",
    )
    demo.add_argument(
        "--dataset",
        default="adult",
        choices=list(DEMOS),
        help="adult-sexrace: Adult with intersectional sex x race groups",
    )
    demo.add_argument(
        "--out", default="skdistill-demo", help="output folder (default: %(default)s)"
    )
    demo.add_argument(
        "--method",
        default=DEFAULT_METHOD,
        choices=list(METHODS),
        help="matching method (default: %(default)s)",
    )
    demo.add_argument(
        "--targets",
        nargs="+",
        choices=list(TARGETS),
        help=f"targets to compare (default: {' '.join(TARGET_NAMES)})",
    )
    demo.add_argument("--n-iter", type=int, help="distillation iterations")
    demo.add_argument("--seeds", type=int, help="distillation seeds per target")
    demo.add_argument("--eval-runs", type=int, help="evaluation trainings per synthetic set")
    demo.add_argument("--eval-epochs", type=int, help="epochs of each evaluation ConvNet")
    demo.add_argument("--full-epochs", type=int, help="epochs of the full-data ConvNet")
    demo.add_argument("--device", default="auto", help="'auto', 'cpu' or 'cuda'")
    demo.add_argument(
        "--cache",
        metavar="DIR",
        help="keep the synthetic sets in DIR: an interrupted demo resumes its fits, and a set "
        "made before with the same settings (by the demo, or in skdistill benchmark's "
        "OUT/cache) is reused",
    )
    demo.add_argument("--quiet", action="store_true", help="print only the final table")
    demo.set_defaults(func=_demo)


def _add_benchmark(sub):
    """The ``benchmark`` sub-command."""
    from .benchmark import PRESETS

    bench = sub.add_parser(
        "benchmark",
        help="the papers' comparisons over datasets x methods x targets x IPC x seeds "
        "(CPU-sized presets)",
        description="Distil every dataset of the configuration with every method and target, "
        "evaluate fresh models over several seeds (and architectures), beside FULL, RANDOM, "
        "fairlearn's mitigations and the RF/DF/MF interventions; write results.json, "
        "results.md (EOD (Acc) tables) and PNG figures. Synthetic sets are cached in OUT/cache "
        "and finished evaluations kept in OUT/results.json: rerunning resumes.",
    )
    bench.add_argument(
        "--preset",
        default="embedded",
        choices=list(PRESETS),
        help="named configuration (default: %(default)s, the committed CPU table; inits: "
        "Colored MNIST BG, DM, every target from both starts; cafe-mtt: Colored MNIST BG, CAFE "
        "and MTT, vanilla/FairDD/COBRA (no FairDD-MTT); gradient-matching: Colored MNIST BG, DC "
        "and IDC, vanilla/FairDD/COBRA; all CPU-sized but paper: the "
        "COBRA paper's Table 1 at its authors' budgets, on the datasets under --data-root, "
        "for a GPU)",
    )
    bench.add_argument("--config", help="YAML or JSON configuration file (replaces --preset)")
    bench.add_argument(
        "--out", default="skdistill-benchmark", help="output folder (default: %(default)s)"
    )
    _add_benchmark_grid(bench)
    bench.add_argument("--device", help="'auto', 'cpu' or 'cuda'")
    bench.add_argument("--quiet", action="store_true", help="no progress bar or log lines")
    bench.set_defaults(func=_benchmark)


def _add_benchmark_grid(bench):
    """The options of ``benchmark`` that override the configuration's grid."""
    from .benchmark import BASELINES, DATASETS
    from .methods import METHODS
    from .nn import ARCHITECTURES
    from .targets import TARGETS

    bench.add_argument("--datasets", nargs="+", choices=list(DATASETS))
    bench.add_argument(
        "--data-root",
        help="folder of the datasets read from disk (c-mnist-*, c-fmnist-*, cifar10-s, celeba: "
        "torchvision's layouts in DIR; utkface: DIR/UTKFace; bffhq: DIR/bffhq); a missing "
        "dataset is skipped with one line naming the expected layout",
    )
    bench.add_argument(
        "--budget-scale",
        type=float,
        help="multiply every iteration and epoch count by F (e.g. 0.01 for a quick look; "
        "stated in the table header)",
    )
    bench.add_argument("--methods", nargs="+", choices=list(METHODS))
    bench.add_argument("--targets", nargs="+", choices=list(TARGETS))
    bench.add_argument("--ipc", nargs="+", type=int, help="synthetic samples per class")
    bench.add_argument("--seeds", type=int, help="seeds per cell")
    bench.add_argument(
        "--eval-runs", type=int, help="evaluation models trained per synthetic set (default 3)"
    )
    bench.add_argument(
        "--architectures",
        nargs="+",
        choices=[*ARCHITECTURES, "logreg"],
        help="evaluation models (images: convnet by default; tables: logreg)",
    )
    bench.add_argument("--baselines", nargs="*", choices=list(BASELINES))


MSG_PLUGIN = (
    "--plugin {name!r} could not be imported ({error}); give an importable module name or the "
    "path of a .py file that registers methods or targets."
)


def import_plugin(name):
    """Import a plugin given as a module name or the path of a ``.py`` file; return it."""
    path = Path(name)
    try:
        if path.suffix == ".py":
            spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return sys.modules.setdefault(path.stem, module)
        if "" not in sys.path:
            sys.path.insert(0, "")  # the working directory, as ``python -m`` has it
        return importlib.import_module(name)
    except (ImportError, OSError) as exc:
        raise ValueError(MSG_PLUGIN.format(name=name, error=exc)) from exc


def _import_plugins(argv):
    """Import the ``--plugin`` modules of ``argv`` (their registrations shape the parser)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--plugin", action="append", default=[])
    for name in pre.parse_known_args(argv)[0].plugin:
        import_plugin(name)


def main(argv=None) -> int:
    """Entry point of the ``skdistill`` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        _import_plugins(argv)
    except ValueError as exc:
        print(f"skdistill: error: {exc}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    args.argv = argv
    try:
        return args.func(args)
    except (ValueError, MissingDependency) as exc:
        print(f"skdistill: error: {exc}", file=sys.stderr)
        return 2
