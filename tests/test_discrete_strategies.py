"""Discrete strategies (random, evolution, reinforce) on the tabular nb201 estimator."""

from __future__ import annotations

import json
import math

import attrs
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from nascore.bench.nb201 import bench_nb201, bench_plan, format_results
from nascore.cli.bench import bench_nb201_command
from nascore.config import build_config
from nascore.constraint import ParamsConstraint
from nascore.context import SearchContext
from nascore.costs import count_params
from nascore.errors import CheckpointError, ConfigError, IncompatibleError, InfeasibleError
from nascore.estimators.nb201 import NB201Estimator, NB201EstimatorConfig
from nascore.events import EventLog
from nascore.plugins import registry
from nascore.space import DataInfo, SearchSpace
from nascore.spaces.nb201 import NB201Config, NB201Space
from nascore.strategies.discrete import DiscreteStrategy, run_search
from nascore.strategies.evolution import Evolution, EvolutionConfig
from nascore.strategies.random_search import RandomSearch
from nascore.strategies.reinforce import (
    CategoricalPolicy,
    MovingAverage,
    Reinforce,
    ReinforceConfig,
)

STRATEGIES = [RandomSearch, Evolution, Reinforce]
SMALL = {Evolution: {"population": 5, "sample_size": 3}}


def bench_space() -> NB201Space:
    return NB201Space(NB201Config(), DataInfo(3, 32, 10))


def tiny_space() -> NB201Space:
    """Networks of a few thousand parameters, for constraint checks."""
    return NB201Space(NB201Config(channels=4, cells_per_stage=1), DataInfo(1, 8, 10))


def make(
    cls: type[DiscreteStrategy],
    seed: int = 0,
    space: SearchSpace | None = None,
    constraints: tuple = (),
    **options,
) -> DiscreteStrategy:
    context = SearchContext(
        space=space or bench_space(),
        seed=seed,
        device=torch.device("cpu"),
        events=EventLog(None),
        constraints=list(constraints),
    )
    context.estimator = NB201Estimator(NB201EstimatorConfig(), context)
    return cls(build_config(cls.config_cls, {**SMALL.get(cls, {}), **options}), context)


def visited(strategy: DiscreteStrategy) -> list[str]:
    return [strategy.space.format(q.arch) for q in strategy.history]


def queries(strategy: DiscreteStrategy) -> list[dict]:
    return [r for r in strategy.context.events.records if r["type"] == "query"]


def test_registered_as_discrete() -> None:
    reg = registry()
    for cls in STRATEGIES:
        assert reg.get("strategy", cls.name) is cls
        assert cls.kind == "discrete" and cls.needs_estimator
    assert RandomSearch.requires == {"sample"}
    assert Evolution.requires == {"sample", "mutate"}
    assert Reinforce.requires == {"encode"}


def test_needs_an_estimator() -> None:
    context = SearchContext(
        space=bench_space(), seed=0, device=torch.device("cpu"), events=EventLog(None)
    )
    with pytest.raises(IncompatibleError, match="estimator"):
        RandomSearch(build_config(RandomSearch.config_cls, {}), context)


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="sample_size"):
        build_config(EvolutionConfig, {"population": 3, "sample_size": 5})
    with pytest.raises(ConfigError, match="baseline_momentum"):
        build_config(ReinforceConfig, {"baseline_momentum": 1.0})
    with pytest.raises(ConfigError, match="optimizer"):
        build_config(ReinforceConfig, {"optimizer": "rmsprop"})


def test_defaults_are_the_nas_bench_201_baselines() -> None:
    """Regularized evolution P=10, S=3; REINFORCE Adam lr 0.01, baseline momentum 0.9 (the
    NAS-Bench-201 authors' baseline scripts), each with its source in the help text."""
    evolution, reinforce = EvolutionConfig(), ReinforceConfig()
    assert (evolution.population, evolution.sample_size) == (10, 3)
    assert (reinforce.lr, reinforce.optimizer, reinforce.baseline_momentum) == (0.01, "adam", 0.9)
    for cls, name in [
        (EvolutionConfig, "population"),
        (EvolutionConfig, "sample_size"),
        (ReinforceConfig, "lr"),
        (ReinforceConfig, "baseline_momentum"),
    ]:
        assert "source: NAS-Bench-201" in attrs.fields_dict(cls)[name].metadata["help"]


