"""Exact resource measurement of real modules: parameters and FLOPs (multiply-adds).

FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode`, which reports 2 FLOPs per
multiply-add; :func:`count_macs` returns multiply-adds, the unit NAS papers quote as "FLOPs".
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(module: nn.Module, exclude: tuple[str, ...] = ()) -> int:
    """Number of parameters, skipping those whose name starts with any prefix in ``exclude``."""
    return sum(
        p.numel()
        for name, p in module.named_parameters()
        if not any(name.startswith(prefix) for prefix in exclude)
    )


@torch.no_grad()
def count_macs(module: nn.Module, *inputs: torch.Tensor) -> int:
    """Multiply-adds of one forward pass of ``module`` on ``inputs`` (eval mode, restored after)."""
    was_training = module.training
    module.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            module(*inputs)
    finally:
        module.train(was_training)
    return counter.get_total_flops() // 2


@attrs.frozen
class CostTable:
    """Per-candidate costs of a space for one metric.

    ``per_group[g]`` is an ``[edges, candidates]`` tensor of the cost each candidate adds when
    chosen on that edge; ``constant`` is the cost of everything that is not chosen (stem, cell
    preprocessing, classifier).
    """

    metric: str
    constant: float
    per_group: Mapping[str, torch.Tensor]

    def expected(self, probs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Differentiable expected cost: ``constant + sum_g sum(probs[g] * per_group[g])``.

        Groups missing from ``probs`` contribute nothing (their cost is in ``constant`` or they
        are not chosen by the caller). Computed in float64: FLOP counts exceed float32's exact
        integer range.
        """
        total = torch.tensor(float(self.constant), dtype=torch.float64)
        for name, table in self.per_group.items():
            if name in probs:
                p = probs[name]
                total = total + (p.double() * table.to(p.device, torch.float64)).sum()
        return total
