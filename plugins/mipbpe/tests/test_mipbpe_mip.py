"""Algorithm 1 on synthetic evaluators: what it fixes first, its result, resuming its state."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
from nascore_mipbpe import Evaluation, MinimumImportancePruning, MIPSettings, MIPState

GRID = {
    "epochs": [1, 2, 3, 4],
    "batch_size": [32, 64, 128],
    "lr": [0.01, 0.05, 0.1],
    "cutout": [0, 8, 16],
}
ARCHS = 40
FINAL = np.random.default_rng(0).normal(size=ARCHS)
COMMON = np.random.default_rng(1).normal(size=ARCHS)


def cost(values) -> float:
    """Only epochs change the FLOPs."""
    return float(values["epochs"])


def epochs_dominate(budget) -> Evaluation:
    """The noise on the final accuracies shrinks with epochs (r_s about 0.25 at 1 epoch, 0.9 at
    4); the other hyper-parameters only add a tiny budget-specific noise."""
    seed = zlib.crc32(json.dumps(budget, sort_keys=True).encode())
    jitter = np.random.default_rng(seed).normal(size=ARCHS)
    accuracies = FINAL + (4.0 / budget["epochs"] ** 1.5) * COMMON + 0.05 * jitter
    return Evaluation(accuracies, seconds=60.0 * budget["epochs"])


def test_the_dominant_hyperparameter_is_fixed_last() -> None:
    mip = MinimumImportancePruning(GRID, FINAL, cost, MIPSettings(trees=30), seed=0)
    best = mip.run(epochs_dominate)
    order = [step["name"] for step in mip.state.fixes]
    assert sorted(order) == ["batch_size", "cutout", "lr"]  # the others go first
    assert mip.free == ["epochs"]
    for step in mip.state.fixes:
        assert max(step["importances"], key=step["importances"].get) == "epochs"
        assert step["rule"] == "cheapest" and step["importance"] < 0.1
        # Equal FLOPs and equal seconds per FLOP (60 s per epoch): the first value.
        assert step["value"] == GRID[step["name"]][0]
    assert best["budget"]["epochs"] == max(r["budget"]["epochs"] for r in mip.state.records)
    assert best["r_s"] == max(r["r_s"] for r in mip.state.records)
    keys = [json.dumps(r["budget"], sort_keys=True) for r in mip.state.records]
    assert len(set(keys)) == len(keys)  # D is a set
    for record in mip.state.records:  # later rounds sample only around the fixed values
        for step in mip.state.fixes:
            if step["round"] < record["round"]:
                assert record["budget"][step["name"]] == step["value"]
    assert {r["round"] for r in mip.state.records} >= {0, 1, 2}


def test_eq9_fixes_an_equal_flops_hyperparameter_to_its_fastest_measured_value() -> None:
    """Larger batches train faster per epoch here (60 s x (1 + 32 / batch)), as on a GPU: the
    batch size is fixed to 128, the minimum time cost, not to the first listed 32."""

    def faster_with_bigger_batches(budget) -> Evaluation:
        found = epochs_dominate(budget)
        return Evaluation(found.accuracies,
                          seconds=found.seconds * (1 + 32 / budget["batch_size"]))

    mip = MinimumImportancePruning(GRID, FINAL, cost, MIPSettings(trees=30), seed=0)
    mip.run(faster_with_bigger_batches)
    [step] = [s for s in mip.state.fixes if s["name"] == "batch_size"]
    assert (step["rule"], step["value"]) == ("cheapest", 128)


def test_the_time_term_picks_a_cheaper_budget() -> None:
    settings = MIPSettings(trees=30, time_weight=0.0)
    slow = MinimumImportancePruning(GRID, FINAL, cost, settings, seed=0).run(epochs_dominate)
    settings = MIPSettings(trees=30, time_weight=10.0)  # 1 epoch (1 min) costs 0.17 of r_s
    fast = MinimumImportancePruning(GRID, FINAL, cost, settings, seed=0).run(epochs_dominate)
    assert fast["seconds"] < slow["seconds"]


class Stop(Exception):
    pass


def test_an_interrupted_and_resumed_search_ends_like_an_uninterrupted_one() -> None:
    settings = MIPSettings(samples=4, trees=20)
    whole = MinimumImportancePruning(GRID, FINAL, cost, settings, seed=3)
    whole.run(epochs_dominate)

    saved: list[str] = []
    calls = {"n": 0}

    def flaky(budget) -> Evaluation:
        calls["n"] += 1
        if calls["n"] == 6:
            raise Stop
        return epochs_dominate(budget)

    first = MinimumImportancePruning(GRID, FINAL, cost, settings, seed=3)
    with pytest.raises(Stop):
        first.run(flaky, lambda _event: saved.append(json.dumps(first.state.to_dict())))
    state = MIPState.from_dict(json.loads(saved[-1]))
    assert len(state.records) == 5 and state.round >= 1
    resumed = MinimumImportancePruning(GRID, FINAL, cost, settings, seed=3, state=state)
    resumed.run(epochs_dominate)
    assert resumed.state.to_dict() == whole.state.to_dict()


def test_a_grid_of_single_values_is_one_evaluation() -> None:
    mip = MinimumImportancePruning({"epochs": [12]}, FINAL, cost)
    events: list[str] = []
    best = mip.run(lambda b: epochs_dominate({**b, "batch_size": 32}),
                   lambda e: events.append(e["type"]))
    assert events == ["bpe_sampled", "bpe_budget", "bpe_done"]
    assert best["budget"] == {"epochs": 12} and mip.state.fixes == []


def test_state_checks() -> None:
    state = MinimumImportancePruning(GRID, FINAL, cost).state
    with pytest.raises(ValueError, match="another budget grid"):
        MinimumImportancePruning({"epochs": [1, 2]}, FINAL, cost, state=state)
    with pytest.raises(ValueError, match="no values"):
        MinimumImportancePruning({"epochs": []}, FINAL, cost)
    with pytest.raises(ValueError, match="expected 40"):
        MinimumImportancePruning(GRID, FINAL, cost).run(lambda b: Evaluation([1.0, 2.0]))
