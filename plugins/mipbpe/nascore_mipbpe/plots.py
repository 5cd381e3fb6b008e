"""Charts of a budget analysis (matplotlib, Agg canvas, no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plot_importances(importances: Mapping[str, float], path: str | Path) -> None:
    """Horizontal bars of the Eq. 8 importances, most important on top."""
    ranked = sorted(importances.items(), key=lambda kv: kv[1])
    figure = Figure(figsize=(6, 0.45 * len(ranked) + 1.2))
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.barh([name for name, _ in ranked], [value for _, value in ranked], color="tab:blue")
    for y, (_, value) in enumerate(ranked):
        ax.text(value, y, f" {value:.3f}", va="center", fontsize=8)
    ax.set_xlabel("importance (Eq. 8)")
    ax.set_xlim(0, max(1e-9, max(v for _, v in ranked)) * 1.2)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def plot_rs_against_time(
    ids: Sequence[str],
    r_s: Sequence[float],
    hours: Sequence[float],
    labels: Sequence[str],
    path: str | Path,
) -> None:
    """r_s of every budget against its mean training hours per architecture (log scale when
    all are positive); budgets equal to a preset are marked and named."""
    hours = np.asarray(hours, dtype=float)
    r_s = np.asarray(r_s, dtype=float)
    figure = Figure(figsize=(6.5, 4.5))
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.scatter(hours, r_s, s=18, color="tab:blue")
    for x, y, budget_id, label in zip(hours, r_s, ids, labels, strict=True):
        if label:
            ax.scatter([x], [y], s=60, facecolors="none", edgecolors="tab:red")
            ax.annotate(f"{label} ({budget_id})", (x, y), textcoords="offset points",
                        xytext=(5, 5), fontsize=8, color="tab:red")
    if len(hours) and np.all(hours > 0):
        ax.set_xscale("log")
    ax.set_xlabel("mean training hours per architecture")
    ax.set_ylabel("Spearman r_s against final accuracy")
    ax.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
