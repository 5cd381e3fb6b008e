"""Eq. 2: lowest-time-cost sampling of budgets with costs relative to the cheapest budget."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nascore_mipbpe import (
    budget_key,
    cheapest_budget,
    cheapest_value,
    sample_budgets,
    time_per_cost,
    value_probabilities,
)

GRID = {"epochs": [1, 2, 4], "cutout": [16, 0]}


def epochs_cost(values) -> float:
    """FLOPs grow with epochs; cutout costs nothing."""
    return 1e8 * values["epochs"]


def test_eq2_on_a_three_value_grid() -> None:
    p = value_probabilities(GRID, epochs_cost, fixed={})
    # Relative costs 1, 2, 4: p ~ exp(-1), exp(-2), exp(-4).
    z = math.exp(-1) + math.exp(-2) + math.exp(-4)
    assert p["epochs"] == pytest.approx([math.exp(-1) / z, math.exp(-2) / z, math.exp(-4) / z])
    assert p["cutout"] == pytest.approx([0.5, 0.5])  # equal FLOPs: equally likely
    assert p["epochs"][1] > 0.1  # raw FLOPs (1e8 apart) would have collapsed onto 1 epoch


def test_costs_are_relative_to_the_cheapest_budget_with_fixed_values_in_place() -> None:
    grid = {"layers": [2, 4, 8], "channels": [8, 4]}

    def cost(v) -> float:
        return v["layers"] * v["channels"] ** 2

    assert cheapest_budget(grid, cost, {}) == {"layers": 2, "channels": 4}
    p = value_probabilities(grid, cost, {})
    # channels 8 costs 4x the cheapest budget (2 cells of 4 channels), channels 4 costs 1x.
    assert p["channels"] == pytest.approx(np.exp([-4, -1]) / np.exp([-4, -1]).sum())
    fixed = value_probabilities(grid, cost, {"channels": 8})
    assert set(fixed) == {"layers"}
    assert fixed["layers"] == pytest.approx(np.exp([-1, -2, -4]) / np.exp([-1, -2, -4]).sum())


def test_cheapest_value_without_time_measurements_breaks_ties_by_grid_order() -> None:
    assert cheapest_value(GRID, epochs_cost, {}, "cutout") == 16
    assert cheapest_value(GRID, epochs_cost, {}, "epochs") == 1
    assert cheapest_value(GRID, epochs_cost, {"epochs": 4}, "epochs") == 4


def test_equal_flops_go_to_the_value_with_the_least_measured_time_per_flop() -> None:
    grid = {"epochs": [1, 2], "batch_size": [128, 256, 512]}

    def cost(v) -> float:
        return 10.0 * v["epochs"]  # batch size does not change the FLOPs

    measured = [
        ({"epochs": 1, "batch_size": 128}, 20.0),  # 2.0 s per unit of cost
        ({"epochs": 2, "batch_size": 128}, 36.0),  # 1.8
        ({"epochs": 2, "batch_size": 256}, 30.0),  # 1.5
    ]
    assert time_per_cost(measured, cost, "batch_size", 128) == pytest.approx(1.9)
    assert time_per_cost(measured, cost, "batch_size", 256) == pytest.approx(1.5)
    assert time_per_cost(measured, cost, "batch_size", 512) is None
    # 256 is the minimum time cost (1.5 < 1.9), though its raw mean time (30 s) exceeds 128's
    # (28 s): it was measured on the dearer 2-epoch budget. 512 was never measured: last.
    assert cheapest_value(grid, cost, {}, "batch_size", measured) == 256
    # Unequal FLOPs: the cheapest FLOPs win whatever the times.
    assert cheapest_value(grid, cost, {}, "epochs", measured) == 1
    assert cheapest_budget(grid, cost, {}, measured) == {"epochs": 1, "batch_size": 256}
    # A fixed value stays; without measurements the first listed value wins.
    assert cheapest_value(grid, cost, {"batch_size": 512}, "batch_size", measured) == 512
    assert cheapest_value(grid, cost, {}, "batch_size") == 128


def test_sampled_budgets_follow_eq2_and_are_new() -> None:
    p = value_probabilities(GRID, epochs_cost, {})
    rng = np.random.default_rng(0)
    draws = [sample_budgets(GRID, p, {}, 1, rng)[0]["epochs"] for _ in range(4000)]
    frequencies = [draws.count(e) / len(draws) for e in GRID["epochs"]]
    assert frequencies == pytest.approx(p["epochs"].tolist(), abs=0.03)

    seen = {budget_key({"epochs": 1, "cutout": 16}, list(GRID))}
    batch = sample_budgets(GRID, p, {}, 4, np.random.default_rng(1), exclude=seen)
    keys = [budget_key(b, list(GRID)) for b in batch]
    assert len(batch) == 4 and len(set(keys)) == 4 and not seen & set(keys)


def test_sampling_keeps_fixed_values_and_stops_when_the_space_is_used_up() -> None:
    p = value_probabilities(GRID, epochs_cost, {"epochs": 2})
    batch = sample_budgets(GRID, p, {"epochs": 2}, 10, np.random.default_rng(0))
    assert sorted(b["cutout"] for b in batch) == [0, 16]  # only two budgets exist
    assert all(b["epochs"] == 2 for b in batch)
