"""GDAS (Dong & Yang, 2019): one Gumbel-sampled candidate per edge, straight-through gradients."""

from __future__ import annotations

from typing import Any

import attrs

from nascore.config import field, one_of, positive
from nascore.errors import ConfigError
from nascore.space import DecisionGroup, EdgeWeights
from nascore.strategies.oneshot import OneShotConfig, OneShotStrategy
from nascore.strategies.sampling import gumbel_straight_through
from nascore.strategies.schedules import TAU_SCHEDULES, tau_schedule


@attrs.frozen
class GDASConfig(OneShotConfig):
    """GDAS settings: the Gumbel temperature schedule on top of the one-shot ones."""

    tau_max: float = field(10.0, "Gumbel temperature of the first epoch", validator=positive)
    tau_min: float = field(0.1, "Gumbel temperature of the last epoch (> 0)", validator=positive)
    tau_schedule: str = field(
        "linear", "linear | exponential decay of the temperature", validator=one_of(*TAU_SCHEDULES)
    )

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        if self.tau_min > self.tau_max:
            raise ConfigError(f"tau_min {self.tau_min} is above tau_max {self.tau_max}; swap them")


class GDASStrategy(OneShotStrategy):
    """GDAS: each forward pass runs only the sampled candidate of every edge."""

    name = "gdas"
    config_cls = GDASConfig

    def tau(self, epoch: int) -> float:
        """The Gumbel temperature of ``epoch``."""
        c = self.config
        return tau_schedule(epoch, self.num_epochs, c.tau_max, c.tau_min, c.tau_schedule)

    def edge_weights(self, group: DecisionGroup) -> EdgeWeights:
        """A hard one-hot straight-through Gumbel sample per edge over the unpruned candidates."""
        mask = self.masks[group.name]
        weights, index = gumbel_straight_through(
            self.alphas[group.name], self.tau(self.epoch), mask, self.generator
        )
        return EdgeWeights(
            weights=weights,
            index=index,
            mask=None if bool(mask.all()) else mask,
            edge_scale=self.edge_scale(group),
        )

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        return {**super().end_epoch(epoch), "tau": self.tau(epoch)}
