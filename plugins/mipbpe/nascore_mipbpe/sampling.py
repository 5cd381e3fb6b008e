"""Lowest-time-cost sampling of budgets (Eq. 2 of MIP-BPE).

A *grid* maps each hyper-parameter to the values it may take, in order; a *cost* model gives the
training cost of a budget (a mapping name -> value). For hyper-parameter i and its value j, Eq. 2
sets ``p(i, j) ~ exp(-cost(j))`` where cost(j) is the cost of the budget with ``Theta_i = j`` and
every other hyper-parameter at its cheapest (fixed ones at their fixed value). A budget draws every
free hyper-parameter independently from its distribution.

Costs enter *relative to the cheapest budget* (the cheapest value costs 1): the paper's raw FLOPs
(~1e8) would give every value but the cheapest a probability of exactly 0. Values whose costs tie
(batch size, learning rate, cutout and precision do not change FLOPs) share the probability
equally.

Where the *cheapest value* of a hyper-parameter is needed (Eq. 9, and the reference budget of
Eq. 2), the paper takes "the value with the minimum time cost". The lowest FLOPs decide first;
among values of equal FLOPs the measured training time decides (:func:`time_per_cost`): the mean,
over the measured budgets with that value, of their time divided by their FLOPs cost, so that a
value is not judged by the size of the networks it happened to be measured with. A value never
measured ranks after measured ones; without any measurement the value listed first wins.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np

Values = Mapping[str, Any]
Grid = Mapping[str, Sequence[Any]]
Cost = Callable[[Values], float]
#: Measured budgets: (budget, mean training time of one architecture under it), any time unit.
Measured = Sequence[tuple[Values, float]]


def budget_key(values: Values, names: Sequence[str]) -> tuple[Any, ...]:
    """A hashable key of a budget over ``names`` (for deduplication)."""
    return tuple(values[name] for name in names)


def _reference(grid: Grid, fixed: Values) -> dict[str, Any]:
    return {name: fixed.get(name, options[0]) for name, options in grid.items()}


def time_per_cost(measured: Measured, cost: Cost, name: str, value: Any) -> float | None:
    """The time-cost model of a value: the mean of ``time / cost(budget)`` over the measured
    budgets whose ``name`` is ``value`` (``None`` if there is none)."""
    ratios = [time / cost(budget) for budget, time in measured if budget[name] == value]
    return float(np.mean(ratios)) if ratios else None


def cheapest_value(
    grid: Grid, cost: Cost, fixed: Values, name: str, measured: Measured = ()
) -> Any:
    """The value of ``name`` with the minimum time cost, every other hyper-parameter at its fixed
    value or its first listed one: the lowest FLOPs cost; among equal costs the lowest measured
    :func:`time_per_cost` (unmeasured values last); then the value listed first."""
    if name in fixed:
        return fixed[name]
    reference = _reference(grid, fixed)
    options = grid[name]
    costs = np.array([cost({**reference, name: value}) for value in options])
    tied = [i for i in range(len(options)) if np.isclose(costs[i], costs.min(), rtol=1e-9)]

    def rank(i: int) -> tuple[bool, float, int]:
        time = time_per_cost(measured, cost, name, options[i])
        return (time is None, 0.0 if time is None else time, i)

    return options[min(tied, key=rank)]


def cheapest_budget(
    grid: Grid, cost: Cost, fixed: Values, measured: Measured = ()
) -> dict[str, Any]:
    """Every hyper-parameter at its fixed or cheapest value (see :func:`cheapest_value`)."""
    return {name: cheapest_value(grid, cost, fixed, name, measured) for name in grid}


def value_probabilities(grid: Grid, cost: Cost, fixed: Values) -> dict[str, np.ndarray]:
    """Eq. 2 for every free hyper-parameter (not in ``fixed``): the probability of each of its
    grid values, from costs relative to the cheapest budget."""
    base = cheapest_budget(grid, cost, fixed)
    base_cost = cost(base)
    if not base_cost > 0:
        raise ValueError(f"the cheapest budget must have a positive cost, got {base_cost}")
    probabilities = {}
    for name, options in grid.items():
        if name in fixed:
            continue
        relative = np.array([cost({**base, name: value}) for value in options]) / base_cost
        weights = np.exp(-(relative - relative.min()))  # shifted for range; same softmax
        probabilities[name] = weights / weights.sum()
    return probabilities


def sample_budgets(
    grid: Grid,
    probabilities: Mapping[str, np.ndarray],
    fixed: Values,
    count: int,
    rng: np.random.Generator,
    exclude: Collection[tuple[Any, ...]] = (),
    max_draws: int | None = None,
) -> list[dict[str, Any]]:
    """Up to ``count`` budgets drawn by Eq. 2 (the product of the per-hyper-parameter
    distributions), distinct from each other and from the keys in ``exclude``.

    Repeats are redrawn, at most ``max_draws`` draws in all (default ``100 * count``), so fewer
    budgets come back when the pruned space holds fewer new ones.
    """
    names = list(grid)
    seen = set(exclude)
    budgets: list[dict[str, Any]] = []
    for _ in range(max_draws if max_draws is not None else 100 * count):
        if len(budgets) == count:
            break
        budget = {
            name: fixed[name] if name in fixed
            else grid[name][int(rng.choice(len(grid[name]), p=probabilities[name]))]
            for name in names
        }
        key = budget_key(budget, names)
        if key not in seen:
            seen.add(key)
            budgets.append(budget)
    return budgets
