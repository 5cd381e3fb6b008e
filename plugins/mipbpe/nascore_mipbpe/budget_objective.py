"""Eq. 1 of MIP-BPE: the value of a budget b is its Spearman correlation with the full training
setting, traded against the mean training time of an architecture under b.

The paper prints ``max_b r_s(R_f, R_b) + lambda * mean T(G_b)`` with ``0 < lambda < 1`` and says in
the next sentence that the aim is a budget with *less* average training time; a positive weight
on time would reward slow budgets, so time enters here as a penalty:
``objective = r_s - lambda * hours``. The paper publishes no value of lambda, and Algorithm 1
ranks budgets by r_s alone, so the default weight is 0; :func:`lambda_ranges` shows which budget
Eq. 1 picks for every lambda in (0, 1).
"""

from __future__ import annotations

import attrs
import numpy as np
from numpy.typing import ArrayLike


def objective(r_s: ArrayLike, hours: ArrayLike, time_weight: float) -> np.ndarray:
    """Eq. 1 per budget: ``r_s - time_weight * hours`` (hours: mean training time per
    architecture)."""
    return np.asarray(r_s, dtype=float) - time_weight * np.asarray(hours, dtype=float)


@attrs.frozen
class LambdaRange:
    """Budget ``index`` maximises Eq. 1 for every time weight in ``[low, high]``."""

    index: int
    low: float
    high: float


def lambda_ranges(
    r_s: ArrayLike, hours: ArrayLike, low: float = 0.0, high: float = 1.0
) -> list[LambdaRange]:
    """The budget that maximises Eq. 1 on each interval of time weights in ``[low, high]``.

    The objectives are lines in lambda; the winner changes only where two lines cross, so the
    winner is read at the midpoint between consecutive crossings (ties: the lower index).
    """
    r, t = np.asarray(r_s, dtype=float), np.asarray(hours, dtype=float)
    cuts = {low, high}
    for i in range(len(r)):
        for j in range(i + 1, len(r)):
            if t[i] != t[j]:
                crossing = (r[i] - r[j]) / (t[i] - t[j])
                if low < crossing < high:
                    cuts.add(float(crossing))
    edges = sorted(cuts)
    ranges: list[LambdaRange] = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        winner = int(np.argmax(objective(r, t, (a + b) / 2)))
        if ranges and ranges[-1].index == winner:
            ranges[-1] = LambdaRange(winner, ranges[-1].low, b)
        else:
            ranges.append(LambdaRange(winner, a, b))
    return ranges
