"""The training cost of a budget for Eq. 2 and Eq. 9: FLOPs measured on real networks.

``cost(b) = epochs x MACs of one forward pass`` of the space's network at the budget's
``layers``, ``channels`` and ``image_size``, averaged over a few reference architectures and
measured with :func:`nascore.count_macs`. The dataset size and the factor between forward and
backward passes are the same for every budget and cancel in the relative costs Eq. 2 uses.
Batch size, learning rate, cutout and precision do not change the FLOPs, so their values cost
the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from nascore import Architecture, Budget, DataInfo, SearchSpace, count_macs


class MeasuredCost:
    """Budget -> training FLOPs (up to a constant) on ``space``'s networks of ``archs``.

    Hyper-parameters a budget mapping leaves out take their value from ``base``. Measurements
    are cached per network size.
    """

    def __init__(
        self,
        space: SearchSpace,
        archs: Sequence[Architecture],
        data: DataInfo,
        base: Budget | None = None,
    ) -> None:
        if not archs:
            raise ValueError("measuring costs needs at least one architecture")
        self.space, self.archs, self.data = space, list(archs), data
        self.base = base or Budget()
        self._macs: dict[tuple[int, int, int], float] = {}

    def __call__(self, values: Mapping[str, Any]) -> float:
        budget = self.base.evolve(**values)
        size = budget.image_size or self.data.image_size
        return budget.epochs * self.macs(budget.layers, budget.channels, size)

    def macs(self, layers: int, channels: int, image_size: int) -> float:
        """Mean multiply-adds of one forward pass of one image (cached)."""
        key = (layers, channels, image_size)
        if key not in self._macs:
            example = torch.zeros(1, self.data.in_channels, image_size, image_size)
            total = 0.0
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                for arch in self.archs:
                    network = self.space.build_network(
                        arch, channels=channels, layers=layers,
                        num_classes=self.data.num_classes, in_channels=self.data.in_channels,
                    )
                    total += count_macs(network, example)
            self._macs[key] = total / len(self.archs)
        return self._macs[key]


def table_cost(space: str, data: DataInfo, texts: Sequence[str], count: int = 3) -> MeasuredCost:
    """The measured cost on registered space ``space`` (default config) of the first ``count``
    architectures given in their text form (e.g. DARTS genotype strings)."""
    from nascore.plugins import make_space

    built = make_space(space, None, data)
    return MeasuredCost(built, [built.parse(text) for text in texts[:count]], data)
