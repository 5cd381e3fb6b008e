"""DARTS cells: the channel/stride plan of a cell stack, the search cell and the discrete cell.

Both kinds of cell preprocess their two inputs (the outputs of the two previous cells) to ``C``
channels: a :class:`FactorizedReduce` when the previous cell reduced (so both inputs share a size),
else ReLU-1x1conv-BN. Node ``i`` (numbered from 2) sums one op on each of its incoming edges; the
cell output concatenates all intermediate nodes. In a reduction cell the edges leaving the two
inputs have stride 2.

RC-DARTS adds two things here: *levels* (the normal cells of a stack are split by depth into
groups with their own cell keys, see :func:`plan_cells`) and *connection cells* (a searched op
in place of the ReLU-1x1conv-BN preprocessing; :class:`ConnectionEdge` in the supernet). The
:class:`FactorizedReduce` after a reduction cell stays fixed: the paper's candidates are stride-1
ops, and it does not say how a connection cell would reduce.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence

import attrs
import torch
from torch import nn

from nascore.errors import ConfigError
from nascore.nn.blocks import ReLUConvBN, cat_channels, drop_path
from nascore.nn.mixed import sharing_work
from nascore.nn.recompute import Recomputable
from nascore.space import Selection
from nascore.spaces.darts.genotype import cell_edges, level_key
from nascore.spaces.darts.ops import CONNECTION_CHOICES, FactorizedReduce


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


def normal_levels(count: int, levels: int) -> list[int]:
    """The level (1-based) of each of ``count`` normal cells in depth order, split into
    ``levels`` groups as evenly as possible (``floor(i * levels / count) + 1``; sizes differ by at
    most one, the paper does not say how to round): the rule for search and evaluation networks
    alike, so a deeper network maps levels by relative depth."""
    if levels > count:
        raise ConfigError(
            f"{levels} normal-cell levels need at least {levels} normal cells, but the network "
            f"has {count}; lower strategy.levels or use more layers"
        )
    return [i * levels // count + 1 for i in range(count)]


def plan_cells(
    C: int,
    layers: int,
    nodes: int,
    stem_channels: int,
    stem_reduces: bool = False,
    reductions: Collection[int] | None = None,
    levels: int = 1,
) -> list[CellPlan]:
    """The plan of a stack of ``layers`` cells after a stem of ``stem_channels`` channels.

    Node channels start at ``C`` and double at each reduction cell (``reductions``: their
    indices; default :func:`reduction_layers`). ``stem_reduces`` marks that the stem's two
    outputs differ in size (the ImageNet stems), so the first cell treats its first input as
    coming from a reduction. With ``levels`` > 1 the normal cells get the keys ``normal``,
    ``normal_2``, ... by depth (:func:`normal_levels`).
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
    if levels == 1:
        return plans
    normal = [i for i, plan in enumerate(plans) if not plan.reduction]
    for i, level in zip(normal, normal_levels(len(normal), levels), strict=True):
        plans[i] = attrs.evolve(plans[i], key=level_key(level))
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


@attrs.frozen
class ConnectionSite:
    """One connection cell of a stack: input and output channels and the input's spatial size."""

    C_in: int
    C_out: int
    size: int


def connection_sites(plans: Sequence[CellPlan], size: int) -> Iterator[ConnectionSite]:
    """Where the connection cells of a stack sit: in front of every cell, on its second input
    and on its first unless the previous cell reduced (that input keeps its FactorizedReduce)."""
    for plan in plans:
        if not plan.reduction_prev:
            yield ConnectionSite(plan.C_prev_prev, plan.C, size)
        yield ConnectionSite(plan.C_prev, plan.C, size)
        size = half(size) if plan.reduction else size


#: ``(name, C_in, C_out) -> module``: a connection-cell candidate.
ConnectionFactory = Callable[[str, int, int], nn.Module]


