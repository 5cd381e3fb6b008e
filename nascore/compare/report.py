"""A study's report: one row per strategy (and one for the random architectures) with test
accuracy over seeds, costs, search cost and how often its networks beat the random ones.

Nothing is selected here: every retrained network is reported at its last epoch, so test data
chooses nothing (a training's best-validation epoch is recorded beside it for reference).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nascore.compare.study import RANDOM_ROW, Study

#: Bootstrap resamples of the beat-random interval, and their seed.
BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0
REPORT_JSON, REPORT_MD, REPORT_PLOT = "report.json", "report.md", "report.png"


def beat_rate(row: Sequence[float], random: Sequence[float]) -> float:
    """Share of (row network, random network) pairs in which the row's is more accurate (ties
    count one half)."""
    a = np.asarray(row, dtype=float)[:, None]
    b = np.asarray(random, dtype=float)[None, :]
    return float(((a > b) + 0.5 * (a == b)).mean())


def beat_interval(row: Sequence[float], random: Sequence[float],
                  samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED,
                  ) -> tuple[float, float]:
    """95% percentile-bootstrap interval of :func:`beat_rate`, resampling the row's networks
    and the random ones independently."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(row, dtype=float), np.asarray(random, dtype=float)
    rates = [beat_rate(rng.choice(a, a.size), rng.choice(b, b.size)) for _ in range(samples)]
    low, high = np.percentile(rates, [2.5, 97.5])
    return float(low), float(high)


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(statistics.fmean(present)) if present else None


def _std(values: Sequence[float]) -> float | None:
    return float(statistics.stdev(values)) if len(values) > 1 else None


def summarize(study: Study, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The report's content from the units' records (failed units are listed, not counted)."""
    done = [r for r in records if "error" not in r]
    random = [r["train"]["test_acc"] for r in done if r["row"] == RANDOM_ROW]
    rows = []
    for label in [*(r.label for r in study.rows), *([RANDOM_ROW] if study.random else [])]:
        mine = sorted((r for r in done if r["row"] == label), key=lambda r: (r["seed"],
                                                                             r.get("index") or 0))
        accs = [r["train"]["test_acc"] for r in mine]
        entry: dict[str, Any] = {
            "row": label, "runs": len(mine),
            "test_acc": accs, "test_mean": _mean(accs), "test_std": _std(accs),
            "params": _mean([r["train"].get("params") for r in mine]),
            "flops": _mean([r["train"].get("flops") for r in mine]),
            "units": [r["unit"] for r in mine],
        }
        if label != RANDOM_ROW:
            entry["search_wall_seconds"] = _mean([r["search"]["wall_seconds"] for r in mine])
            entry["search_cpu_seconds"] = _mean([r["search"]["cpu_seconds"] for r in mine])
            entry["queries"] = _mean([r["search"].get("queries") for r in mine])
            if accs and random:
                entry["beats_random"] = beat_rate(accs, random)
                entry["beats_random_95"] = list(beat_interval(accs, random))
        rows.append(entry)
    return {
        "study": study.to_dict(),
        "rows": rows,
        "failed": [{"unit": r["unit"], "error": r["error"]} for r in records if "error" in r],
        "measure": ("NAS-Bench-201 200-epoch test accuracy of the selected cell" if study.tabular
                    else "test accuracy of the retrained network at its last epoch"),
    }


def _fmt(value: float | None, pattern: str) -> str:
    return "-" if value is None else format(value, pattern)


def markdown(summary: Mapping[str, Any]) -> str:
    """``report.md``: the table, the measure and any failed units."""
    study = summary["study"]
    lines = [
        f"# Study: {', '.join(r['label'] for r in study['rows'])} on {study['space']}",
        "",
        f"{study['seeds']} seed(s) per row, {study['random']} random architecture(s) of "
        f"{study['space']}. Accuracy: {summary['measure']} (mean +- std over runs); no epoch "
        "or seed is selected on test data. Beats random: share of (row network, random "
        "network) pairs won, with a 95% bootstrap interval.",
        "",
        "| row | runs | test accuracy (%) | params | multiply-adds | search wall (s) | "
        "search CPU (s) | queries | beats random |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary["rows"]:
        acc = "-" if row["test_mean"] is None else f"{100 * row['test_mean']:.2f}"
        if row["test_std"] is not None:
            acc += f" +- {100 * row['test_std']:.2f}"
        beats = "-"
        if "beats_random" in row:
            low, high = row["beats_random_95"]
            beats = f"{row['beats_random']:.2f} [{low:.2f}, {high:.2f}]"
        lines.append(
            f"| {row['row']} | {row['runs']} | {acc} | {_fmt(row['params'], ',.0f')} | "
            f"{_fmt(row['flops'], ',.0f')} | {_fmt(row.get('search_wall_seconds'), '.3g')} | "
            f"{_fmt(row.get('search_cpu_seconds'), '.3g')} | {_fmt(row.get('queries'), '.0f')} "
            f"| {beats} |"
        )
    if summary["failed"]:
        lines += ["", "Failed units (fix the cause, then `nas compare --resume DIR`):", ""]
        lines += [f"- {f['unit']}: {f['error']}" for f in summary["failed"]]
    return "\n".join(lines) + "\n"


def plot(summary: Mapping[str, Any], path: Path) -> None:
    """Accuracy per row, each run a point and the row's mean a bar; random architectures
    first."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = sorted(summary["rows"], key=lambda r: r["row"] != RANDOM_ROW)
    figure = Figure(figsize=(1.2 + 1.1 * len(rows), 3.6))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    rng = np.random.default_rng(0)
    for x, row in enumerate(rows):
        accs = 100 * np.asarray(row["test_acc"], dtype=float)
        jitter = rng.uniform(-0.12, 0.12, accs.size)
        colour = "tab:grey" if row["row"] == RANDOM_ROW else "tab:blue"
        axes.scatter(x + jitter, accs, s=18, color=colour, zorder=3)
        if accs.size:
            axes.hlines(accs.mean(), x - 0.3, x + 0.3, color="black", linewidth=1.5, zorder=4)
    axes.set_xticks(range(len(rows)), [r["row"] for r in rows], rotation=20, ha="right")
    axes.set_ylabel("test accuracy (%)")
    axes.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def write_report(directory: Path, study: Study, records: Sequence[Mapping[str, Any]]
                 ) -> dict[str, Any]:
    """Write ``report.json``, ``report.md`` and ``report.png`` into the study directory."""
    summary = summarize(study, records)
    from nascore.rundir import atomic_write_bytes

    for name, text in ((REPORT_JSON, json.dumps(summary, indent=2) + "\n"),
                       (REPORT_MD, markdown(summary))):
        atomic_write_bytes(directory / name, text.encode())
    plot(summary, directory / REPORT_PLOT)
    return summary
