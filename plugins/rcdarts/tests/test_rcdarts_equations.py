"""RC-DARTS's equations by hand on a two-node cell: Eq. 6 (expected cost over the kept edges),
the first projection step of Eq. 8, lambda's decay and lambda = 0 at the end (theta_p := theta)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pytest
import torch
from nascore_rcdarts import lambda_at, project

from nascore import CostTable, DataInfo
from nascore.oneshot import ConstraintCosts
from nascore.oneshot.sampling import masked_softmax
from nascore.spaces.darts import DartsSpace, DartsSpaceConfig

#: Per-op costs of every edge (columns: none, max, avg, skip, sep3, sep5, dil3, dil5).
U = torch.tensor([0.0, 1, 2, 3, 10, 20, 30, 40], dtype=torch.float64)
CONSTANT = 100.0

#: Softmax probabilities of the normal cell's 5 edges: n2<-0, n2<-1, n3<-0, n3<-1, n3<-2.
PROBS = torch.tensor([
    [1 / 8] * 8,  # n2<-0: E = 106 / 8 = 13.25
    [0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1],  # n2<-1: E = 10.6
    [0.05, 0.05, 0.05, 0.05, 0.4, 0.2, 0.1, 0.1],  # n3<-0: strength 0.4, E = 15.3
    [0.3, 0.2, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05],  # n3<-1: strength 0.2 (dropped), E = 7.2
    [0.1, 0.1, 0.1, 0.1, 0.3, 0.1, 0.1, 0.1],  # n3<-2: strength 0.3, E = 12.6
], dtype=torch.float64)
KEPT_EDGES = [0, 1, 2, 4]


class HandCostSpace(DartsSpace):
    """A two-node DARTS cell whose cost table is :data:`U` on every edge (twice that in the
    reduction cell) plus :data:`CONSTANT`."""

    def cost_table(self, metric: str, proxy: Mapping[str, Any] | None = None) -> CostTable:
        table = U.repeat(5, 1)
        return CostTable(metric, CONSTANT, {"normal": table, "reduce": 2 * table})


@pytest.fixture
def space() -> HandCostSpace:
    return HandCostSpace(DartsSpaceConfig(channels=4, layers=3, nodes=2), DataInfo(1, 8, 10))


def _kept_of(space: DartsSpace):
    def kept(alphas: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return space.kept_mask({n: masked_softmax(a) for n, a in alphas.items()})

    return kept


def test_eq6_sums_the_softmax_weighted_costs_of_the_kept_edges_by_hand(
    space, make_constraints
) -> None:
    probs = {"normal": PROBS, "reduce": PROBS}
    kept = space.kept_mask(probs)
    # node 2 keeps both its edges; node 3 its two strongest (n3<-0: 0.4, n3<-2: 0.3)
    assert kept["normal"].any(dim=1).nonzero().flatten().tolist() == KEPT_EDGES
    table = space.cost_table("params")
    # 100 + (13.25 + 10.6 + 15.3 + 12.6) + 2 * (13.25 + 10.6 + 15.3 + 12.6)
    assert float(table.expected(probs, kept)) == pytest.approx(255.25, abs=1e-9)
    # without the indicator sigma(i in A_j) the dropped edge n3<-1 (7.2 and 14.4) would count
    assert float(table.expected(probs)) == pytest.approx(255.25 + 7.2 + 14.4, abs=1e-9)
    # the constrained costs of a run see the same number (differentiable, float64)
    costs = ConstraintCosts(space, make_constraints("params:..250"), {})
    (phi,) = costs.expected(probs, kept)
    assert phi.dtype == torch.float64 and float(phi) == pytest.approx(255.25, abs=1e-9)
    assert float(costs.violation([phi])) == pytest.approx((255.25 - 250) / 250)


def test_first_projection_step_moves_kept_edges_by_lr_against_the_cost_gradient(
    space, make_constraints
) -> None:
    theta = {"normal": PROBS.log().float(), "reduce": PROBS.log().float()}
    costs = ConstraintCosts(space, make_constraints("params:..250"), {})
    projected, result = project(theta, {}, costs, _kept_of(space), lam=10.0, steps=1, lr=1e-3)
    assert result.steps == 1 and not result.feasible
    assert result.violation_before == pytest.approx(5.25 / 250, rel=1e-5)  # float32 logits
    # d Phi / d theta_eo = scale * p_o (u_o - E_e): Adam's first step is -lr * sign of it
    expected_value = (PROBS * U).sum(dim=1)
    for group in ("normal", "reduce"):
        delta = (projected[group] - theta[group]).double()
        want = -1e-3 * torch.sign(U[None, :] - expected_value[:, None])
        want[3] = 0.0  # n3<-1 is not kept: no gradient, no move
        assert torch.allclose(delta, want, atol=1e-6)
    assert torch.equal(theta["normal"], PROBS.log().float())  # the input is left alone


def test_feasible_parameters_are_returned_unchanged(space, make_constraints) -> None:
    theta = {"normal": PROBS.log().float(), "reduce": PROBS.log().float()}
    costs = ConstraintCosts(space, make_constraints("params:200..260"), {})
    projected, result = project(theta, {}, costs, _kept_of(space), lam=10.0, steps=500)
    assert result.steps == 0 and result.feasible and result.violation_before == 0.0
    assert all(torch.equal(projected[n], theta[n]) for n in theta)


def test_projection_reaches_a_lower_bound_and_stops_there(space, make_constraints) -> None:
    theta = {"normal": PROBS.log().float(), "reduce": PROBS.log().float()}
    costs = ConstraintCosts(space, make_constraints("params:258..400"), {})
    projected, result = project(theta, {}, costs, _kept_of(space), lam=10.0, steps=500,
                                lr=3e-3)
    assert result.feasible and 0 < result.steps < 500
    probs = {n: masked_softmax(t) for n, t in projected.items()}
    (phi,) = costs.expected(probs, _kept_of(space)(projected))
    assert 258 <= float(phi) < 259  # stops as soon as it is feasible: the nearest point


def test_pruned_candidates_are_never_moved(space, make_constraints) -> None:
    theta = {"normal": PROBS.log().float(), "reduce": PROBS.log().float()}
    mask = torch.ones(5, 8, dtype=torch.bool)
    mask[:, 7] = False  # dil_conv_5x5 pruned everywhere
    costs = ConstraintCosts(space, make_constraints("params:..150"), {})
    projected, _ = project(theta, {"normal": mask, "reduce": mask}, costs, _kept_of(space),
                           lam=10.0, steps=20, lr=1e-2)
    for group in theta:
        assert torch.equal(projected[group][:, 7], theta[group][:, 7])
        assert not torch.equal(projected[group][:, :7], theta[group][:, :7])


def test_lambda_decays_exponentially_and_bounds_how_far_the_projection_moves(
    space, make_constraints
) -> None:
    assert [lambda_at(e, 100.0, 0.9) for e in range(3)] == pytest.approx([100.0, 90.0, 81.0])
    assert lambda_at(49, 100.0, 0.9) == pytest.approx(100 * 0.9**49)
    assert math.isclose(lambda_at(0, 5.0, 0.5), 5.0)
    theta = {"normal": PROBS.log().float(), "reduce": PROBS.log().float()}
    costs = ConstraintCosts(space, make_constraints("params:..150"), {})

    def distance(lam: float) -> float:
        projected, _ = project(theta, {}, costs, _kept_of(space), lam=lam, steps=300, lr=1e-2)
        return max(float((projected[n] - theta[n]).abs().max()) for n in theta)

    # Eq. 8's balance: the proximity term holds theta_p within about lambda * |grad| of theta
    assert distance(1e-4) < 0.01 < 0.5 < distance(100.0)


def test_lambda_zero_is_theta_p_equals_theta_and_records_the_expected_cost(
    space, make_constraints
) -> None:
    # Sec. 3.2.2: "At the end of training, lambda -> 0 and theta_p := theta": with lambda = 0
    # Eq. 8 is 1/2 ||theta - theta_p||^2, minimised by theta itself, even far outside the bounds
    theta = {"normal": PROBS.log().float(), "reduce": PROBS.log().float()}
    costs = ConstraintCosts(space, make_constraints("params:..250"), {})
    projected, result = project(theta, {}, costs, _kept_of(space), lam=0.0, steps=500, lr=1e-2)
    assert all(torch.equal(projected[n], theta[n]) for n in theta)
    assert result.steps == 0 and not result.feasible and result.lam == 0.0
    # the hand-computed Eq. 6 value above (255.25) before and after, violation 5.25 / 250
    assert result.expected_before == result.expected_after == pytest.approx((255.25,), rel=1e-5)
    assert result.violation_after == pytest.approx(5.25 / 250, rel=1e-4)


def test_a_projection_records_each_expected_cost_before_and_after(
    space, make_constraints
) -> None:
    theta = {"normal": PROBS.log().float(), "reduce": PROBS.log().float()}
    costs = ConstraintCosts(space, make_constraints("params:258..400", "flops:..1000"), {})
    _, result = project(theta, {}, costs, _kept_of(space), lam=10.0, steps=500, lr=3e-3)
    assert result.lam == 10.0 and len(result.expected_before) == 2
    # HandCostSpace costs every metric alike: 255.25 before, just above the lower bound after
    assert result.expected_before == pytest.approx((255.25, 255.25), rel=1e-5)
    assert 258 <= result.expected_after[0] < 259
