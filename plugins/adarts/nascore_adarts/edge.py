"""The A-DARTS search edge: DARTS ops mixed by alpha, their activations mixed by beta (Eq. 2-3)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from nascore import Selection
from nascore.nn.blocks import ActFactory
from nascore.nn.mixed import EdgeActivation, MixedEdge
from nascore.spaces.darts.ops import POOLS, PRIMITIVES
from nascore.spaces.darts.ops import supernet_op as darts_supernet_op
from nascore_adarts.activations import MixedActivation, make_activation

#: ``(name, C, stride, act, leading_act) -> module``: a supernet op whose activations ``act``
#: builds (the space's ``supernet_op``).
SupernetOp = Callable[[str, int, int, ActFactory, bool], nn.Module]


class FactorizedEdge(nn.Module):
    """One supernet edge of the ``adarts`` space, called as ``edge(x, selections)``.

    ``selections["op"]`` mixes the DARTS ops (alpha), built by ``supernet_op`` (the space's op
    factory; default: the DARTS supernet ops). Every ReLU of the parameterized ops is replaced
    by one shared :class:`EdgeActivation`: with ``searched`` true a :class:`MixedActivation` over
    ``activations`` driven by ``selections["activation"]`` (beta), otherwise the single
    activation ``activations[0]`` (fixed; only alpha is searched). Pools, skip and none see
    ``x`` unchanged; the pools are shared by the edges leaving one state (see
    :class:`~nascore.nn.mixed.MixedEdge`).
    """

    def __init__(
        self,
        C: int,
        stride: int,
        activations: Sequence[str],
        searched: bool = True,
        partial_channels: int = 1,
        supernet_op: SupernetOp = darts_supernet_op,
    ) -> None:
        super().__init__()
        if not searched and len(activations) != 1:
            raise ValueError(f"a fixed edge activation needs one name, got {list(activations)}")
        self.searched = searched
        self.act = EdgeActivation(
            MixedActivation(activations) if searched else make_activation(activations[0])
        )
        self.mixed = MixedEdge(
            PRIMITIVES,
            C,
            stride,
            lambda name, c, s: supernet_op(name, c, s, lambda: self.act, True),
            partial_channels,
            shared_candidates=POOLS,
        )

    def forward(self, x: torch.Tensor, selections: Mapping[str, Selection]) -> torch.Tensor | None:
        if self.searched:
            self.act.inner.selection = selections["activation"]
        self.act.reset()
        try:
            return self.mixed(x, selections["op"])
        finally:
            self.act.reset()
            if self.searched:
                self.act.inner.selection = None
