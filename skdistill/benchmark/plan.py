"""The plan of a configuration: every cell to evaluate, built from a table of rows.

A :class:`Row` is one kind of table row (FULL, RANDOM, a mitigation, a distilled target, an
intervention...). :func:`plan_tasks` crosses the rows with seeds, IPC, methods and evaluation
architectures; each cell is a dict of the fields of its ``results.json`` record, and its key
(:func:`task_key`) identifies the record, so a rerun skips what is done. A method's cells of a
target it cannot serve (e.g. trajectory matching's of a target without a trajectory plan)
are left out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from .._validation import serves
from ..baselines import MITIGATIONS
from ..baselines._fairlearn import LABELS as MITIGATION_LABELS
from ..methods import METHODS
from .config import PROTOCOL, method_label, seed_list, target_label
from .data import data_size


@dataclass(frozen=True)
class Row:
    """One kind of row of a benchmark table.

    Parameters
    ----------
    kind : str
        What the runner does for its cells (``"full"``, ``"random"``, ``"distilled"``, ...).
    entry : str, default=""
        Its label in the tables; ``{method}`` stands for the method's label.
    per_method : bool, default=False
        One row per configured method (after the rows of the dataset itself).
    optional : bool, default=True
        Only when the configuration's ``baselines`` name its ``kind``.
    first_ipc : bool, default=False
        Only at the configuration's first IPC.
    first_seed : bool, default=False
        Only for the first seed.
    first_arch : bool, default=False
        Evaluated by the first evaluation architecture only.
    plain : bool, default=False
        Only in configurations without ``variants``.
    target : str or None, default=None
        The distillation target of a per-method row without ``cells``.
    params : dict or None, default=None
        Distiller parameters of such a row.
    cells : callable or None, default=None
        ``cells(row, config, method, variants)``: the row's cells (dicts with ``kind``,
        ``entry`` and their own fields), when the row is more than one cell.
    """

    kind: str
    entry: str = ""
    per_method: bool = False
    optional: bool = True
    first_ipc: bool = False
    first_seed: bool = False
    first_arch: bool = False
    plain: bool = False
    target: str | None = None
    params: dict | None = None
    cells: Callable | None = None

    def applies(self, config, ipc, seed) -> bool:
        """Whether the row has cells at ``ipc`` and ``seed`` under ``config``."""
        return (
            (not self.optional or self.kind in config["baselines"])
            and (not self.first_ipc or ipc == config["ipc"][0])
            and (not self.first_seed or seed == 0)
            and (not self.plain or not config["variants"])
        )

    def expand(self, config, method, variants) -> list:
        """The row's cells for ``method`` (None for rows of the dataset itself)."""
        if self.cells is not None:
            return self.cells(self, config, method, variants)
        if method is None:
            return [dict(kind=self.kind, entry=self.entry)]
        entry = self.entry.format(method=method_label(method))
        fields = dict(method=method, target=self.target, variant="", params=self.params or {})
        return [dict(kind=self.kind, entry=entry, **fields)]


def entry_name(method, what, variant=""):
    """``"DM · COBRA"``, with the variant in parentheses when there is one."""
    return f"{method_label(method)} · {what}" + (f" ({variant})" if variant else "")


def mitigation_cells(row, config, method, variants):
    """One cell per fairlearn mitigation."""
    return [dict(kind=row.kind, entry=MITIGATION_LABELS[m], mitigation=m) for m in MITIGATIONS]


def target_cells(row, config, method, variants):
    """One distilled cell per configured target and variant."""
    return [
        dict(
            kind=row.kind,
            entry=entry_name(method, target_label(target), name),
            method=method,
            target=target,
            variant=name,
            params=params,
        )
        for target in config["targets"]
        for name, params in variants.items()
    ]


