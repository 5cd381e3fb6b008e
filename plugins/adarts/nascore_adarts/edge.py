"""The A-DARTS search edge: DARTS ops mixed by alpha, their activations mixed by beta (Eq. 2-3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from nascore import Selection
from nascore.nn.mixed import MixedEdge
from nascore.nn.ops import PRIMITIVES, ActFactory, supernet_op

from nascore_adarts.activations import MixedActivation, make_activation


class SharedActivation(MixedActivation):
    """A :class:`MixedActivation` shared by every parameterized op of one edge.

    Within one forward pass of the edge, the mixture of the edge input is computed once and reused
    by all ops reading it (the paper's Figure 2); other inputs (the inner activation of a sep conv)
    are computed afresh.
    """

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(names)
        self._memo: tuple[torch.Tensor, torch.Tensor] | None = None

    def select(self, selection: Selection | None) -> None:
        """Set the selection of the next forward pass (``None`` after it) and forget the memo."""
        self.selection = selection
        self._memo = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._memo is not None and self._memo[0] is x:
            return self._memo[1]
        out = super().forward(x)
        self._memo = (x, out)
        return out


class FactorizedEdge(nn.Module):
    """One supernet edge of the ``adarts`` space, called as ``edge(x, selections)``.

    ``selections["op"]`` mixes the DARTS ops (alpha). With ``activations`` set, one
    :class:`SharedActivation` driven by ``selections["activation"]`` (beta) replaces every ReLU of
    the parameterized ops; pools, skip and none see ``x`` unchanged. With ``fixed`` set instead,
    those ReLUs are that fixed activation and only alpha is searched.
    """

    def __init__(
        self,
        C: int,
        stride: int,
        activations: Sequence[str] | None = None,
        fixed: str | None = None,
        partial_channels: int = 1,
    ) -> None:
        super().__init__()
        if (activations is None) == (fixed is None):
            raise ValueError("FactorizedEdge needs exactly one of activations and fixed")
        self.act = SharedActivation(activations) if activations is not None else None
        act: ActFactory = (lambda: self.act) if self.act is not None else (
            lambda: make_activation(fixed)
        )
        self.mixed = MixedEdge(
            PRIMITIVES, C, stride, lambda name, c, s: supernet_op(name, c, s, act), partial_channels
        )

    def forward(self, x: torch.Tensor, selections: Mapping[str, Selection]) -> torch.Tensor | None:
        if self.act is None:
            return self.mixed(x, selections["op"])
        self.act.select(selections["activation"])
        try:
            return self.mixed(x, selections["op"])
        finally:
            self.act.select(None)
