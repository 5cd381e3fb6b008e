"""Eq. 9 (the fixing rule), Eq. 1 (the objective and its time term) and r_s."""

from __future__ import annotations

import pytest
from nascore_mipbpe import choose_fix, lambda_ranges, objective, spearman, spearman_per_budget

BEST = {"epochs": 50, "layers": 20, "cutout": 16}


def cheapest(name: str) -> int:
    return {"epochs": 10, "layers": 6, "cutout": 0}[name]


def test_eq9_below_the_threshold_fixes_the_least_important_to_its_cheapest_value() -> None:
    fix = choose_fix({"epochs": 0.5, "layers": 0.45, "cutout": 0.05}, ["epochs", "layers",
                     "cutout"], cheapest, BEST)
    assert (fix.name, fix.value, fix.rule) == ("cutout", 0, "cheapest")
    assert fix.importance == pytest.approx(0.05)


def test_eq9_at_or_above_the_threshold_fixes_it_to_its_value_in_the_best_budget() -> None:
    fix = choose_fix({"epochs": 0.5, "layers": 0.3, "cutout": 0.2}, ["epochs", "layers",
                     "cutout"], cheapest, BEST)
    assert (fix.name, fix.value, fix.rule) == ("cutout", 16, "best")
    fix = choose_fix({"epochs": 0.5, "layers": 0.3, "cutout": 0.2}, ["epochs", "layers",
                     "cutout"], cheapest, BEST, threshold=0.25)
    assert (fix.name, fix.value, fix.rule) == ("cutout", 0, "cheapest")


def test_eq9_considers_only_free_hyperparameters_and_breaks_ties_by_order() -> None:
    importances = {"epochs": 0.0, "layers": 0.0, "cutout": 0.0}
    assert choose_fix(importances, ["layers", "cutout"], cheapest, BEST).name == "layers"
    with pytest.raises(ValueError):
        choose_fix(importances, [], cheapest, BEST)


def test_eq1_penalises_training_time() -> None:
    assert objective([0.6, 0.7], [0.5, 2.0], 0.1) == pytest.approx([0.55, 0.5])
    assert objective([0.6, 0.7], [0.5, 2.0], 0.0) == pytest.approx([0.6, 0.7])


def test_eq1_optimum_by_time_weight() -> None:
    # A: r_s 0.5 in 0.1 h; B: r_s 0.7 in 1.1 h. Equal at lambda = 0.2 / 1.0 = 0.2.
    ranges = lambda_ranges([0.5, 0.7], [0.1, 1.1])
    assert [(r.index, r.low, r.high) for r in ranges] == [(1, 0.0, pytest.approx(0.2)),
                                                          (0, pytest.approx(0.2), 1.0)]
    # C is never best: dominated by A (slower and worse).
    ranges = lambda_ranges([0.5, 0.7, 0.4], [0.1, 1.1, 0.2])
    assert {r.index for r in ranges} == {0, 1}


def test_spearman() -> None:
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([4, 3, 2, 1], [10, 20, 30, 40]) == pytest.approx(-1.0)
    # Ranks [1, 2, 3] vs [1, 3, 2]: 1 - 6 * 2 / (3 * 8) = 0.5.
    assert spearman([1, 2, 3], [5, 9, 7]) == pytest.approx(0.5)
    assert spearman([1, 1, 1], [1, 2, 3]) == 0.0  # a constant budget ranks nothing
    assert spearman_per_budget([[1, 2, 3], [3, 2, 1]], [1, 2, 3]) == pytest.approx([1, -1])
    with pytest.raises(ValueError):
        spearman([1, 2], [1, 2, 3])
