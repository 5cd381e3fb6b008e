"""The NB201 supernet: the macro skeleton with mixed cells sharing one decision group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from nascore.nn.mixed import MixedEdge
from nascore.space import DecisionGroup, EdgeWeights, Selection, Supernet
from nascore.spaces.nb201.cell import EDGES, OPS
from nascore.spaces.nb201.network import Skeleton
from nascore.spaces.nb201.ops import make_op


def _supernet_op(name: str, channels: int, stride: int) -> nn.Module:
    return make_op(name, channels, stride, affine=False)


class MixedCell(nn.Module):
    """An NB201 cell whose 6 edges are :class:`MixedEdge`\\ s (BN without affine parameters)."""

    def __init__(self, channels: int, partial_channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(
            MixedEdge(OPS, channels, 1, _supernet_op, partial_channels, zero="none")
            for _ in EDGES
        )

    def forward(self, x: torch.Tensor, selections: Sequence[Selection]) -> torch.Tensor:
        nodes = [x]
        for j in range(1, 4):
            total = None
            for e, (target, i) in enumerate(EDGES):
                if target != j:
                    continue
                y = self.edges[e](nodes[i], selections[e])
                if y is not None:
                    total = y if total is None else total + y
            nodes.append(torch.zeros_like(x) if total is None else total)
        return nodes[-1]


class NB201Supernet(Skeleton, Supernet):
    """Stem, 3 stages of mixed cells (all cells share the ``"cell"`` group), reductions, head."""

    def __init__(
        self,
        group: DecisionGroup,
        channels: int,
        cells_per_stage: int,
        num_classes: int,
        in_channels: int,
        partial_channels: int = 1,
    ) -> None:
        super().__init__(
            lambda c: MixedCell(c, partial_channels),
            channels,
            cells_per_stage,
            num_classes,
            in_channels,
        )
        self.groups = [group]

    def forward(self, x: torch.Tensor, weights: Mapping[str, EdgeWeights]) -> torch.Tensor:
        cell = weights[self.groups[0].name]
        selections = [cell.row(e) for e in range(len(EDGES))]
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x, selections) if isinstance(layer, MixedCell) else layer(x)
        return self.head(x)
