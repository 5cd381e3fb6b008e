"""The A-DARTS search edge: DARTS ops mixed by alpha, their activation mixed by beta (Eq. 2-3)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from nascore import Selection
from nascore.nn.blocks import ActFactory
from nascore.nn.mixed import EdgeActivation, MixedEdge
from nascore.spaces.darts.ops import PARAMETERIZED, POOLS, PRIMITIVES
from nascore.spaces.darts.ops import supernet_op as darts_supernet_op
from nascore_adarts.activations import MixedActivation, make_activation

#: ``(name, C, stride, act, leading_act) -> module``: a supernet op whose activations ``act``
#: builds (the space's ``supernet_op``).
SupernetOp = Callable[[str, int, int, ActFactory, bool], nn.Module]

#: The paper's reading (Eq. 2-3, Fig. 2): one activation on the edge input feeds the
#: parameterized ops; their inner activations (a sep conv's second) stay ReLU.
EDGE_INPUT = "edge_input"
#: The other reading: the edge's activation at every activation site of the parameterized ops.
EVERY_RELU = "every_relu"
ACTIVATION_SITES: tuple[str, ...] = (EDGE_INPUT, EVERY_RELU)


class FactorizedEdge(nn.Module):
    """One supernet edge of the ``adarts`` space, called as ``edge(x, selections)``.

    ``selections["op"]`` mixes the DARTS ops (alpha), built by ``supernet_op`` (the space's op
    factory; default: the DARTS supernet ops). The edge's activation :attr:`activation` is, with
    ``searched`` true, a :class:`MixedActivation` over ``activations`` driven by
    ``selections["activation"]`` (beta), otherwise the single activation ``activations[0]``
    (fixed; only alpha is searched). Where it acts (``sites``):

    * ``"edge_input"`` (the paper, Eq. 2-3): ``sigma(x)`` is computed once per forward pass, when
      a parameterized op runs, and fed to all of them (built without their leading activation);
      their inner activations are plain ReLUs. Pools, skip and none see ``x``.
    * ``"every_relu"``: one shared :class:`EdgeActivation` replaces every ReLU of the
      parameterized ops (a sep conv's second one too); the edge input still goes through it
      once.

    The pools are shared by the edges leaving one state (see :class:`~nascore.nn.mixed.MixedEdge`).
    """

    def __init__(
        self,
        C: int,
        stride: int,
        activations: Sequence[str],
        searched: bool = True,
        partial_channels: int = 1,
        supernet_op: SupernetOp = darts_supernet_op,
        sites: str = EDGE_INPUT,
    ) -> None:
        super().__init__()
        if not searched and len(activations) != 1:
            raise ValueError(f"a fixed edge activation needs one name, got {list(activations)}")
        if sites not in ACTIVATION_SITES:
            raise ValueError(f"sites must be one of {', '.join(ACTIVATION_SITES)}, got {sites!r}")
        self.searched = searched
        self.sites = sites
        activation = (
            MixedActivation(activations) if searched else make_activation(activations[0])
        )
        if sites == EDGE_INPUT:
            self.act = None
            self.mixed = MixedEdge(
                PRIMITIVES,
                C,
                stride,
                lambda name, c, s: supernet_op(name, c, s, nn.ReLU, False),
                partial_channels,
                act=activation,
                act_candidates=PARAMETERIZED,
                shared_candidates=POOLS,
            )
            return
        self.act = EdgeActivation(activation)
        self.mixed = MixedEdge(
            PRIMITIVES,
            C,
            stride,
            lambda name, c, s: supernet_op(name, c, s, lambda: self.act, True),
            partial_channels,
            shared_candidates=POOLS,
        )

    @property
    def activation(self) -> nn.Module:
        """The edge's activation: its :class:`MixedActivation`, or the fixed activation."""
        return self.mixed.act if self.act is None else self.act.inner

    def forward(self, x: torch.Tensor, selections: Mapping[str, Selection]) -> torch.Tensor | None:
        activation = self.activation
        if self.searched:
            activation.selection = selections["activation"]
        if self.act is not None:
            self.act.reset()
        try:
            return self.mixed(x, selections["op"])
        finally:
            if self.act is not None:
                self.act.reset()
            if self.searched:
                activation.selection = None
