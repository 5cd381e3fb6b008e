"""The DARTS search network (supernet) and its default search edge.

Extension point (used by spaces built on ``darts``, e.g. A-DARTS): the supernet builds every edge
with ``edge_factory(C, stride, cell_type, edge_index)`` and, on each forward pass, hands the edge
``selections``: a dict role -> :class:`~nascore.space.Selection` holding that edge's row of every
decision group whose name is the cell's key (its type, or a per-depth key) or starts with the key
plus ``"."`` (e.g. ``"normal"`` with role ``"op"`` and ``"normal.act"`` with role
``"activation"``). An edge returns a tensor, or ``None`` when it contributes nothing.

With connection cells, the group named by ``connection`` (one edge) drives every searched
preprocessing (:class:`~nascore.spaces.darts.cells.ConnectionEdge`) of the network: RC-DARTS
learns one connection cell.

Fixed cells (``fixed``: cell key -> :data:`~nascore.spaces.darts.cells.FixedCell`, e.g. the GDAS
reduction cell) take the place of the search cells of their key; that key gets no selections.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from nascore.nn.mixed import MixedEdge, OpFactory
from nascore.space import DecisionGroup, EdgeWeights, Selection, Supernet
from nascore.spaces.darts.cells import CellPlan, EdgeFactory, FixedCell, Preprocess, SearchCell
from nascore.spaces.darts.ops import PARAMETERIZED, POOLS, PRIMITIVES, supernet_op


def plain_supernet_op(name: str, C: int, stride: int) -> nn.Module:
    """The DARTS supernet op ``name`` without its leading activation."""
    return supernet_op(name, C, stride, leading_act=False)


class OpEdge(nn.Module):
    """The default ``darts`` search edge: a :class:`MixedEdge` over :data:`PRIMITIVES` driven by
    the ``"op"`` selection; ``op_factory(name, C, stride)`` builds the supernet ops without their
    leading activation (default: :func:`plain_supernet_op`; the space passes its op factory).

    The leading ReLU of the parameterized ops, and the pools of the pool candidates, are computed
    once per cell state and shared by the edges (and ops) reading it (same outputs as one per op,
    less memory and time; see :class:`MixedEdge`)."""

    def __init__(
        self,
        C: int,
        stride: int,
        op_factory: OpFactory = plain_supernet_op,
        partial_channels: int = 1,
    ) -> None:
        super().__init__()
        self.mixed = MixedEdge(
            PRIMITIVES,
            C,
            stride,
            op_factory,
            partial_channels,
            act=nn.ReLU(),
            act_candidates=PARAMETERIZED,
            shared_candidates=POOLS,
            share_act=True,
        )

    def forward(self, x: torch.Tensor, selections: Mapping[str, Selection]) -> torch.Tensor | None:
        return self.mixed(x, selections["op"])


def group_routes(
    groups: Sequence[DecisionGroup], keys: Sequence[str], num_edges: int
) -> dict[str, list[tuple[str, str]]]:
    """Per cell key, the ``(group name, role)`` pairs its edges receive (see the module doc)."""
    routes: dict[str, list[tuple[str, str]]] = {}
    for key in keys:
        members = [g for g in groups if g.name == key or g.name.startswith(key + ".")]
        roles = [g.role for g in members]
        if not members or len(set(roles)) != len(roles):
            raise ValueError(
                f"cell key {key!r} needs decision groups with distinct roles, got {roles}"
            )
        wrong = [g.name for g in members if len(g.edges) != num_edges]
        if wrong:
            raise ValueError(f"groups {wrong} do not have one row per cell edge ({num_edges})")
        routes[key] = [(g.name, g.role) for g in members]
    return routes


class DartsSupernet(Supernet):
    """Stem (3x3 conv to ``stem_channels``, BN), the search cells of ``plans`` (the ``fixed``
    cell of their key instead, if any), global average pooling, linear classifier.

    ``forward(x, weights)`` needs an :class:`EdgeWeights` for every group in ``groups``.
    """

    def __init__(
        self,
        groups: Sequence[DecisionGroup],
        plans: Sequence[CellPlan],
        nodes: int,
        stem_channels: int,
        in_channels: int,
        num_classes: int,
        edge_factory: EdgeFactory,
        preprocess: Preprocess,
        connection: str | None = None,
        fixed: Mapping[str, FixedCell] | None = None,
    ) -> None:
        super().__init__()
        fixed = fixed or {}
        self.groups = list(groups)
        self.connection = connection
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem_channels),
        )
        self.cells = nn.ModuleList(
            fixed[plan.key](plan, False, preprocess)
            if plan.key in fixed
            else SearchCell(plan, nodes, edge_factory, False, preprocess)
            for plan in plans
        )
        #: ``self.cells`` positions of the search cells (the others are fixed)
        self.searched = tuple(i for i, plan in enumerate(plans) if plan.key not in fixed)
        searched = [self.cells[i] for i in self.searched]
        if not searched:
            raise ValueError("a supernet needs at least one search cell")
        self.num_edges = len(searched[0].edges)
        keys = sorted({cell.key for cell in searched})
        self._routes = group_routes(self.groups, keys, self.num_edges)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(plans[-1].C * nodes, num_classes)

    def _selections(
        self, weights: Mapping[str, EdgeWeights]
    ) -> dict[str, list[dict[str, Selection]]]:
        missing = [g.name for g in self.groups if g.name not in weights]
        if missing:
            raise ValueError(f"supernet forward lacks EdgeWeights for groups {missing}")
        return {
            key: [
                {role: weights[name].row(edge) for name, role in route}
                for edge in range(self.num_edges)
            ]
            for key, route in self._routes.items()
        }

    def forward(self, x: torch.Tensor, weights: Mapping[str, EdgeWeights]) -> torch.Tensor:
        selections = self._selections(weights)
        # the connection selection only when there is one: cells keep their 3-argument call
        connection = weights[self.connection].row(0) if self.connection else None
        extra = () if connection is None else (connection,)
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            if i in self.searched:
                s0, s1 = s1, cell(s0, s1, selections[cell.key], *extra)
            else:
                s0, s1 = s1, cell(s0, s1, connection=connection)
        return self.classifier(self.global_pool(s1).flatten(1))
