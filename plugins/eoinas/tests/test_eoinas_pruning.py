"""One pruning stage on hand-made indicators, including the zero-op rules."""

from __future__ import annotations

import math

import torch
from nascore_eoinas import choose_prunes
from nascore_eoinas.pruning import LOWEST, ZERO_FIRST, ZERO_LAST

INF = math.inf


def test_every_edge_loses_its_lowest_scored_op():
    indicator = torch.tensor([[0.3, 0.1, 0.5], [0.2, 0.9, 0.4], [0.7, 0.7, 0.1]])
    mask = torch.ones(3, 3, dtype=torch.bool)
    prunes = choose_prunes(indicator, mask)
    assert prunes == [(0, 1, LOWEST), (1, 0, LOWEST), (2, 2, LOWEST)]
    assert mask.all()  # the input mask is not modified


def test_pruned_ops_are_ignored_and_single_op_edges_are_left_alone():
    indicator = torch.tensor([[-INF, 0.6, 0.4], [-INF, -INF, 0.2]])
    mask = torch.tensor([[False, True, True], [False, False, True]])
    assert choose_prunes(indicator, mask) == [(0, 2, LOWEST)]


def test_ties_prune_the_first_op():
    assert choose_prunes(torch.tensor([[0.5, 0.2, 0.2]]), torch.ones(1, 3, dtype=torch.bool)) == [
        (0, 1, LOWEST)
    ]


def test_zero_op_is_never_left_alone_on_an_edge():
    # column 0 is "none"; with one other op left, none goes even though the other op is lower
    indicator = torch.tensor([[0.9, -INF, 0.3], [0.1, 0.8, -INF]])
    mask = torch.tensor([[True, False, True], [True, True, False]])
    prunes = choose_prunes(indicator, mask, zero=0)
    assert prunes == [(0, 0, ZERO_LAST), (1, 0, LOWEST)]


def test_zero_competes_normally_while_more_ops_remain():
    indicator = torch.tensor([[0.9, 0.2, 0.3]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    assert choose_prunes(indicator, mask, zero=0) == [(0, 1, LOWEST)]


def test_drop_zero_first_removes_none_instead_of_the_lowest_op():
    indicator = torch.tensor([[0.9, 0.2, 0.3], [-INF, 0.2, 0.3]])
    mask = torch.tensor([[True, True, True], [False, True, True]])
    prunes = choose_prunes(indicator, mask, zero=0, drop_zero_first=True)
    assert prunes == [(0, 0, ZERO_FIRST), (1, 1, LOWEST)]
