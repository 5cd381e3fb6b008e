"""The indicator I = softmax(alpha) + lambda * Ca / Ce (Eq. 6-7) and its counters, by hand."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from nascore_eoinas import OpStatistics, accuracy_ratio, importance


def test_ratio_is_ca_over_ce_and_zero_where_ce_is_zero():
    ca = torch.tensor([[1.5, 0.0, 0.3], [0.0, 2.0, 0.0]])
    ce = torch.tensor([[3, 0, 0], [5, 4, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ratio = accuracy_ratio(ca, ce)
    expected = torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]], dtype=torch.float64)
    assert torch.equal(ratio, expected)  # Ca = 0.3 with Ce = 0 still gives 0, not inf
    assert torch.isfinite(ratio).all()


def test_indicator_adds_lambda_times_the_ratio_to_the_softmax():
    alpha = torch.tensor([[0.5, 0.25, 0.25]]).log()  # softmax: 0.5, 0.25, 0.25
    ca = torch.tensor([[2.0, 0.6, 0.0]])
    ce = torch.tensor([[4, 2, 0]])  # C = 0.5, 0.3, 0 (Ce = 0)
    got = importance(alpha, ca, ce, lam=0.5)
    assert got[0].tolist() == pytest.approx([0.75, 0.40, 0.25])
    assert importance(alpha, ca, ce, lam=0.0)[0].tolist() == pytest.approx([0.5, 0.25, 0.25])


def test_indicator_softmax_runs_over_the_kept_ops_and_pruned_ops_are_minus_inf():
    alpha = torch.zeros(2, 4)
    mask = torch.tensor([[True, False, True, True], [True, True, True, True]])
    ca = torch.tensor([[0.9, 5.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    ce = torch.tensor([[3, 1, 0, 0], [0, 0, 0, 0]])
    got = importance(alpha, ca, ce, lam=0.5, mask=mask)
    third = 1.0 / 3.0
    assert got[0].tolist() == pytest.approx([third + 0.15, -math.inf, third, third])
    assert got[1].tolist() == pytest.approx([0.25] * 4)  # nothing counted yet: the softmax alone


def test_statistics_count_training_samples_and_accumulate_validation_accuracy():
    stats = OpStatistics((2, 3))
    stats.record_training(torch.tensor([0, 2]))
    stats.record_training(torch.tensor([0, 1]))
    stats.record_validation(torch.tensor([0, 2]), 0.5)
    stats.record_validation(torch.tensor([0, 1]), 0.75)
    assert stats.ce.tolist() == [[2, 0, 0], [0, 1, 1]]
    assert stats.ca.tolist() == [[1.25, 0.0, 0.0], [0.0, 0.75, 0.5]]
    expected = torch.tensor([[0.625, 0.0, 0.0], [0.0, 0.75, 0.5]], dtype=torch.float64)
    assert torch.allclose(stats.ratio(), expected)


def test_latest_accuracy_statistics_keep_only_the_last_validation_batch():
    stats = OpStatistics((1, 2), latest=True)
    stats.record_validation(torch.tensor([1]), 0.5)
    stats.record_validation(torch.tensor([1]), 0.75)
    assert stats.ca.tolist() == [[0.0, 0.75]]


def test_statistics_state_round_trip_is_a_copy():
    stats = OpStatistics((1, 2))
    stats.record_training(torch.tensor([1]))
    stats.record_validation(torch.tensor([1]), 0.5)
    copy = OpStatistics((1, 2))
    copy.load_state_dict(stats.state_dict())
    assert torch.equal(copy.ca, stats.ca) and torch.equal(copy.ce, stats.ce)
    stats.ce.zero_()
    assert copy.ce.tolist() == [[0, 1]]  # the saved state is a copy
