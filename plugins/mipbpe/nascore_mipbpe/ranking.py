"""Spearman rank correlation r_s between budgeted and final accuracies (the core of Eq. 1)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import spearmanr


def spearman(budgeted: ArrayLike, final: ArrayLike) -> float:
    """r_s between two accuracy vectors over the same architectures (ties get average ranks).

    A constant vector ranks nothing; its correlation is defined as 0 (scipy would give NaN).
    """
    x, y = np.asarray(budgeted, dtype=float), np.asarray(final, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"need two vectors of equal length, got shapes {x.shape} and {y.shape}")
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(spearmanr(x, y)[0])


def spearman_per_budget(accuracies: ArrayLike, final: ArrayLike) -> np.ndarray:
    """r_s of every row of ``accuracies`` ``[budgets, architectures]`` against ``final``."""
    rows = np.asarray(accuracies, dtype=float)
    return np.array([spearman(row, final) for row in rows])
