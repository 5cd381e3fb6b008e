"""Constraints under one-shot strategies: the core penalty handler, the feasible derivation, and
the one-line refusals before a run directory exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nascore.constraint import Constraint, FlopsConstraint, ParamsConstraint
from nascore.costs import CostTable, count_params
from nascore.errors import IncompatibleError, InfeasibleError
from nascore.oneshot.constraints import (
    ConstraintCosts,
    cost_tables,
    describe_repair,
    feasible_scores,
    repair_record,
)
from nascore.plugins import make_space
from nascore.runner import resolve_config, start_run
from nascore.testing import drive, make_strategy, tiny_data

#: Below every unconstrained tiny darts search result (about 7.9k-10k parameters), above the
#: space's smallest network (about 2.0k).
BOUND = 6000


def tiny_space():
    return make_space("darts", {"channels": 4, "layers": 3}, tiny_data().info)


def test_violation_is_normalised_by_the_bound_it_breaks():
    space = tiny_space()
    costs = ConstraintCosts(space, [ParamsConstraint(low=1000, high=2000),
                                    FlopsConstraint(high=4e4)], {})
    # params 2500 breaks its upper bound by 500/2000; flops 3e4 is inside
    assert float(costs.violation([2500.0, 3e4])) == pytest.approx(0.25)
    # params 500 breaks its lower bound by 500/1000; flops 5e4 breaks its bound by 1e4/4e4
    assert float(costs.violation([500.0, 5e4])) == pytest.approx(0.5 + 0.25)
    assert float(costs.violation([1500.0, 4e4])) == 0.0


def test_expected_cost_counts_only_the_edges_the_derivation_keeps():
    table = CostTable("params", 10.0, {"g": torch.tensor([[0.0, 4.0], [2.0, 6.0]],
                                                        dtype=torch.float64)})
    probs = {"g": torch.tensor([[0.5, 0.5], [0.25, 0.75]])}
    everything = 10 + (0.5 * 4) + (0.25 * 2 + 0.75 * 6)
    assert float(table.expected(probs)) == pytest.approx(everything)
    kept = {"g": torch.tensor([[False, False], [False, True]])}  # edge 0 dropped
    assert float(table.expected(probs, kept)) == pytest.approx(10 + 0.25 * 2 + 0.75 * 6)
    assert table.exact(kept) == 16.0


def test_feasible_scores_change_the_derivation_until_it_meets_the_bound():
    space = tiny_space()
    torch.manual_seed(0)
    scores = {g.name: torch.rand(g.shape) for g in space.decision_groups()}
    table = space.cost_table("params")
    free = table.exact(space.kept_mask(scores))
    assert free > BOUND
    costs = ConstraintCosts(space, [ParamsConstraint(high=BOUND)], {})
    repaired = feasible_scores(scores, costs)
    arch = space.derive(repaired)
    measured = count_params(space.build_network(arch), exclude=("auxiliary",))
    assert measured <= BOUND and measured == table.exact(space.kept_mask(repaired))
    # only exclusions: every finite repaired score is the original score
    for name, s in repaired.items():
        finite = torch.isfinite(s)
        assert torch.equal(s[finite], scores[name][finite]) and (~finite).any()


def test_feasible_scores_leave_a_feasible_derivation_unchanged():
    space = tiny_space()
    scores = {g.name: torch.rand(g.shape) for g in space.decision_groups()}
    costs = ConstraintCosts(space, [ParamsConstraint(high=1e9)], {})
    assert all(torch.equal(a, b) for a, b in zip(
        feasible_scores(scores, costs).values(), scores.values(), strict=True))


def test_the_repair_record_names_the_edges_the_repair_changed():
    space = tiny_space()
    groups = space.decision_groups()
    torch.manual_seed(0)
    scores = {g.name: torch.rand(g.shape) for g in groups}
    costs = ConstraintCosts(space, [ParamsConstraint(high=BOUND)], {})
    repaired = feasible_scores(scores, costs)
    record = repair_record(costs, scores, repaired, groups)
    table = space.cost_table("params")
    before, after = space.kept_mask(scores), space.kept_mask(repaired)
    assert not record.argmax_met
    assert record.argmax == {f"params:..{BOUND}": table.exact(before)}
    assert record.derived == {f"params:..{BOUND}": table.exact(after)}
    assert record.derived[f"params:..{BOUND}"] <= BOUND < record.argmax[f"params:..{BOUND}"]
    # exactly the edges whose kept candidate differs, by name
    named = {g.name: g for g in groups}
    want = set()
    for name, mask in after.items():
        for edge in (mask != before[name]).any(dim=1).nonzero().flatten().tolist():
            pick = [named[name].candidates[int(m[edge].nonzero()[0])] if m[edge].any() else None
                    for m in (before[name], mask)]
            want.add((name, named[name].edges[edge], *pick))
    assert want and {(c["group"], c["edge"], c["from"], c["to"]) for c in record.changed} == want
    line = describe_repair(record.to_dict())
    assert f"the repair changed {len(want)} edge(s)" in line
    # a derivation inside the bounds: met, nothing changed
    loose = ConstraintCosts(space, [ParamsConstraint(high=1e9)], {})
    same = repair_record(loose, scores, feasible_scores(scores, loose), groups)
    assert same.argmax_met and same.changed == () and "not repaired" in same.describe()


@pytest.mark.parametrize("name", ["darts", "pcdarts", "gdas"])
def test_penalty_handler_derives_a_network_within_the_bound(name, tmp_path: Path):
    tree = resolve_config(
        name, "darts",
        flags={"epochs": 2, "channels": 4, "layers": 3, "batch_size": 16},
        overrides=["data.subset=96", "strategy.valid_batches=1",
                   f'run.constraints=["params:..{BOUND}"]',
                   *(["strategy.warmup_epochs=0"] if name == "pcdarts" else [])],
    )
    run, arch = start_run(tree, tmp_path / name, progress=False)
    result = json.loads((run.path / "result.json").read_text())
    check = result["constraints"][f"params:..{BOUND}"]
    assert check["satisfied"] and check["value"] <= BOUND
    space = tiny_space()
    assert count_params(space.build_network(arch), exclude=("auxiliary",)) == check["value"]
    epochs = [json.loads(line) for line in (run.path / "events.jsonl").read_text().splitlines()]
    reported = [e["constraints"] for e in epochs if e.get("type") == "epoch"]
    assert reported and all(f"params:..{BOUND}" in r for r in reported)
    repair = result["constraint_repair"]  # what the handler's repair did, recorded
    assert repair["handler"] == "penalty" and repair["derived"][f"params:..{BOUND}"] == check[
        "value"]
    assert repair["argmax_met"] == (repair["changed"] == [])


def test_penalty_term_lowers_the_expected_cost_faster_than_no_penalty():
    from nascore.context import SearchContext
    from nascore.events import EventLog
    from nascore.strategies.darts import DartsStrategy

    expected = {}
    for weight in (0.0, 50.0):
        context = SearchContext(space=tiny_space(), seed=0, device=torch.device("cpu"),
                                events=EventLog(), data=tiny_data(),
                                constraints=[ParamsConstraint(high=BOUND)])
        config = DartsStrategy.configure({"epochs": 2, "batch_size": 16, "arch_lr": 0.05,
                                          "penalty_weight": weight})
        strategy = DartsStrategy(config, context)
        drive(strategy, range(1))
        handler = strategy.part("penalty")
        expected[weight] = float(handler.expected_costs()[0].detach())
    assert expected[50.0] < expected[0.0]


class Latency(Constraint):
    """A measured constraint with no differentiable form."""

    name = "latency"

    def measure(self, network, example):
        return 1.0


def test_spaces_without_costs_and_metrics_without_tables_are_refused():
    nb201 = make_space("nb201", {"channels": 4, "cells_per_stage": 1}, tiny_data().info)
    with pytest.raises(IncompatibleError, match="no per-candidate cost tables") as info:
        cost_tables(nb201, [ParamsConstraint(high=1e6)], {})
    assert "\n" not in str(info.value)
    with pytest.raises(IncompatibleError, match="no differentiable form"):
        cost_tables(tiny_space(), [Latency(high=5)], {})


def test_bounds_outside_the_reachable_range_fail_before_the_run_directory(tmp_path: Path):
    tree = resolve_config("darts", "darts", flags={"channels": 4, "layers": 3},
                          overrides=["data.subset=64", 'run.constraints=["params:..100"]'])
    with pytest.raises(InfeasibleError, match=r"outside what space darts reaches .*\(\d+\.\.\d+\)"):
        start_run(tree, tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()


def test_a_constrained_one_shot_search_on_a_space_without_costs_fails_before_the_run(
    tmp_path: Path,
):
    tree = resolve_config("darts", "nb201", flags={"channels": 4},
                          overrides=["data.subset=64", 'run.constraints=["params:..1M"]'])
    with pytest.raises(IncompatibleError, match="no per-candidate cost tables"):
        start_run(tree, tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()


def test_eoinas_gradual_pruning_under_darts_needs_the_eoinas_plugin_or_fails_clearly():
    from nascore.errors import UnknownNameError
    from nascore.plugins import registry

    if "gradual_pruning" in registry().components["part"]:
        pytest.skip("covered by the eoinas plugin's tests")
    with pytest.raises(UnknownNameError, match="unknown part 'gradual_pruning'"):
        make_strategy("darts", parts=["gradual_pruning"])
