"""PC-DARTS (Xu et al., 2020): partial-channel mixing and edge normalisation on top of DARTS."""

from __future__ import annotations

import attrs
import torch
from torch import nn

from nascore.config import field, non_negative, positive
from nascore.context import SearchContext
from nascore.errors import IncompatibleError
from nascore.space import DecisionGroup
from nascore.strategies.edgenorm import edge_softmax, node_groups
from nascore.strategies.oneshot import OneShotConfig, OneShotStrategy


@attrs.frozen
class PCDartsConfig(OneShotConfig):
    """PC-DARTS settings (the paper's CIFAR-10 defaults)."""

    batch_size: int = field(256, "batch size of weights and arch steps", validator=positive)
    lr: float = field(0.1, "initial SGD learning rate of the supernet weights", validator=positive)
    arch_lr: float = field(
        6e-4, "Adam learning rate of the architecture parameters", validator=positive
    )
    warmup_epochs: int = field(
        15, "first epochs without architecture steps", validator=non_negative
    )
    partial_channels: int = field(4, "K: candidates run on 1/K of the channels", validator=positive)
    edge_normalization: bool = field(True, "learn a softmax-normalised weight per incoming edge")


class PCDartsStrategy(OneShotStrategy):
    """PC-DARTS: edge betas (registered as extra architecture parameters) scale each edge."""

    name = "pcdarts"
    config_cls = PCDartsConfig

    def __init__(self, config: PCDartsConfig, context: SearchContext) -> None:
        super().__init__(config, context)
        #: Group name -> per-edge betas (op groups only, when edge normalisation is on).
        self.edge_betas: dict[str, nn.Parameter] = {}
        self._node_groups: dict[str, list[list[int]]] = {}
        if not config.edge_normalization:
            return
        for group in self.groups:
            if group.role != "op":
                continue
            try:
                self._node_groups[group.name] = node_groups(group.edges)
            except ValueError as exc:
                raise IncompatibleError(
                    f"edge normalisation needs node structure in group {group.name}: {exc}; "
                    "set strategy.edge_normalization=false"
                ) from None
            self.edge_betas[group.name] = self.new_arch_parameter((len(group.edges),))
            self.add_arch_parameter(f"{group.name}.edges", self.edge_betas[group.name], group.stage)

    def partial_channels(self) -> int:
        return self.config.partial_channels

    def edge_scale(self, group: DecisionGroup) -> torch.Tensor | None:
        """Softmax of the edge betas over each node's incoming edges (``None`` off op groups)."""
        betas = self.edge_betas.get(group.name)
        return None if betas is None else edge_softmax(betas, self._node_groups[group.name])
