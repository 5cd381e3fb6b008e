"""A supernet edge that mixes candidate ops following a :class:`~nascore.space.Selection`."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import torch
from torch import nn

from nascore.nn.blocks import channel_shuffle
from nascore.space import Selection

#: ``(candidate name, channels, stride) -> module``.
OpFactory = Callable[[str, int, int], nn.Module]


class MixedEdge(nn.Module):
    """All candidate ops of one edge; ``forward(x, sel)`` computes only what ``sel`` selects.

    * Only ``sel.active(n)`` candidates run: the sampled one when ``sel.index`` is set, otherwise
      every candidate not masked out. The ``zero`` candidate is never built nor run: it adds
      nothing.
    * Output ``sum_k sel.weights[k] * op_k(x)`` over the active candidates, times ``sel.scale``
      if set; ``None`` when nothing contributes (only the zero candidate is active).
    * With ``partial_channels`` K > 1 (PC-DARTS) the ops are built for ``C // K`` channels and run
      on the first ``C // K`` input channels; the rest bypass the ops (through a 2x2 max-pool on
      stride-2 edges), are concatenated after the mixed part and the result is channel-shuffled
      with K groups. The bypass part is unweighted, so such an edge never returns ``None``.
    * With ``act`` set, the candidates named in ``act_candidates`` (built without their leading
      activation, e.g. ``supernet_op(..., leading_act=False)``) receive ``act(x)``, computed once
      per forward pass and only when one of them runs; the other candidates receive ``x``. This is
      the same math as each op applying its own activation, with one activation output in memory
      instead of one per op.
    """

    def __init__(
        self,
        candidates: Sequence[str],
        C: int,
        stride: int,
        op_factory: OpFactory,
        partial_channels: int = 1,
        zero: str | None = "none",
        act: nn.Module | None = None,
        act_candidates: Collection[str] = (),
    ) -> None:
        super().__init__()
        if partial_channels < 1 or C % partial_channels:
            raise ValueError(
                f"partial_channels must be a positive divisor of the edge's {C} channels, "
                f"got {partial_channels}"
            )
        unknown = set(act_candidates) - set(candidates)
        if unknown or (act is None and act_candidates):
            raise ValueError(
                f"act_candidates {sorted(act_candidates)} need an act and must be candidates"
            )
        self.candidates = tuple(candidates)
        self.zero = zero
        self.act = act
        self.act_candidates = frozenset(act_candidates)
        self.stride = stride
        self.partial_channels = partial_channels
        self.op_channels = C // partial_channels
        self.ops = nn.ModuleDict(
            {
                name: op_factory(name, self.op_channels, stride)
                for name in self.candidates
                if name != zero
            }
        )
        self.bypass = (
            nn.MaxPool2d(2, 2, ceil_mode=True)
            if partial_channels > 1 and stride > 1
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor, sel: Selection) -> torch.Tensor | None:
        part = x[:, : self.op_channels] if self.partial_channels > 1 else x
        activated = None
        out = None
        for k in sel.active(len(self.candidates)):
            name = self.candidates[k]
            if name == self.zero:
                continue
            if name in self.act_candidates:
                if activated is None:
                    activated = self.act(part)
                y = sel.weights[k] * self.ops[name](activated)
            else:
                y = sel.weights[k] * self.ops[name](part)
            out = y if out is None else out + y
        if self.partial_channels > 1:
            rest = self.bypass(x[:, self.op_channels :])
            if out is None:
                out = rest.new_zeros(rest.shape[0], self.op_channels, *rest.shape[2:])
            out = channel_shuffle(torch.cat([out, rest], dim=1), self.partial_channels)
        if out is not None and sel.scale is not None:
            out = out * sel.scale
        return out
