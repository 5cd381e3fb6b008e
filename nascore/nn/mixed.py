"""A supernet edge that mixes candidate ops following a :class:`~nascore.space.Selection`."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from nascore.nn.ops import channel_shuffle
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
    """

    def __init__(
        self,
        candidates: Sequence[str],
        C: int,
        stride: int,
        op_factory: OpFactory,
        partial_channels: int = 1,
        zero: str | None = "none",
    ) -> None:
        super().__init__()
        if partial_channels < 1 or C % partial_channels:
            raise ValueError(
                f"partial_channels must be a positive divisor of the edge's {C} channels, "
                f"got {partial_channels}"
            )
        self.candidates = tuple(candidates)
        self.zero = zero
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
        out = None
        for k in sel.active(len(self.candidates)):
            name = self.candidates[k]
            if name == self.zero:
                continue
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
