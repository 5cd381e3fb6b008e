"""The search-space reduction: O_smaller, Eq. 2-4 on hand values, Eq. 5, accuracy bookkeeping."""

from __future__ import annotations

import math

import pytest
import torch
from nascore_bnas.reduction import (
    assign_accuracy,
    drop_least_likely,
    larger_likelihood,
    smaller_half,
    smaller_likelihood,
    update_likelihood,
)

ALPHA = torch.tensor([0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.4, 0.6])
SMALLER = [1, 3, 5, 6]  # the four smallest alphas
ACCURACY = [0.62, 0.58, 0.55, 0.40]  # given to ops 1, 3, 5, 6
# softmax(0.62, 0.58, 0.55, 0.40): exp = 1.858928, 1.786038, 1.733253, 1.491825, sum 6.870044
S_SMALLER = [0.2705846, 0.2599748, 0.2522914, 0.2171492]
# Eq. 3: (max + sum / ceil(8/2)) / 2 = (0.2705846 + 1 / 4) / 2
S_LARGER = 0.2602923


def _mean_accuracy() -> torch.Tensor:
    mean = torch.full((1, 8), float("nan"), dtype=torch.float64)
    mean[0, SMALLER] = torch.tensor(ACCURACY, dtype=torch.float64)
    return mean


def _mask(*columns: int) -> torch.Tensor:
    mask = torch.zeros(8, dtype=torch.bool)
    mask[list(columns)] = True
    return mask


def test_smaller_half_takes_ceil_k_over_2_smallest_alphas_of_the_remaining_ops():
    alpha = ALPHA.expand(4, 8)
    mask = torch.stack([_mask(*range(8)), _mask(0, 2, 3, 4, 5, 6, 7), _mask(0, 2, 4), _mask(7)])
    smaller = smaller_half(alpha, mask)
    assert smaller[0].nonzero().flatten().tolist() == SMALLER  # K = 8: 4 ops
    assert smaller[1].nonzero().flatten().tolist() == [3, 5, 6, 7]  # K = 7: 4 ops, 1 removed
    assert smaller[2].nonzero().flatten().tolist() == [2, 4]  # K = 3: 2 ops
    assert smaller[3].nonzero().flatten().tolist() == [7]  # K = 1
    ties = smaller_half(torch.zeros(1, 4), torch.ones(1, 4, dtype=torch.bool))
    assert ties[0].tolist() == [True, True, False, False]


def test_eq2_and_eq3_on_the_hand_accuracies():
    smaller = _mask(*SMALLER).unsqueeze(0)
    s_small = smaller_likelihood(_mean_accuracy(), smaller)
    assert s_small[0, SMALLER].tolist() == pytest.approx(S_SMALLER, abs=1e-7)
    assert s_small[0, [0, 2, 4, 7]].tolist() == [0.0] * 4
    assert float(larger_likelihood(s_small, smaller)[0]) == pytest.approx(S_LARGER, abs=1e-7)


def test_eq4_updates_the_likelihoods_from_zero_and_from_a_previous_value():
    smaller = _mask(*SMALLER).unsqueeze(0)
    mask = torch.ones(1, 8, dtype=torch.bool)
    s = update_likelihood(torch.zeros(1, 8, dtype=torch.float64), _mean_accuracy(), smaller, mask)
    expected = [S_LARGER] * 8
    for column, value in zip(SMALLER, S_SMALLER, strict=True):
        expected[column] = value
    assert s[0].tolist() == pytest.approx(expected, abs=1e-7)
    # s <- s / 2 + ...: from s = 0.1 everything moves up by 0.05; a removed op keeps its value
    mask[0, 2] = False
    previous = torch.full((1, 8), 0.1, dtype=torch.float64)
    s = update_likelihood(previous, _mean_accuracy(), smaller, mask)
    expected = [value + 0.05 for value in expected]
    expected[2] = 0.1
    assert s[0].tolist() == pytest.approx(expected, abs=1e-7)


def test_eq5_drops_the_argmin_of_each_edge_among_its_remaining_ops():
    s = torch.tensor(
        [
            [S_LARGER, 0.2705846, S_LARGER, 0.2599748, S_LARGER, 0.2522914, 0.2171492, S_LARGER],
            [0.5, 0.1, 0.4, 0.3, 0.6, 0.7, 0.8, 0.9],  # op 1 (0.1) was removed already
            [0.5, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.2],  # only op 7 is left
        ],
        dtype=torch.float64,
    )
    mask = torch.stack([_mask(*range(8)), _mask(0, 2, 3, 4, 5, 6, 7), _mask(7)])
    new_mask, dropped = drop_least_likely(s, mask)
    assert dropped.tolist() == [6, 3, -1]  # the 0.40 op; 0.3 (not the removed 0.1); nothing
    assert (mask & ~new_mask).nonzero().tolist() == [[0, 6], [1, 3]]
    assert new_mask.sum(dim=1).tolist() == [7, 6, 1]


def test_eq5_never_leaves_none_as_the_last_op_of_an_edge():
    s = torch.tensor([[0.9, 0.2, 0.0], [0.1, 0.2, 0.0], [0.9, 0.2, 0.5]], dtype=torch.float64)
    mask = torch.tensor([[True, True, False], [True, True, False], [True, True, True]])
    new_mask, dropped = drop_least_likely(s, mask, zero_index=0)
    # edge 0: dropping op 1 would leave only none, so none goes; edge 1: none is the argmin;
    # edge 2: three ops, the ordinary argmin
    assert dropped.tolist() == [0, 0, 1]
    assert new_mask.tolist() == [[False, True, False], [False, True, False], [True, False, True]]


def test_eq5_breaks_ties_by_the_smaller_alpha():
    s = torch.tensor([[0.3, 0.2, 0.2, 0.5]], dtype=torch.float64)
    mask = torch.ones(1, 4, dtype=torch.bool)
    assert drop_least_likely(s, mask)[1].tolist() == [1]
    alpha = torch.tensor([[0.0, 0.4, 0.1, -1.0]])
    assert drop_least_likely(s, mask, alpha=alpha)[1].tolist() == [2]


def test_accuracies_of_t_rounds_average_into_eq2():
    sums = torch.zeros(2, 8, dtype=torch.float64)
    counts = torch.zeros(2, 8, dtype=torch.int64)
    rounds = [(0.60, [1, 3]), (0.62, [3, 1]), (0.64, [1, 1])]  # per epoch: accuracy, op per edge
    for accuracy, ops in rounds:
        sums, counts = assign_accuracy(sums, counts, torch.tensor(ops), accuracy)
    mean = sums / counts
    assert mean[0, 1] == pytest.approx(0.62) and counts[0, 1] == 2  # (0.60 + 0.64) / 2
    assert mean[0, 3] == pytest.approx(0.62) and counts[0, 3] == 1
    assert mean[1, 3] == pytest.approx(0.60) and mean[1, 1] == pytest.approx(0.63)
    assert math.isnan(float(mean[0, 0]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        assign_accuracy(sums, counts, torch.tensor([1, 3]), 62.0)


def test_eq2_needs_an_accuracy_for_every_smaller_op():
    smaller = _mask(*SMALLER).unsqueeze(0)
    mean = _mean_accuracy()
    mean[0, 5] = float("nan")
    with pytest.raises(ValueError, match="sampled accuracy"):
        smaller_likelihood(mean, smaller)
