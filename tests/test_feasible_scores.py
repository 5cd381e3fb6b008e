"""The derivation repair of one-shot constraint handlers (``feasible_scores``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import torch

from nascore.constraint import FlopsConstraint, ParamsConstraint
from nascore.costs import CostTable
from nascore.errors import InfeasibleError
from nascore.oneshot import ConstraintCosts, feasible_scores
from nascore.space import DataInfo
from nascore.spaces.darts import DartsSpace, DartsSpaceConfig

#: Per-op costs (none, max, avg, skip, sep3, sep5, dil3, dil5): pools and skip cost nothing.
U = torch.tensor([0.0, 0, 0, 0, 10, 20, 30, 40], dtype=torch.float64)
#: Every edge prefers skip, then max pool (same cost), then sep_conv_3x3.
ROW = torch.tensor([0.0, 0.3, 0.05, 0.5, 0.1, 0.02, 0.02, 0.01])


class HandCostSpace(DartsSpace):
    """A two-node DARTS cell whose params and flops tables are :data:`U` on every edge."""

    def cost_table(self, metric: str, proxy: Mapping[str, Any] | None = None) -> CostTable:
        return CostTable(metric, 100.0, {"normal": U.repeat(5, 1), "reduce": U.repeat(5, 1)})


@pytest.fixture
def space() -> HandCostSpace:
    return HandCostSpace(DartsSpaceConfig(channels=4, layers=3, nodes=2), DataInfo(1, 8, 10))


def _scores() -> dict[str, torch.Tensor]:
    return {"normal": ROW.repeat(5, 1), "reduce": ROW.repeat(5, 1)}


def test_a_feasible_derivation_is_left_alone(space) -> None:
    costs = ConstraintCosts(space, [ParamsConstraint(None, 120.0)], {})
    repaired = feasible_scores(_scores(), costs)
    assert all(torch.equal(repaired[g], s) for g, s in _scores().items())


def test_a_lower_bound_is_reached_past_candidates_of_the_same_cost(space) -> None:
    # the derivation keeps skip everywhere (cost 100); excluding skip alone only brings the
    # max pool (also free), so the repair must jump past it: to sep_conv_5x5 (20) on one edge,
    # the most cost per lost score
    costs = ConstraintCosts(space, [ParamsConstraint(120.0, 125.0)], {})
    repaired = feasible_scores(_scores(), costs)
    kept = space.kept_mask(repaired)
    assert costs.exact(kept) == [120.0]
    chosen = [int(c) for g in ("normal", "reduce") for c in kept[g].nonzero()[:, 1]]
    assert sorted(chosen) == [3] * 7 + [5]


def test_bounds_no_derivation_meets_raise_with_the_closest(space) -> None:
    costs = ConstraintCosts(
        space, [ParamsConstraint(200.0, 210.0), FlopsConstraint(None, 150.0)], {}
    )
    with pytest.raises(InfeasibleError, match=r"meets params:200..210, flops:..150 \(closest"):
        feasible_scores(_scores(), costs)


def test_when_the_violation_greedy_sticks_at_one_bound_the_middle_is_aimed_at() -> None:
    from nascore.oneshot.constraints import _greedy, _violation

    space = DartsSpace(DartsSpaceConfig(channels=8, layers=5), DataInfo(1, 8, 10))
    bounds = [ParamsConstraint(25000.0, 30000.0), FlopsConstraint(350000.0, 420000.0)]
    costs = ConstraintCosts(space, bounds, {})
    generator = torch.Generator().manual_seed(5)
    scores = {g.name: torch.softmax(torch.randn(g.shape, generator=generator), dim=1)
              for g in space.decision_groups()}
    assert _greedy(scores, costs, _violation)[2] > 0  # stuck: no single move lowers it
    kept = space.kept_mask(feasible_scores(scores, costs))
    assert all(c.satisfied(v) for c, v in zip(bounds, costs.exact(kept), strict=True))