@pytest.mark.parametrize("cls", [Evolution, Reinforce])
def test_tuned_preset_is_a_valid_non_default_override(cls: type[DiscreteStrategy]) -> None:
    overrides = cls.presets["tuned"]
    tuned, default = build_config(cls.config_cls, overrides), cls.config_cls()
    assert tuned != default
    assert {k: getattr(tuned, k) for k in overrides} == overrides


# -- searches --------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", STRATEGIES)
def test_short_search_returns_best_seen(cls: type[DiscreteStrategy]) -> None:
    strategy = make(cls, queries=20, queries_per_epoch=7)
    assert strategy.num_epochs == 3
    assert [strategy.steps_per_epoch(e) for e in range(3)] == [7, 7, 6]
    arch = run_search(strategy)
    records = queries(strategy)
    assert [r["query"] for r in records] == list(range(20))
    assert strategy.context.estimator.queries == 20
    best = max(records, key=lambda r: r["score"])
    assert strategy.space.format(arch) == best["arch"]
    assert strategy.best_score == best["score"]
    # the search signal is the 12-epoch validation accuracy, the report the 200-epoch test one
    table = strategy.context.estimator.table
    for r in records:
        assert r["score"] == pytest.approx(table.value(r["arch"], "cifar10_val_12"))
        assert r["test_200"] == pytest.approx(table.value(r["arch"], "cifar10_test_200"))
    summary = strategy.end_epoch(2)
    assert summary == {"queries": 20, "best_score": best["score"], "best": best["arch"]}


def test_random_search_is_deterministic_per_seed() -> None:
    a, b, c = (make(RandomSearch, seed, queries=15) for seed in (0, 0, 1))
    for strategy in (a, b, c):
        run_search(strategy)
    assert visited(a) == visited(b)
    assert visited(a) != visited(c)


def test_repeated_architectures_count_as_queries() -> None:
    """A collapsing policy proposes the same cells again; every proposal is still a query."""
    strategy = make(Reinforce, queries=40, lr=5.0)
    run_search(strategy)
    assert len(strategy.history) == 40 and strategy.context.estimator.queries == 40
    assert len(set(visited(strategy))) < 40


def test_time_limit_ends_the_search() -> None:
    strategy = make(RandomSearch, queries=50, time_limit=1e-9)
    run_search(strategy)
    assert len(strategy.history) == 1 and strategy.finished()


