"""Sampling policies: how a decision group's candidates mix on one supernet forward pass.

A policy turns a group's architecture logits and mask into mixture weights, and optionally one
sampled candidate per edge (then only that candidate runs). Two ship with the core:

* :class:`Softmax` -- DARTS: a dense softmax over the unpruned candidates.
* :class:`Gumbel` -- GDAS: a Gumbel sample per edge with straight-through gradients, only the
  sampled candidate runs (``hard_sampling``), or soft Gumbel-softmax weights with every
  unpruned candidate running (EoiNAS's released code); the temperature follows a schedule.

Partial channels and edge normalisation (PC-DARTS) are settings of the one-shot loop that apply
under every policy.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import torch

from nascore.config import field, one_of, positive
from nascore.errors import ConfigError
from nascore.oneshot.sampling import gumbel_probabilities, gumbel_straight_through, masked_softmax
from nascore.oneshot.schedules import TAU_SCHEDULES, tau_schedule


class SamplingPolicy:
    """Base of sampling policies. ``config_cls`` (an attrs class or ``None``) adds its fields to
    the configs of the strategies that use the policy."""

    name: ClassVar[str]
    config_cls: ClassVar[type | None] = None

    def __init__(self, config: Any, epochs: int, generator: torch.Generator) -> None:
        self.config = config
        self.epochs = epochs
        self.generator = generator

    def mix(
        self, logits: torch.Tensor, mask: torch.Tensor, epoch: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(weights [edges, candidates], sampled index [edges] or None)`` for one group."""
        raise NotImplementedError

    def metrics(self, epoch: int) -> dict[str, Any]:
        """What the policy reports at the end of ``epoch`` (e.g. the temperature)."""
        return {}


class Softmax(SamplingPolicy):
    """DARTS: a dense softmax mixture of every unpruned candidate."""

    name = "softmax"

    def mix(
        self, logits: torch.Tensor, mask: torch.Tensor, epoch: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        return masked_softmax(logits, mask), None


def _tau_order(inst: Any, _attribute: attrs.Attribute, value: float) -> None:
    if value > inst.tau_max:
        raise ConfigError(f"tau_min {value} is above tau_max {inst.tau_max}; swap them")


@attrs.frozen
class GumbelConfig:
    """The Gumbel temperature schedule and the sampling mode (defaults: GDAS, Dong & Yang 2019)."""

    tau_max: float = field(10.0, "Gumbel temperature of the first epoch [GDAS: 10]",
                           validator=positive)
    tau_min: float = field(0.1, "Gumbel temperature of the last epoch (> 0) [GDAS: 0.1]",
                           validator=[positive, _tau_order])
    tau_schedule: str = field(
        "linear", "linear | exponential decay of the temperature [GDAS: linear]",
        validator=one_of(*TAU_SCHEDULES),
    )
    hard_sampling: bool = field(
        True, "one straight-through sample per edge and only it runs (GDAS); false: soft "
        "Gumbel-softmax weights, every unpruned candidate runs (EoiNAS's released code)",
    )


class Gumbel(SamplingPolicy):
    """GDAS: Gumbel-max sampling with straight-through gradients (or soft Gumbel weights)."""

    name = "gumbel"
    config_cls = GumbelConfig

    def tau(self, epoch: int) -> float:
        """The temperature of ``epoch``."""
        c = self.config
        return tau_schedule(epoch, self.epochs, c.tau_max, c.tau_min, c.tau_schedule)

    def mix(
        self, logits: torch.Tensor, mask: torch.Tensor, epoch: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        tau = self.tau(epoch)
        if self.config.hard_sampling:
            return gumbel_straight_through(logits, tau, mask, self.generator)
        return gumbel_probabilities(logits, tau, mask, self.generator), None

    def metrics(self, epoch: int) -> dict[str, Any]:
        return {"tau": self.tau(epoch)}
