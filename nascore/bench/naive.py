"""The naive mixture supernet: the baseline ``nas bench supernet`` compares nascore with.

It computes what the DARTS reference code computes on every edge: each active candidate op with
its own leading activation, the zero op as ``x * 0`` (strided), and the plain weighted sum of
their outputs; pools are followed by an affine-free BatchNorm and the max pool keeps its indices
(``nn.MaxPool2d``). Cells run edge after edge, nothing is shared between edges. PC-DARTS partial
channels and edge scales follow the PC-DARTS reference (the ops on the first ``C / K`` channels,
the rest bypassing, concatenated and channel-shuffled, then scaled).

:func:`make_naive` converts a darts-family supernet in place: its modules and parameters stay
(the same weights compute both ways, so the strategy's optimiser keeps working), only how the
mixed edges and the cells compute changes. It lives here, not in the product.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from nascore.nn.blocks import RecomputingMaxPool2d, channel_shuffle
from nascore.nn.mixed import EdgeActivation, MixedEdge, SharedStage
from nascore.space import Selection
from nascore.spaces.darts.cells import SearchCell


class NaiveMixedOp(nn.Module):
    """The DARTS reference mixed op over the candidates and op modules of a :class:`MixedEdge`
    (called like it, ``forward(x, sel)``)."""

    def __init__(self, edge: MixedEdge) -> None:
        super().__init__()
        self.candidates = edge.candidates
        self.zero = edge.zero
        self.stride = edge.stride
        self.partial_channels = edge.partial_channels
        self.op_channels = edge.op_channels
        self.act = edge.act
        self.act_candidates = edge.act_candidates
        self.ops = edge.ops
        self.bypass = edge.bypass

    def _candidate(self, name: str, x: torch.Tensor) -> torch.Tensor:
        if name == self.zero:
            return x[:, :, :: self.stride, :: self.stride].mul(0.0)
        if name in self.act_candidates:
            x = self.act(x)  # its own activation, computed for this op alone
        return self.ops[name](x)

    def forward(self, x: torch.Tensor, sel: Selection, *_: Any, **__: Any) -> torch.Tensor:
        part = x[:, : self.op_channels] if self.partial_channels > 1 else x
        out = sum(
            sel.weights[k] * self._candidate(self.candidates[k], part)
            for k in sel.active(len(self.candidates))
        )
        if self.partial_channels > 1:
            rest = self.bypass(x[:, self.op_channels :])
            out = channel_shuffle(torch.cat([out, rest], dim=1), self.partial_channels)
        if sel.scale is not None:
            out = out * sel.scale
        return out


class NaiveCell(nn.Module):
    """A :class:`SearchCell`'s modules (same names) run edge after edge, as the reference cell."""

    preprocessed = SearchCell.preprocessed

    def __init__(self, cell: SearchCell) -> None:
        super().__init__()
        self.key, self.nodes = cell.key, cell.nodes
        self.preprocess0, self.preprocess1 = cell.preprocess0, cell.preprocess1
        self.edges = cell.edges

    def forward(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        selections: Sequence[Mapping[str, Selection]],
        connection: Selection | None = None,
    ) -> torch.Tensor:
        states = self.preprocessed(s0, s1, connection)
        edge = 0
        for _node in range(self.nodes):
            outs = []
            for state in list(states):
                outs.append(self.edges[edge](state, selections[edge]))
                edge += 1
            states.append(sum(out for out in outs if out is not None))
        return torch.cat(states[2:], dim=1)


def _replace(root: nn.Module, match: Callable[[nn.Module], bool],
             make: Callable[[nn.Module], nn.Module]) -> None:
    """Replace every module under ``root`` for which ``match`` holds by ``make(module)``."""
    for name, child in list(root.named_children()):
        if match(child):
            setattr(root, name, make(child))
        else:
            _replace(child, match, make)


def make_naive(supernet: nn.Module) -> nn.Module:
    """Convert a darts-family supernet in place into the naive baseline and return it.

    Every :class:`MixedEdge` becomes a :class:`NaiveMixedOp`, every :class:`SearchCell` a
    :class:`NaiveCell`, every :class:`SharedStage` its module, every
    :class:`RecomputingMaxPool2d` a plain ``nn.MaxPool2d`` and every :class:`EdgeActivation`
    site inside an op its inner activation (computed at each site). The
    :class:`~nascore.nn.blocks.WeightedBatchNorm2d` modules stay: unweighted they are plain
    BatchNorms.
    """
    _replace(supernet, lambda m: isinstance(m, SharedStage), lambda m: m.module)
    _replace(supernet, lambda m: isinstance(m, RecomputingMaxPool2d),
             lambda m: nn.MaxPool2d(m.kernel_size, m.stride, m.padding))
    for edge in [m for m in supernet.modules() if isinstance(m, MixedEdge)]:
        for op in edge.ops.values():
            _replace(op, lambda m: isinstance(m, EdgeActivation), lambda m: m.inner)
    _replace(supernet, lambda m: isinstance(m, MixedEdge), NaiveMixedOp)
    _replace(supernet, lambda m: isinstance(m, SearchCell), NaiveCell)
    return supernet
