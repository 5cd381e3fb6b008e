"""DARTS cells: the channel/stride plan of a cell stack, the search cell and the discrete cell.

Both kinds of cell preprocess their two inputs (the outputs of the two previous cells) to ``C``
channels: a :class:`FactorizedReduce` when the previous cell reduced (so both inputs share a size),
else ReLU-1x1conv-BN. Node ``i`` (numbered from 2) sums one op on each of its incoming edges; the
cell output concatenates all intermediate nodes. In a reduction cell the edges leaving the two
inputs have stride 2.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence

import attrs
import torch
from torch import nn

from nascore.nn.blocks import ReLUConvBN, drop_path
from nascore.space import Selection
from nascore.spaces.darts.genotype import cell_edges
from nascore.spaces.darts.ops import FactorizedReduce


def half(size: int) -> int:
    """Spatial size after a stride-2 op of this space (``ceil(size / 2)``)."""
    return -(-size // 2)


@attrs.frozen
class CellPlan:
    """Channels and role of one cell in a stack: inputs ``C_prev_prev``/``C_prev`` channels, node
    channels ``C``, whether it (and the previous cell) reduce, and its ``key``: the architecture
    spec entry and decision-group prefix the cell follows (its cell type, unless a space gives
    groups of cells their own, e.g. per-depth normal cells)."""

    reduction: bool
    reduction_prev: bool
    C_prev_prev: int
    C_prev: int
    C: int
    key: str = ""

    def __attrs_post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", self.cell_type)

    @property
    def cell_type(self) -> str:
        """``"reduce"`` or ``"normal"``."""
        return "reduce" if self.reduction else "normal"

    def stride(self, source: int) -> int:
        """Stride of an edge leaving state ``source`` (0 and 1 are the cell inputs)."""
        return 2 if self.reduction and source < 2 else 1


def reduction_layers(layers: int) -> frozenset[int]:
    """Indices of the reduction cells: ``layers // 3`` and ``2 * layers // 3``."""
    return frozenset({layers // 3, 2 * layers // 3})


def plan_cells(
    C: int,
    layers: int,
    nodes: int,
    stem_channels: int,
    stem_reduces: bool = False,
    reductions: Collection[int] | None = None,
) -> list[CellPlan]:
    """The plan of a stack of ``layers`` cells after a stem of ``stem_channels`` channels.

    Node channels start at ``C`` and double at each reduction cell (``reductions``: their
    indices; default :func:`reduction_layers`). ``stem_reduces`` marks that the stem's two
    outputs differ in size (the ImageNet stems), so the first cell treats its first input as
    coming from a reduction.
    """
    plans = []
    C_prev_prev, C_prev, C_curr = stem_channels, stem_channels, C
    reduction_prev = stem_reduces
    reductions = reduction_layers(layers) if reductions is None else frozenset(reductions)
    for index in range(layers):
        reduction = index in reductions
        if reduction:
            C_curr *= 2
        plans.append(CellPlan(reduction, reduction_prev, C_prev_prev, C_prev, C_curr))
        C_prev_prev, C_prev, reduction_prev = C_prev, nodes * C_curr, reduction
    return plans


@attrs.frozen
class EdgeSite:
    """Where one edge of one cell sits: its cell type and edge index, channels, stride and the
    spatial size of its input."""

    cell_type: str
    edge_index: int
    C: int
    stride: int
    size: int
    key: str = ""


def edge_sites(plans: Sequence[CellPlan], nodes: int, size: int) -> Iterator[EdgeSite]:
    """Every edge of every cell of a stack whose first cell sees inputs of spatial ``size``."""
    for plan in plans:
        out_size = half(size) if plan.reduction else size
        for edge_index, (_node, source) in enumerate(cell_edges(nodes)):
            edge_size = size if source < 2 else out_size
            yield EdgeSite(
                plan.cell_type, edge_index, plan.C, plan.stride(source), edge_size, plan.key
            )
        size = out_size


def default_preprocess(plan: CellPlan, affine: bool) -> tuple[nn.Module, nn.Module]:
    """The fixed DARTS preprocessing of a cell's two inputs: FactorizedReduce (after a
    reduction) or ReLU-1x1conv-BN for the first, ReLU-1x1conv-BN for the second."""
    first: nn.Module = (
        FactorizedReduce(plan.C_prev_prev, plan.C, affine)
        if plan.reduction_prev
        else ReLUConvBN(plan.C_prev_prev, plan.C, 1, 1, 0, affine)
    )
    return first, ReLUConvBN(plan.C_prev, plan.C, 1, 1, 0, affine)


#: ``(plan, affine) -> (preprocess0, preprocess1)``: the step between cells (replaceable).
Preprocess = Callable[[CellPlan, bool], tuple[nn.Module, nn.Module]]


class _Cell(nn.Module):
    """Preprocessing shared by search and discrete cells."""

    def __init__(
        self, plan: CellPlan, affine: bool, preprocess: Preprocess = default_preprocess
    ) -> None:
        super().__init__()
        self.reduction = plan.reduction
        self.key = plan.key
        self.preprocess0, self.preprocess1 = preprocess(plan, affine)


#: ``(C, layers, nodes, stem_channels, stem_reduces) -> plans`` of a stack of cells.
Planner = Callable[[int, int, int, int, bool], list[CellPlan]]

#: ``(C, stride, cell_type, edge_index) -> module`` called as ``edge(x, selections)``.
EdgeFactory = Callable[[int, int, str, int], nn.Module]


class SearchCell(_Cell):
    """A supernet cell: one search edge per ``(node, input)`` pair, built by ``edge_factory``.

    Every edge is called as ``edge(x, selections)`` with ``selections`` a dict role ->
    :class:`Selection` and returns a tensor or ``None`` (nothing to add). A node none of whose
    edges contributes is zeros of the node's shape.
    """

    def __init__(
        self,
        plan: CellPlan,
        nodes: int,
        edge_factory: EdgeFactory,
        affine: bool = False,
        preprocess: Preprocess = default_preprocess,
    ) -> None:
        super().__init__(plan, affine, preprocess)
        self.nodes = nodes
        self.C = plan.C
        self.cell_type = plan.cell_type
        self.edges = nn.ModuleList(
            edge_factory(plan.C, plan.stride(source), plan.cell_type, index)
            for index, (_node, source) in enumerate(cell_edges(nodes))
        )

    def forward(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        selections: Sequence[Mapping[str, Selection]],
    ) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        batch, _, height, width = states[1].shape
        if self.reduction:
            height, width = half(height), half(width)
        edge = 0
        for node in range(2, self.nodes + 2):
            total = None
            for source in range(node):
                out = self.edges[edge](states[source], selections[edge])
                edge += 1
                if out is not None:
                    total = out if total is None else total + out
            if total is None:
                total = states[1].new_zeros(batch, self.C, height, width)
            states.append(total)
        return torch.cat(states[2:], dim=1)


#: ``(cell key, position, C, stride) -> module``: the op at ``position`` of a discrete cell.
OpBuilder = Callable[[str, int, int, int], nn.Module]


class DiscreteCell(_Cell):
    """A cell of the evaluation network: two ops per node on the inputs ``inputs[position]``.

    During training, ops other than identities pass through :func:`drop_path`.
    """

    def __init__(
        self,
        plan: CellPlan,
        inputs: Sequence[int],
        op_builder: OpBuilder,
        preprocess: Preprocess = default_preprocess,
    ) -> None:
        super().__init__(plan, True, preprocess)
        self.inputs = tuple(inputs)
        self.ops = nn.ModuleList(
            op_builder(plan.key, position, plan.C, plan.stride(source))
            for position, source in enumerate(self.inputs)
        )

    def _run_op(self, position: int, states: list[torch.Tensor], drop_prob: float) -> torch.Tensor:
        op = self.ops[position]
        out = op(states[self.inputs[position]])
        if self.training and drop_prob > 0 and not isinstance(op, nn.Identity):
            out = drop_path(out, drop_prob)
        return out

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for position in range(0, len(self.ops), 2):
            states.append(
                self._run_op(position, states, drop_prob)
                + self._run_op(position + 1, states, drop_prob)
            )
        return torch.cat(states[2:], dim=1)
