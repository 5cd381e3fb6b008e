"""Constraint bounds, units and the differentiable expected cost."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nascore.constraint import FlopsConstraint, ParamsConstraint, parse_bounds, parse_quantity
from nascore.costs import CostTable, count_macs
from nascore.errors import ConfigError


def test_quantities_and_bounds() -> None:
    assert parse_quantity("2M") == 2e6 and parse_quantity("600k") == 6e5
    assert parse_quantity("1.8e5") == 1.8e5
    assert parse_bounds("1M..2M") == (1e6, 2e6)
    assert parse_bounds("..600M") == (None, 6e8)
    assert parse_bounds("3k..") == (3e3, None)
    for bad in ("2M", "..", "3M..1M", "x..2"):
        with pytest.raises(ConfigError):
            parse_bounds(bad)


def test_measure_exact_params_and_macs() -> None:
    net = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    x = torch.zeros(1, 1, 6, 6)
    assert ParamsConstraint(high=100).measure(net, x) == 18 + 32 * 3 + 3
    # conv: 2 out channels * 4*4 positions * 9 taps; linear: 32 * 3
    assert FlopsConstraint(high=1).measure(net, x) == 2 * 16 * 9 + 32 * 3
    assert count_macs(net, x) == 2 * 16 * 9 + 32 * 3


def test_expected_cost_and_violation_are_hand_computed() -> None:
    table = CostTable("params", 10.0, {"g": torch.tensor([[0.0, 4.0], [2.0, 6.0]])})
    probs = {"g": torch.tensor([[0.5, 0.5], [0.25, 0.75]], requires_grad=True)}
    c = ParamsConstraint(low=20, high=30)
    phi = c.expected(table, probs)
    assert phi.item() == pytest.approx(10 + 2 + 0.5 + 4.5)  # 17
    violation = c.violation(phi)
    assert violation.item() == pytest.approx(3.0)
    violation.backward()
    assert torch.allclose(probs["g"].grad, -table.per_group["g"])
    assert c.violation(torch.tensor(25.0)).item() == 0
    assert c.violation(torch.tensor(31.0)).item() == 1
