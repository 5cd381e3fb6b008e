"""The NAS-Bench-201 macro skeleton and the discrete network of one cell.

Stem (3x3 conv + BN), three stages of ``N`` cells at ``C``, ``2C`` and ``4C`` channels with a
:class:`~nascore.spaces.nb201.ops.ResidualReduction` between stages, then BN-ReLU, global average
pooling and a linear classifier. The supernet reuses the skeleton with mixed cells. The discrete
network speaks timm's model interface (see :mod:`nascore.timm`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from nascore.nn.head import check_global_pool, feature_points, linear_classifier
from nascore.spaces.nb201.cell import EDGES
from nascore.spaces.nb201.ops import ResidualReduction, make_op


class Skeleton(nn.Module):
    """Stem, stages of cells made by ``make_cell(channels)``, reductions and the head."""

    def __init__(
        self,
        make_cell: Callable[[int], nn.Module],
        channels: int,
        cells_per_stage: int,
        num_classes: int,
        in_channels: int,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(channels),
        )
        layers: list[nn.Module] = []
        c_prev = channels
        for stage in range(3):
            c = channels * 2**stage
            if stage:
                layers.append(ResidualReduction(c_prev, c))
            layers.extend(make_cell(c) for _ in range(cells_per_stage))
            c_prev = c
        self.layers = nn.ModuleList(layers)
        self.head = nn.Sequential(
            nn.BatchNorm2d(c_prev),
            nn.ReLU(inplace=False),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(c_prev, num_classes),
        )


class Cell(nn.Module):
    """A discrete NB201 cell; ``none`` edges are left out of the graph."""

    def __init__(self, ops: Sequence[str], channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleDict()
        for (j, i), op in zip(EDGES, ops, strict=True):
            if op != "none":
                self.edges[f"{j}_{i}"] = make_op(op, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in range(1, 4):
            inputs = [
                self.edges[f"{j}_{i}"](nodes[i]) for i in range(j) if f"{j}_{i}" in self.edges
            ]
            nodes.append(sum(inputs[1:], inputs[0]) if inputs else torch.zeros_like(x))
        return nodes[-1]


class NB201Network(Skeleton):
    """The discrete network of a cell (the same cell in every stage).

    ``forward_features`` ends with the head's BN-ReLU; ``head[4]`` is the classifier.
    """

    def __init__(
        self,
        ops: Sequence[str],
        channels: int,
        cells_per_stage: int,
        num_classes: int,
        in_channels: int,
    ) -> None:
        super().__init__(
            lambda c: Cell(ops, c), channels, cells_per_stage, num_classes, in_channels
        )
        self.num_classes = num_classes
        self.num_features = 4 * channels
        self.in_chans = in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    @property
    def feature_info(self) -> list[dict[str, Any]]:
        """The last state of each stage (the last one after the head's BN-ReLU)."""
        states = [{"num_chs": self.stem[0].out_channels, "reduction": 1, "module": "stem"}]
        for index, layer in enumerate(self.layers):
            factor = 2 if isinstance(layer, ResidualReduction) else 1
            states.append({"num_chs": states[-1]["num_chs"] * factor,
                           "reduction": states[-1]["reduction"] * factor,
                           "module": f"layers.{index}"})
        states.append({"num_chs": self.num_features, "reduction": states[-1]["reduction"],
                       "module": "head.1"})
        return feature_points(states)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem, cells and reductions, then BN-ReLU: the unpooled final map."""
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        return self.head[1](self.head[0](x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pooling, then the classifier unless ``pre_logits``."""
        x = self.head[3](self.head[2](x))
        return x if pre_logits else self.head[4](x)

    def get_classifier(self) -> nn.Module:
        """The final classifier."""
        return self.head[4]

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A new classifier for ``num_classes``; with 0, ``forward`` returns pooled features."""
        check_global_pool(global_pool)
        self.num_classes = num_classes
        self.head[4] = linear_classifier(self.num_features, num_classes)
