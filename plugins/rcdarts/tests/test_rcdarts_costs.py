"""Cost tables against the built networks, and the projection on the real DARTS cost tables."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import torch
from nascore_rcdarts import project

from nascore import DataInfo, SupernetOptions, build_config, registry
from nascore.oneshot import ConstraintCosts
from nascore.oneshot.sampling import masked_softmax

CASES = [
    ("darts", {}, 1),
    ("darts", {"layers": 5, "connection_cell": True}, 3),
    ("adarts", {"layers": 5, "connection_cell": True}, 2),
    ("adarts", {"layers": 5, "fixed_activation": "prelu"}, 3),
]


@pytest.mark.parametrize(("name", "overrides", "levels"), CASES,
                         ids=["darts", "darts-3-levels-connection", "adarts-2-levels-connection",
                              "adarts-prelu-3-levels"])
def test_expectation_at_a_one_hot_architecture_is_the_measured_network(
    name, overrides, levels, make_space, measure
) -> None:
    space = make_space(name, **overrides)
    proxy = {"levels": levels} if levels > 1 else {}
    tables = {m: space.cost_table(m, proxy) for m in ("params", "flops")}
    groups = space.build_supernet(SupernetOptions(levels=levels)).groups
    assert set(tables["params"].per_group) == {g.name for g in groups}  # every group is costed
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        scores = {g.name: torch.rand(g.shape, generator=generator) for g in groups}
        arch = space.derive(scores)
        one_hot = space.one_hot(arch)
        assert {n: m.tolist() for n, m in one_hot.items()} == {
            n: m.tolist() for n, m in space.kept_mask(scores).items()
        }
        params, macs = measure(space, arch)
        for metric, exact in (("params", params), ("flops", macs)):
            probs = {n: m.double() for n, m in one_hot.items()}
            assert float(tables[metric].expected(probs, one_hot)) == exact  # exactly


def test_activation_costs_count_prelu_parameters(make_space) -> None:
    space = make_space("adarts")
    table = space.cost_table("params")
    prelu = space.config.activations.index("prelu")
    relu = space.config.activations.index("relu")
    # one PReLU weight per parameterized op (shared by its activation sites): the 3-cell
    # network has one normal cell; with 5 cells (3 normal cells) it is 3
    assert torch.all(table.per_group["normal.act"][:, prelu] == 1)
    five = make_space("adarts", layers=5).cost_table("params")
    assert torch.all(five.per_group["normal.act"][:, prelu] == 3)
    assert torch.all(table.per_group["normal.act"][:, relu] == 0)


@pytest.fixture(scope="module")
def paper_space():
    """The paper's search network (C = 16, 8 cells) on 16x16 single-channel images."""
    cls = registry().get("space", "darts")
    return cls(build_config(cls.config_cls, {}, "space"), DataInfo(1, 16, 10))


def _kept_of(space):
    def kept(alphas: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return space.kept_mask({n: masked_softmax(a) for n, a in alphas.items()})

    return kept


def _expected(costs: ConstraintCosts, space, alphas) -> list[float]:
    probs = {n: masked_softmax(a) for n, a in alphas.items()}
    return [float(v) for v in costs.expected(probs, _kept_of(space)(alphas))]


def test_projection_moves_infeasible_parameters_into_the_bounds_of_the_real_tables(
    paper_space, make_constraints
) -> None:
    generator = torch.Generator().manual_seed(0)
    theta = {n: 0.3 * torch.randn(14, 8, generator=generator) for n in ("normal", "reduce")}
    probe = ConstraintCosts(paper_space, make_constraints("params:..1e9", "flops:..1e12"), {})
    params, flops = _expected(probe, paper_space, theta)
    # both expected costs 4% above their upper bounds, lower bounds well below
    specs = (f"params:{0.5 * params:.0f}..{0.96 * params:.0f}",
             f"flops:{0.5 * flops:.0f}..{0.96 * flops:.0f}")
    costs = ConstraintCosts(paper_space, make_constraints(*specs), {})
    projected, result = project(theta, {}, costs, _kept_of(paper_space), lam=100.0, steps=500)
    assert result.violation_before > 0 and result.feasible and 0 < result.steps < 500
    after = _expected(costs, paper_space, projected)
    for value, constraint in zip(after, costs.constraints, strict=True):
        assert constraint.satisfied(value)
        assert value > 0.99 * constraint.high  # nearest: stops right inside the bound
    # and a feasible parameter set is left exactly as it is
    again, unchanged = project(projected, {}, costs, _kept_of(paper_space), lam=100.0, steps=500)
    assert unchanged.steps == 0
    assert all(torch.equal(again[n], projected[n]) for n in projected)