# -- evolution mechanics ---------------------------------------------------------------------
def test_aging_removes_the_oldest_not_the_worst() -> None:
    strategy = make(Evolution, population=3, sample_size=3, queries=10)
    space, table = strategy.space, strategy.context.estimator.table
    cells = sorted(table.rows, key=lambda c: table.value(c, "cifar10_val_12"))
    best, mid, low, worst = cells[-1], cells[len(cells) // 2], cells[100], cells[0]
    for cell in (best, low, mid):  # the oldest member is the best one
        strategy.observe(strategy.evaluate(space.parse(cell)))
    assert strategy.population == [0, 1, 2]
    strategy.observe(strategy.evaluate(space.parse(worst)))
    assert strategy.population == [1, 2, 3]  # the best (oldest) left, the worst stayed
    assert {space.format(strategy.history[i].arch) for i in strategy.population} == {
        low, mid, worst
    }
    assert strategy.derive() == space.parse(best)  # the best seen is still the result


def test_population_is_the_latest_members_after_a_run() -> None:
    strategy = make(Evolution, population=5, sample_size=3, queries=23)
    run_search(strategy)
    assert strategy.population == list(range(18, 23))


def test_tournament_returns_best_of_the_draws() -> None:
    strategy = make(Evolution, population=6, sample_size=3, queries=6)
    run_search(strategy)
    for _ in range(20):
        replay = np.random.default_rng()
        replay.bit_generator.state = strategy.rng.bit_generator.state
        draws = replay.integers(6, size=3)
        expected = max(
            (strategy.population[i] for i in draws), key=lambda h: strategy.history[h].score
        )
        assert strategy.tournament() == expected


def test_children_are_one_mutation_from_a_member() -> None:
    strategy = make(Evolution, population=4, sample_size=2, queries=16, queries_per_epoch=16)
    steps = strategy.run_epoch(0)
    for n in range(16):
        members = [strategy.space.encode(strategy.history[i].arch) for i in strategy.population]
        next(steps)
        if n < 4:
            continue
        child = strategy.space.encode(strategy.history[-1].arch)
        distances = [sum(a != b for a, b in zip(child, m, strict=True)) for m in members]
        assert min(distances) == 1


# -- REINFORCE mechanics ---------------------------------------------------------------------
def test_policy_sgd_step_hand_computed() -> None:
    """grad log p(c) = onehot(c) - softmax(z); at z = 0 with 3 candidates, c = 1, advantage 2 and
    lr 0.1 the step is 0.2 * [-1/3, 2/3, -1/3]."""
    policy = CategoricalPolicy([3], lr=0.1, optimizer="sgd")
    policy.update([1], advantage=2.0)
    assert np.allclose(policy.logits[0], [-0.2 / 3, 0.4 / 3, -0.2 / 3])
    p = policy.probs()[0]
    assert p[1] == pytest.approx(math.exp(0.4 / 3) / (math.exp(0.4 / 3) + 2 * math.exp(-0.2 / 3)))
    assert p[1] > 1 / 3  # the rewarded choice gained probability
    policy.update([1], advantage=-4.0)  # a punished choice loses it again
    assert policy.probs()[0][1] < 1 / 3


def test_policy_adam_first_step_is_lr_times_sign() -> None:
    """Adam's bias-corrected first step is lr * g / |g| per coordinate."""
    policy = CategoricalPolicy([2, 3], lr=0.05, optimizer="adam")
    policy.update([0, 2], advantage=1.5)
    assert np.allclose(policy.logits[0], [0.05, -0.05], atol=1e-6)
    assert np.allclose(policy.logits[1], [-0.05, -0.05, 0.05], atol=1e-6)


def test_moving_average_hand_computed() -> None:
    """Started at zero and divided by its weight: r1 after one value, then 0.9-weighted."""
    average = MovingAverage(0.9)
    assert average.value is None
    average.update(80.0)
    assert average.value == pytest.approx(80.0)
    average.update(90.0)  # (0.9 * 8 + 9) / (0.9 * 0.1 + 0.1) = 16.2 / 0.19
    assert average.value == pytest.approx(16.2 / 0.19)
    average.update(70.0)  # (0.9 * 16.2 + 7) / (0.9 * 0.19 + 0.1) = 21.58 / 0.271
    assert average.value == pytest.approx(21.58 / 0.271)


def evaluate_cells(strategy: Reinforce, ops: list[list[int]]) -> list[float]:
    """Query and observe the given cells in order; return their scores."""
    for choice in ops:
        strategy.observe(strategy.evaluate(strategy.space.decode(choice)))
    return [q.score for q in strategy.history]


def test_reinforce_advantage_is_taken_after_the_baseline_update() -> None:
    """The baseline takes in the reward first (NAS-Bench-201 order): the first advantage is 0,
    the second r2 - (0.09 r1 + 0.1 r2) / 0.19 = 9/19 (r2 - r1); with SGD the logits move by
    lr * advantage * (onehot(c) - 1/5) from uniform."""
    strategy = make(Reinforce, optimizer="sgd", lr=0.1)
    first, second = [0, 1, 2, 3, 4, 0], [3, 3, 3, 3, 3, 3]
    r1 = evaluate_cells(strategy, [first])[0]
    assert all(np.array_equal(z, np.zeros(5)) for z in strategy.policy.logits)
    assert strategy.baseline.value == pytest.approx(r1)
    r2 = evaluate_cells(strategy, [second])[1]
    assert r2 != r1
    assert strategy.baseline.value == pytest.approx((0.09 * r1 + 0.1 * r2) / 0.19)
    advantage = 9 / 19 * (r2 - r1)
    for logits, c in zip(strategy.policy.logits, second, strict=True):
        expected = np.full(5, -0.1 * advantage / 5)
        expected[c] += 0.1 * advantage
        assert np.allclose(logits, expected)


def test_reinforce_adam_counts_the_zero_first_step() -> None:
    """With Adam the zero-advantage first query is still step t=1 (as torch.optim.Adam steps on
    a zero gradient), so the second step is lr * (0.1 / 0.19) / sqrt(0.001 / 0.001999) * sign(g)
    = 0.7441 * lr per logit, not lr as for a first step."""
    strategy = make(Reinforce)  # published defaults: Adam, lr 0.01, momentum 0.9
    second = [3, 3, 3, 3, 3, 3]
    r1, r2 = evaluate_cells(strategy, [[0, 1, 2, 3, 4, 0], second])
    step = 0.01 * (0.1 / 0.19) / math.sqrt(0.001 / 0.001999)
    assert step == pytest.approx(0.7441e-2, abs=1e-6)
    sign = np.sign(r2 - r1)
    for logits, c in zip(strategy.policy.logits, second, strict=True):
        expected = np.full(5, -sign * step)
        expected[c] = sign * step
        assert np.allclose(logits, expected, atol=1e-7)


def test_reinforce_matches_torch_adam_on_the_reference_loss() -> None:
    """The numpy policy equals torch.optim.Adam minimising -log p(c) * (r - b) per query, with b
    updated by r first, over several queries."""
    strategy = make(Reinforce)
    cells = [[0, 1, 2, 3, 4, 0], [3, 3, 3, 3, 3, 3], [1, 2, 3, 4, 0, 1], [3, 3, 1, 3, 2, 0]]
    scores = evaluate_cells(strategy, cells)
    logits = torch.zeros(6, 5, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([logits], lr=0.01)
    total = weight = 0.0
    for choice, reward in zip(cells, scores, strict=True):
        total, weight = 0.9 * total + 0.1 * reward, 0.9 * weight + 0.1
        log_p = torch.log_softmax(logits, dim=1)[range(6), choice].sum()
        optimizer.zero_grad()
        (-log_p * (reward - total / weight)).backward()
        optimizer.step()
    assert np.allclose(np.stack(strategy.policy.logits), logits.detach().numpy(), atol=1e-9)


def test_reinforce_rejects_checkpoints_with_the_old_baseline() -> None:
    strategy = make(Reinforce, queries=3)
    run_search(strategy)
    state = {**strategy.state_dict(), "baseline": 83.0}
    with pytest.raises(CheckpointError, match="start a new run"):
        make(Reinforce, queries=3).load_state_dict(state)


# -- resumability ----------------------------------------------------------------------------
@pytest.mark.parametrize("cls", STRATEGIES)
def test_resume_mid_epoch_continues_identically(cls: type[DiscreteStrategy]) -> None:
    options = {"queries": 25, "queries_per_epoch": 10}
    reference = make(cls, 3, **options)
    run_search(reference)

    first = make(cls, 3, **options)
    for _ in first.run_epoch(0):
        pass
    first.end_epoch(0)
    steps = first.run_epoch(1)
    for _ in range(3):
        next(steps)
    state = json.loads(json.dumps(first.state_dict()))
    estimator_state = first.context.estimator.state_dict()

    resumed = make(cls, 3, **options)
    resumed.load_state_dict(state)
    resumed.context.estimator.load_state_dict(estimator_state)
    for _ in resumed.run_epoch(1, start_step=3):
        pass
    resumed.end_epoch(1)
    for _ in resumed.run_epoch(2):
        pass
    assert visited(resumed) == visited(reference)
    assert resumed.derive() == reference.derive()
    assert resumed.context.estimator.queries == 25
    ends = [json.loads(json.dumps(s.state_dict())) for s in (resumed, reference)]
    for end in ends:
        end["_nascore_discrete"].pop("elapsed")
    assert ends[0] == ends[1]


# -- constraints -----------------------------------------------------------------------------
def params_of(space: NB201Space, ops: list[int]) -> int:
    return count_params(space.build_network(space.decode(ops)))


@pytest.mark.parametrize("cls", STRATEGIES)
def test_constraint_filter_proposes_only_feasible(cls: type[DiscreteStrategy]) -> None:
    space = tiny_space()
    # at most one nor_conv_3x3-sized edge (all-3x3 cells are far above)
    high = params_of(space, [3, 1, 1, 1, 1, 1])
    bound = ParamsConstraint(high=float(high))
    strategy = make(cls, space=space, constraints=(bound,), queries=12)
    run_search(strategy)
    for q in strategy.history:
        assert count_params(space.build_network(q.arch)) <= high
    assert all(r["params"] <= high for r in queries(strategy))
    # the bound binds: the same search without it proposes infeasible cells
    free = make(cls, space=space, queries=12)
    run_search(free)
    assert any(count_params(space.build_network(q.arch)) > high for q in free.history)


def test_impossible_bound_raises_infeasible() -> None:
    strategy = make(
        RandomSearch, space=tiny_space(), constraints=(ParamsConstraint(high=1.0),), max_tries=5
    )
    with pytest.raises(InfeasibleError, match="params") as info:
        run_search(strategy)
    assert "\n" not in str(info.value)


# -- nas bench nb201 -------------------------------------------------------------------------
def test_bench_reports_the_selected_architectures() -> None:
    result = bench_nb201(
        "evolution", queries=12, repeats=3, seed=5, options={"population": 4, "sample_size": 3}
    )
    tests, signals = [], []
    for seed in (5, 6, 7):
        strategy = make(Evolution, seed, queries=12, population=4, sample_size=3)
        cell = strategy.space.format(run_search(strategy))
        tests.append(strategy.context.estimator.table.value(cell, "cifar10_test_200"))
        signals.append(strategy.context.estimator.table.value(cell, "cifar10_val_12"))
    assert result["test_mean"] == pytest.approx(np.mean(tests))
    assert result["test_std"] == pytest.approx(np.std(tests))
    assert result["signal_mean"] == pytest.approx(np.mean(signals))
    assert result["optimum_test"] == pytest.approx(94.3733)
    with pytest.raises(IncompatibleError, match="discrete"):
        bench_nb201("darts", repeats=1)


def test_bench_command_prints_table_and_json() -> None:
    runner = CliRunner()
    args = ["--strategy", "random", "--queries", "5", "--repeats", "2", "--dataset", "cifar100"]
    table = runner.invoke(bench_nb201_command, args)
    assert table.exit_code == 0, table.output
    assert table.stdout.splitlines()[1].split()[:4] == ["random", "cifar100", "5", "2"]
    as_json = runner.invoke(bench_nb201_command, [*args, "--json", "--set", "queries_per_epoch=2"])
    [data] = json.loads(as_json.stdout)
    assert data["repeats"] == 2 and data["config"]["queries_per_epoch"] == 2
    assert 0 < data["test_mean"] < 100


def test_bench_command_runs_the_three_baselines_and_presets_beside_them() -> None:
    result = CliRunner().invoke(
        bench_nb201_command,
        ["--queries", "6", "--repeats", "2", "--preset", "tuned", "--set", "population=25",
         "--json"],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["label"] for r in rows] == [
        "random", "evolution", "evolution (tuned)", "reinforce", "reinforce (tuned)",
    ]
    evolution, tuned = rows[1]["config"], rows[2]["config"]
    assert evolution["population"] == tuned["population"] == 25  # the user's value wins
    assert evolution["sample_size"] == 3 and tuned["sample_size"] == 20  # the preset's value
    assert rows[4]["config"]["lr"] == 0.1 and rows[3]["config"]["lr"] == 0.01
    assert "population" not in rows[0]["config"]  # only given to strategies that have it
    with pytest.raises(ConfigError, match="has the setting 'populaton'"):
        bench_plan(["random", "evolution"], [], {"populaton": 5})
    with pytest.raises(ConfigError, match="has the preset 'fast'"):
        bench_plan(["random"], ["fast"], {})


def _result(strategy: str, dataset: str, test_mean: float) -> dict:
    return {
        "strategy": strategy, "dataset": dataset, "queries": 100, "repeats": 500,
        "test_mean": test_mean, "test_std": 0.3, "signal_mean": 84.0, "signal_std": 0.5,
        "seconds": 1.0,
    }


def test_results_table_closes_with_the_paper_comparison() -> None:
    results = [
        _result("random", "cifar10", 93.754),
        _result("evolution", "cifar10", 93.93),
        _result("hillclimb", "cifar10", 94.0),  # no published figure: a row, no comparison
        _result("reinforce", "cifar100", 71.0),  # the paper figures are CIFAR-10 ones
    ]
    lines = format_results(results).splitlines()
    assert len(lines) == 6
    assert [line.split()[:2] for line in lines[1:5]] == [
        ["random", "cifar10"], ["evolution", "cifar10"], ["hillclimb", "cifar10"],
        ["reinforce", "cifar100"],
    ]
    assert lines[1].split()[4:7] == ["93.75", "+-", "0.30"]
    assert lines[5].startswith("NAS-Bench-201 paper, CIFAR-10 test at 200 epochs")
    assert lines[5].endswith(
        "random 93.70 +- 0.36 (here 93.75 +- 0.30); evolution 93.92 +- 0.30 (here 93.93 +- 0.30)"
    )
    assert len(format_results([results[3]]).splitlines()) == 2
