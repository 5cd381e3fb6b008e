"""PC-DARTS: edge normalisation, partial channels, warm-up and an end-to-end search."""

from __future__ import annotations

import math

import pytest
import torch

from nascore.strategies.edgenorm import edge_softmax, node_groups

EDGES = ("n2<-0", "n2<-1", "n3<-0", "n3<-1", "n3<-2")


def test_node_groups_follow_edge_names():
    assert node_groups(EDGES) == [[0, 1], [2, 3, 4]]
    with pytest.raises(ValueError, match="target<-source"):
        node_groups(("a", "b"))


def test_edge_softmax_on_a_hand_computed_case():
    betas = torch.tensor([0.0, math.log(2.0), 0.0, 0.0, math.log(2.0)])
    scale = edge_softmax(betas, node_groups(EDGES))
    assert torch.allclose(scale, torch.tensor([1 / 3, 2 / 3, 1 / 4, 1 / 4, 1 / 2]))


def test_edge_softmax_is_differentiable_per_node():
    betas = torch.zeros(5, requires_grad=True)
    scale = edge_softmax(betas, node_groups(EDGES))
    scale[0].backward()
    # d softmax_0 / d beta over node 2's two edges: p(1-p) and -p*q; node 3's edges untouched.
    assert torch.allclose(betas.grad, torch.tensor([0.25, -0.25, 0.0, 0.0, 0.0]))