#: The rows of the benchmark's tables, in table order: the dataset's baselines, then per
#: method its distilled targets and the COBRA paper's interventions.
ROWS = (
    Row("full", "FULL", first_ipc=True),
    Row("random", "RANDOM"),
    Row("random_balanced", "RANDOM (group-balanced)"),
    Row("fairlearn", first_ipc=True, first_arch=True, cells=mitigation_cells),
    Row("distilled", per_method=True, optional=False, cells=target_cells),
    Row(
        "df",
        "{method} · DF (loss reweighting)",
        per_method=True,
        first_ipc=True,
        plain=True,
        target="reweighted",
    ),
    Row(
        "mf",
        "{method} · MF (fair downstream)",
        per_method=True,
        first_ipc=True,
        plain=True,
        target="vanilla",
    ),
    Row(
        "rf",
        "{method} · RF (fair extractor)",
        per_method=True,
        first_ipc=True,
        first_arch=True,
        plain=True,
        target="vanilla",
    ),
)
#: The rows of a SKEW or GAP sweep: distilled targets only.
SWEEP_ROWS = (Row("distilled", per_method=True, optional=False, cells=target_cells),)


def left_out(config, method, target) -> bool:
    """A method's cell of a target it cannot serve (e.g. MTT's of DF) or that ``skip`` names."""
    return not serves(METHODS[method], target) or f"{method}/{target}" in config["skip"]


def plan_tasks(config, rows, *, ipcs, archs, variants, by_row=False) -> list:
    """The cells of ``rows`` for every seed, IPC, method and architecture.

    Cells come seed by seed, then IPC by IPC, in row order; ``by_row``: row by row, each
    cell of a row (e.g. a target) for every seed in turn.
    """
    tasks = []
    for seed in seed_list(config):
        for ipc in ipcs:
            for method in (None, *config["methods"]):
                for position, row in enumerate(rows):
                    if row.per_method != (method is not None) or not row.applies(config, ipc, seed):
                        continue
                    for number, cell in enumerate(row.expand(config, method, variants)):
                        if method is not None and left_out(config, method, cell["target"]):
                            continue
                        tasks += [
                            ((position, number), {**cell, "ipc": ipc, "seed": seed, "arch": arch})
                            for arch in (archs[:1] if row.first_arch else archs)
                        ]
    if by_row:
        tasks.sort(key=lambda pair: pair[0])
    return [task for _, task in tasks]


def plan(config):
    """Every evaluation the configuration asks for, grouped by dataset.

    Returns ``{(name, sweep, value): [task, ...]}``; a task is a dict of the fields of its
    ``results.json`` record.
    """
    groups = {}
    first_ipc = config["ipc"][0]
    for name in config["datasets"]:
        image = data_size(name) != "tabular"
        archs = architectures(config, image)
        variants = config["variants"] or {"": {}}
        cells = plan_tasks(config, ROWS, ipcs=config["ipc"], archs=archs, variants=variants)
        _add(groups, config, (name, None, None), cells)
        for sweep, values in (config["sweeps"] or {}).items() if image else ():
            for value in values:
                cells = plan_tasks(
                    config, SWEEP_ROWS, ipcs=[first_ipc], archs=["convnet"], variants={"": {}}
                )
                _add(groups, config, (name, sweep, value), cells)
    return groups


def _add(groups, config, group, cells):
    name, sweep, value = group
    common = dict(
        dataset=name,
        sweep=sweep,
        sweep_value=value,
        protocol=PROTOCOL,
        eval_runs=int(config["eval_runs"]),
    )
    if cells:
        groups[group] = [{**common, **cell} for cell in cells]


def architectures(config, image):
    """The evaluation architectures of a dataset (images: ConvNet by default; tables: logreg)."""
    archs = config["architectures"]
    if image:
        return [a for a in (archs or ["convnet"]) if a != "logreg"] or ["convnet"]
    return [a for a in (archs or ["logreg"]) if a in ("logreg", "mlp")] or ["logreg"]


def task_key(task) -> str:
    """The key of a task's record in ``results.json``: its fields, as sorted JSON."""
    fields = {k: v for k, v in task.items() if k not in ("title", "loader")}
    return json.dumps(fields, sort_keys=True, default=str)
