"""The analysis of a budget table: r_s per budget, Eq. 1, Eq. 7-8 importances, Eq. 9.

:func:`analyze` computes it; :func:`format_report` renders it as text, :func:`to_json` as data
and :func:`write_report` writes the text, the JSON and two charts (importance bars; r_s against
mean training time) to a directory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from nascore import Budget, DataError
from nascore_mipbpe.budget_objective import LambdaRange, lambda_ranges, objective
from nascore_mipbpe.importance import hyperparameter_importances
from nascore_mipbpe.mip import MIPSettings
from nascore_mipbpe.plots import plot_importances, plot_rs_against_time
from nascore_mipbpe.pruning import Fix, choose_fix
from nascore_mipbpe.ranking import spearman_per_budget
from nascore_mipbpe.sampling import Cost, cheapest_value
from nascore_mipbpe.tables import BudgetTable


@attrs.frozen
class Analysis:
    """What :func:`analyze` found; ``labels`` maps budget ids to the names of the presets they
    equal, ``fix`` is Eq. 9 applied once to the whole table (``None`` when nothing varies)."""

    table: BudgetTable
    r_s: np.ndarray
    objective: np.ndarray
    importances: dict[str, float]
    fix: Fix | None
    lambda_ranges: list[LambdaRange]
    labels: dict[str, str]
    settings: MIPSettings
    seed: int

    @property
    def best(self) -> int:
        """Row of the budget with the best Eq. 1 objective."""
        return int(np.argmax(self.objective))


def preset_labels(table: BudgetTable, presets: Mapping[str, Budget]) -> dict[str, str]:
    """Budget id -> preset names whose values equal that budget's on every table column."""
    labels: dict[str, str] = {}
    for row, budget_id in enumerate(table.ids):
        values = table.budget(row)
        names = [
            name for name, preset in presets.items()
            if all(getattr(preset, key) == value for key, value in values.items())
        ]
        if names:
            labels[budget_id] = ", ".join(sorted(names))
    return labels


def analyze(
    table: BudgetTable,
    cost: Cost | None,
    settings: MIPSettings | None = None,
    seed: int = 0,
    presets: Mapping[str, Budget] | None = None,
) -> Analysis:
    """r_s of every budget against the final accuracies, Eq. 1 with ``settings.time_weight``,
    Eq. 8 importances of a forest of ``settings.trees`` trees fit on (budget, r_s), and Eq. 9
    (``cost`` prices a budget when the fixed hyper-parameter goes to its cheapest value; among
    values of equal cost the table's hours per unit of cost decide)."""
    settings = settings or MIPSettings()
    r_s = spearman_per_budget(table.accuracies, table.final)
    values = hyperparameter_importances(table.values, r_s, settings.trees, seed)
    importances = {name: float(v) for name, v in zip(table.names, values, strict=True)}
    grid = table.grid()
    free = [name for name in table.names if len(grid[name]) > 1]

    def cheapest(name: str) -> Any:
        if cost is None:
            raise DataError(
                f"the table gives no networks to measure the cost of {name!r} on; "
                "Eq. 9's cheapest value is unknown"
            )
        measured = [(table.budget(row), float(table.hours[row])) for row in range(len(table.ids))]
        return cheapest_value(grid, cost, {}, name, measured)

    fix = None
    if free:
        best_row = int(np.argmax(r_s))
        fix = choose_fix(importances, free, cheapest, table.budget(best_row), settings.threshold)
    return Analysis(
        table=table,
        r_s=r_s,
        objective=objective(r_s, table.hours, settings.time_weight),
        importances=importances,
        fix=fix,
        lambda_ranges=lambda_ranges(r_s, table.hours),
        labels=preset_labels(table, presets or {}),
        settings=settings,
        seed=seed,
    )


def to_json(analysis: Analysis) -> dict[str, Any]:
    """The analysis as JSON-ready data."""
    table = analysis.table
    budgets = []
    for row, budget_id in enumerate(table.ids):
        entry: dict[str, Any] = {
            "id": budget_id, **table.budget(row), "hours": float(table.hours[row]),
            "r_s": float(analysis.r_s[row]), "objective": float(analysis.objective[row]),
        }
        if table.reported is not None:
            entry["reported_r_s"] = float(table.reported[row])
        if budget_id in analysis.labels:
            entry["preset"] = analysis.labels[budget_id]
        budgets.append(entry)
    data: dict[str, Any] = {
        "architectures": int(table.accuracies.shape[1]),
        "budgets": budgets,
        "importances": analysis.importances,
        "fix": None if analysis.fix is None else attrs.asdict(analysis.fix),
        "best": table.ids[analysis.best],
        "time_weight": analysis.settings.time_weight,
        "trees": analysis.settings.trees,
        "seed": analysis.seed,
        "eq1_optimum_by_time_weight": [
            {"id": table.ids[r.index], "from": r.low, "to": r.high}
            for r in analysis.lambda_ranges
        ],
    }
    if table.reported is not None:
        data["max_abs_diff_reported"] = float(np.max(np.abs(analysis.r_s - table.reported)))
    return data


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_report(analysis: Analysis) -> str:
    """A text report: one line per budget, then importances, Eq. 9 and the Eq. 1 optima."""
    data = to_json(analysis)
    table = analysis.table
    columns = ["id", *table.names, "hours", "r_s"]
    if table.reported is not None:
        columns.append("reported_r_s")
    columns += ["objective", "preset"]
    rows = [columns] + [[_cell(b.get(c, "")) for c in columns] for b in data["budgets"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.append("")
    lines.append(f"{data['architectures']} architectures, {len(table.ids)} budgets; "
                 f"Eq. 1 objective = r_s - {analysis.settings.time_weight:g} x hours; "
                 f"best: {data['best']}")
    if "max_abs_diff_reported" in data:
        lines.append(f"max |r_s - reported r_s| = {data['max_abs_diff_reported']:.2e}")
    ranked = sorted(analysis.importances.items(), key=lambda kv: -kv[1])
    lines.append(
        f"importance (Eq. 8, forest of {analysis.settings.trees} trees, seed {analysis.seed}): "
        + ", ".join(f"{name} {value:.3f}" for name, value in ranked)
    )
    fix = analysis.fix
    if fix is not None:
        why = (f"< {analysis.settings.threshold:g}: its cheapest value" if fix.rule == "cheapest"
               else f">= {analysis.settings.threshold:g}: its value in the best-r_s budget")
        lines.append(f"Eq. 9 fixes {fix.name} = {fix.value} (importance {fix.importance:.3f} "
                     f"{why})")
    lines.append("Eq. 1 optimum by time weight: " + "; ".join(
        f"{r['id']} for {r['from']:.3g}..{r['to']:.3g}"
        for r in data["eq1_optimum_by_time_weight"]
    ))
    return "\n".join(lines)


def write_report(analysis: Analysis, out: str | Path) -> list[Path]:
    """Write ``report.txt``, ``analysis.json``, ``importance.png`` and ``rs_vs_time.png`` to
    ``out``; return their paths."""
    target = Path(out)
    target.mkdir(parents=True, exist_ok=True)
    table = analysis.table
    paths = [target / name for name in
             ("report.txt", "analysis.json", "importance.png", "rs_vs_time.png")]
    paths[0].write_text(format_report(analysis) + "\n")
    paths[1].write_text(json.dumps(to_json(analysis), indent=2) + "\n")
    plot_importances(analysis.importances, paths[2])
    labels = [analysis.labels.get(i, "") for i in table.ids]
    plot_rs_against_time(list(table.ids), analysis.r_s, table.hours, labels, paths[3])
    return paths
