"""The pruning rule of MIP-BPE (Eq. 9): fix the least important free hyper-parameter.

Its value beta is the cheapest one when its importance is below the threshold (0.1 in the
paper): the lowest FLOPs, and among values of equal FLOPs the lowest measured time (the paper's
"value with the minimum time cost", see :func:`nascore_mipbpe.sampling.cheapest_value`); else
the value it had in the budget of D with the highest r_s. Ties in importance go to the
hyper-parameter listed first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

#: Eq. 9's importance threshold (source: paper, Sec. 4.2).
THRESHOLD = 0.1


@attrs.frozen
class Fix:
    """One pruning step: ``name`` is fixed to ``value`` by ``rule`` (``"cheapest"`` or
    ``"best"``) because its importance was the lowest of the free ones."""

    name: str
    value: Any
    importance: float
    rule: str


def choose_fix(
    importances: Mapping[str, float],
    free: Sequence[str],
    cheapest: Callable[[str], Any],
    best_budget: Mapping[str, Any],
    threshold: float = THRESHOLD,
) -> Fix:
    """Eq. 9 over the ``free`` hyper-parameters; ``cheapest(name)`` gives the lowest-cost value,
    ``best_budget`` is the budget of D with the highest r_s."""
    if not free:
        raise ValueError("no free hyper-parameter left to fix")
    name = min(free, key=lambda n: (importances[n], free.index(n)))
    importance = float(importances[name])
    if importance < threshold:
        return Fix(name, cheapest(name), importance, "cheapest")
    return Fix(name, best_budget[name], importance, "best")
