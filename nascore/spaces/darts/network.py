"""The DARTS evaluation networks (CIFAR and ImageNet variants) with the auxiliary head.

``forward(x)`` returns logits; in training mode with an auxiliary head it returns
``(logits, aux_logits)``. Set ``network.drop_path_prob`` (per epoch) to enable drop path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nascore.spaces.darts.cells import (
    CellPlan,
    DiscreteCell,
    OpBuilder,
    Planner,
    Preprocess,
    default_preprocess,
    plan_cells,
)


class AuxiliaryHead(nn.Module):
    """ReLU, 5x5 average pool (stride 3 on CIFAR's 8x8 maps, 2 on ImageNet's 7x7) to 2x2, 1x1 conv
    to 128, 2x2 conv to 768, linear.

    Maps the published pool does not bring to 2x2 (e.g. the 2x2 maps of 8x8 inputs) are
    average-pooled adaptively to 2x2 instead; the published shapes take the published path.
    """

    def __init__(self, C: int, num_classes: int, pool_stride: int) -> None:
        super().__init__()
        self.pool_stride = pool_stride
        self.features = nn.Sequential(
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        if all(size >= 5 and (size - 5) // self.pool_stride == 1 for size in x.shape[-2:]):
            x = F.avg_pool2d(x, 5, self.pool_stride, count_include_pad=False)
        else:
            x = F.adaptive_avg_pool2d(x, 2)
        return self.classifier(self.features(x).flatten(1))


class DartsNetwork(nn.Module):
    """Stems, a stack of discrete cells, global average pooling, linear classifier.

    ``cell_inputs[key]`` lists the input of each op position of the cells with that key (two
    per node; the key is a cell's type unless the plans say otherwise);
    ``op_builder(key, position, C, stride)`` builds the op at each position and ``preprocess``
    the step in front of every cell.
    """

    def __init__(
        self,
        plans: Sequence[CellPlan],
        cell_inputs: Mapping[str, Sequence[int]],
        op_builder: OpBuilder,
        num_classes: int,
        auxiliary: bool,
        aux_pool_stride: int,
        preprocess: Preprocess = default_preprocess,
    ) -> None:
        super().__init__()
        self.drop_path_prob = 0.0
        self.cells = nn.ModuleList(
            DiscreteCell(plan, cell_inputs[plan.key], op_builder, preprocess) for plan in plans
        )
        nodes = len(cell_inputs["normal"]) // 2
        self.aux_index = 2 * len(plans) // 3
        self.auxiliary = (
            AuxiliaryHead(plans[self.aux_index].C * nodes, num_classes, aux_pool_stride)
            if auxiliary
            else None
        )
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(plans[-1].C * nodes, num_classes)

    def stems(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two inputs of the first cell."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        s0, s1 = self.stems(x)
        aux = None
        for index, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if index == self.aux_index and self.auxiliary is not None and self.training:
                aux = self.auxiliary(s1)
        logits = self.classifier(self.global_pool(s1).flatten(1))
        return logits if aux is None else (logits, aux)


class NetworkCIFAR(DartsNetwork):
    """The CIFAR network: one 3x3 stem to ``stem_multiplier * C`` channels at full resolution."""

    def __init__(
        self,
        C: int,
        layers: int,
        num_classes: int,
        in_channels: int,
        cell_inputs: Mapping[str, Sequence[int]],
        op_builder: OpBuilder,
        auxiliary: bool = False,
        stem_multiplier: int = 3,
        planner: Planner = plan_cells,
        preprocess: Preprocess = default_preprocess,
    ) -> None:
        stem_channels = stem_multiplier * C
        nodes = len(cell_inputs["normal"]) // 2
        plans = planner(C, layers, nodes, stem_channels, False)
        super().__init__(plans, cell_inputs, op_builder, num_classes, auxiliary, 3, preprocess)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem_channels),
        )

    def stems(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.stem(x)
        return s, s


class NetworkImageNet(DartsNetwork):
    """The ImageNet network: three stride-2 3x3 convs in two stems (224 -> 28 before the cells)."""

    def __init__(
        self,
        C: int,
        layers: int,
        num_classes: int,
        in_channels: int,
        cell_inputs: Mapping[str, Sequence[int]],
        op_builder: OpBuilder,
        auxiliary: bool = False,
        planner: Planner = plan_cells,
        preprocess: Preprocess = default_preprocess,
    ) -> None:
        nodes = len(cell_inputs["normal"]) // 2
        plans = planner(C, layers, nodes, C, True)
        super().__init__(plans, cell_inputs, op_builder, num_classes, auxiliary, 2, preprocess)
        self.stem0 = nn.Sequential(
            nn.Conv2d(in_channels, C // 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C // 2),
            nn.ReLU(),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        self.stem1 = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )

    def stems(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s0 = self.stem0(x)
        return s0, self.stem1(s0)
