"""The DARTS search network (supernet) and its default search edge.

Extension point (used by spaces built on ``darts``, e.g. A-DARTS): the supernet builds every edge
with ``edge_factory(C, stride, cell_type, edge_index)`` and, on each forward pass, hands the edge
``selections``: a dict role -> :class:`~nascore.space.Selection` holding that edge's row of every
decision group whose name is ``cell_type`` or starts with ``cell_type + "."`` (e.g. ``"normal"``
with role ``"op"`` and ``"normal.act"`` with role ``"activation"``). An edge returns a tensor, or
``None`` when it contributes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from nascore.nn.mixed import MixedEdge
from nascore.space import DecisionGroup, EdgeWeights, Selection, Supernet
from nascore.spaces.darts.cells import EdgeFactory, SearchCell, plan_cells
from nascore.spaces.darts.ops import PARAMETERIZED, PRIMITIVES, supernet_op


def _op_without_leading_relu(name: str, C: int, stride: int) -> nn.Module:
    return supernet_op(name, C, stride, leading_act=False)


class OpEdge(nn.Module):
    """The default ``darts`` search edge: a :class:`MixedEdge` over :data:`PRIMITIVES` (supernet
    ops: BatchNorm without affine, pools followed by BatchNorm) driven by the ``"op"`` selection.

    The leading ReLU of the parameterized ops is computed once per edge and shared by them (same
    outputs as one ReLU per op, less memory)."""

    def __init__(self, C: int, stride: int, partial_channels: int = 1) -> None:
        super().__init__()
        self.mixed = MixedEdge(
            PRIMITIVES,
            C,
            stride,
            _op_without_leading_relu,
            partial_channels,
            act=nn.ReLU(),
            act_candidates=PARAMETERIZED,
        )

    def forward(self, x: torch.Tensor, selections: Mapping[str, Selection]) -> torch.Tensor | None:
        return self.mixed(x, selections["op"])


def group_routes(
    groups: Sequence[DecisionGroup], cell_types: Sequence[str], num_edges: int
) -> dict[str, list[tuple[str, str]]]:
    """Per cell type, the ``(group name, role)`` pairs its edges receive (see the module doc)."""
    routes: dict[str, list[tuple[str, str]]] = {}
    for cell_type in cell_types:
        members = [g for g in groups if g.name == cell_type or g.name.startswith(cell_type + ".")]
        roles = [g.role for g in members]
        if not members or len(set(roles)) != len(roles):
            raise ValueError(
                f"cell type {cell_type!r} needs decision groups with distinct roles, got {roles}"
            )
        wrong = [g.name for g in members if len(g.edges) != num_edges]
        if wrong:
            raise ValueError(f"groups {wrong} do not have one row per cell edge ({num_edges})")
        routes[cell_type] = [(g.name, g.role) for g in members]
    return routes


class DartsSupernet(Supernet):
    """Stem (3x3 conv to ``stem_multiplier * C``, BN), ``layers`` search cells (reductions at
    ``layers // 3`` and ``2 * layers // 3``), global average pooling, linear classifier.

    ``forward(x, weights)`` needs an :class:`EdgeWeights` for every group in ``groups``.
    """

    def __init__(
        self,
        groups: Sequence[DecisionGroup],
        C: int,
        layers: int,
        nodes: int,
        stem_multiplier: int,
        in_channels: int,
        num_classes: int,
        edge_factory: EdgeFactory,
    ) -> None:
        super().__init__()
        self.groups = list(groups)
        stem_channels = stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem_channels),
        )
        plans = plan_cells(C, layers, nodes, stem_channels)
        self.cells = nn.ModuleList(SearchCell(plan, nodes, edge_factory) for plan in plans)
        self.num_edges = len(self.cells[0].edges)
        cell_types = sorted({plan.cell_type for plan in plans})
        self._routes = group_routes(self.groups, cell_types, self.num_edges)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(plans[-1].C * nodes, num_classes)

    def _selections(
        self, weights: Mapping[str, EdgeWeights]
    ) -> dict[str, list[dict[str, Selection]]]:
        missing = [g.name for g in self.groups if g.name not in weights]
        if missing:
            raise ValueError(f"supernet forward lacks EdgeWeights for groups {missing}")
        return {
            cell_type: [
                {role: weights[name].row(edge) for name, role in route}
                for edge in range(self.num_edges)
            ]
            for cell_type, route in self._routes.items()
        }

    def forward(self, x: torch.Tensor, weights: Mapping[str, EdgeWeights]) -> torch.Tensor:
        selections = self._selections(weights)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, selections[cell.cell_type])
        return self.classifier(self.global_pool(s1).flatten(1))