class ConnectionEdge(nn.Module):
    """A searched connection cell of the supernet: one mixed edge from ``C_in`` to ``C_out``
    channels over :data:`~nascore.spaces.darts.ops.CONNECTION_CHOICES`, called as
    ``edge(x, selection)`` (only the selected candidates run, as on a cell edge)."""

    def __init__(self, C_in: int, C_out: int, factory: ConnectionFactory) -> None:
        super().__init__()
        self.candidates = CONNECTION_CHOICES
        self.ops = nn.ModuleList(factory(name, C_in, C_out) for name in self.candidates)

    def forward(self, x: torch.Tensor, sel: Selection) -> torch.Tensor:
        active = sel.active(len(self.candidates))
        if not active:
            raise ValueError("a connection cell needs at least one unpruned candidate")
        out = None
        for k in active:
            y = sel.weights[k] * self.ops[k](x)
            out = y if out is None else out + y
        return out


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

#: ``(plan, affine, preprocess) -> cell``: a fixed (not searched) cell, called like a discrete
#: cell as ``cell(s0, s1, drop_prob)`` and in the supernet as ``cell(s0, s1, connection=...)``.
FixedCell = Callable[[CellPlan, bool, Preprocess], nn.Module]


class CellBase(nn.Module):
    """Preprocessing shared by every cell (search, discrete and fixed cells)."""

    def __init__(
        self, plan: CellPlan, affine: bool, preprocess: Preprocess = default_preprocess
    ) -> None:
        super().__init__()
        self.reduction = plan.reduction
        self.key = plan.key
        self.preprocess0, self.preprocess1 = preprocess(plan, affine)

    def preprocessed(
        self, s0: torch.Tensor, s1: torch.Tensor, connection: Selection | None = None
    ) -> list[torch.Tensor]:
        """The two cell inputs after preprocessing; searched connection cells mix by
        ``connection``."""
        return [_preprocess(self.preprocess0, s0, connection),
                _preprocess(self.preprocess1, s1, connection)]


def _preprocess(module: nn.Module, x: torch.Tensor, connection: Selection | None) -> torch.Tensor:
    if isinstance(module, ConnectionEdge):
        if connection is None:
            raise ValueError("a searched connection cell needs the connection group's selection")
        return module(x, connection)
    return module(x)


#: ``(C, layers, nodes, stem_channels, stem_reduces) -> plans`` of a stack of cells.
Planner = Callable[[int, int, int, int, bool], list[CellPlan]]

#: ``(C, stride, cell_type, edge_index) -> module`` called as ``edge(x, selections)``.
EdgeFactory = Callable[[int, int, str, int], nn.Module]


class SearchCell(CellBase, Recomputable):
    """A supernet cell: one search edge per ``(node, input)`` pair, built by ``edge_factory``.

    Every edge is called as ``edge(x, selections)`` with ``selections`` a dict role ->
    :class:`Selection` and returns a tensor or ``None`` (nothing to add). A node none of whose
    edges contributes is zeros of the node's shape. The forward pass is a
    :func:`~nascore.nn.mixed.sharing_work` scope: edges reading one state share parameter-free
    work on it. With :attr:`recompute` on (:func:`~nascore.nn.recompute.set_recompute`) the cell
    keeps only its inputs for backward and runs again there.
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
        connection: Selection | None = None,
    ) -> torch.Tensor:
        return self.recomputed(self._forward, s0, s1, selections, connection)

    def _forward(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        selections: Sequence[Mapping[str, Selection]],
        connection: Selection | None,
    ) -> torch.Tensor:
        with sharing_work():
            return self._nodes(self.preprocessed(s0, s1, connection), selections)

    def _nodes(
        self, states: list[torch.Tensor], selections: Sequence[Mapping[str, Selection]]
    ) -> torch.Tensor:
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
                    total = out if total is None else total.add_(out)
            if total is None:
                total = states[1].new_zeros(batch, self.C, height, width)
            states.append(total)
        return cat_channels(states[2:])


#: ``(cell key, position, C, stride) -> module``: the op at ``position`` of a discrete cell.
OpBuilder = Callable[[str, int, int, int], nn.Module]


class DiscreteCell(CellBase):
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
        states = self.preprocessed(s0, s1)
        for position in range(0, len(self.ops), 2):
            states.append(
                self._run_op(position, states, drop_prob)
                + self._run_op(position + 1, states, drop_prob)
            )
        return torch.cat(states[2:], dim=1)
