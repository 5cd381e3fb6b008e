"""The DARTS evaluation networks (CIFAR and ImageNet variants) with the auxiliary head.

``forward(x)`` returns logits; in training mode with an auxiliary head it returns
``(logits, aux_logits)``. Set ``network.drop_path_prob`` (per epoch) to enable drop path.

The networks also speak timm's model interface (``num_features``, ``forward_features``,
``forward_head``, ``reset_classifier``, ``feature_info``; see :mod:`nascore.timm`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nascore.nn.head import check_global_pool, feature_points, linear_classifier
from nascore.spaces.darts.cells import (
    CellPlan,
    DiscreteCell,
    FixedCell,
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
        self.num_features = 768

    def reset_classifier(self, num_classes: int) -> None:
        """A new classifier for ``num_classes`` (0: none)."""
        self.classifier = linear_classifier(self.num_features, num_classes)

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
    the step in front of every cell; cells whose key is in ``fixed`` are that fixed cell (and
    need no ``cell_inputs``).
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
        fixed: Mapping[str, FixedCell] | None = None,
    ) -> None:
        super().__init__()
        fixed = fixed or {}
        self.drop_path_prob = 0.0
        self.cells = nn.ModuleList(
            fixed[plan.key](plan, True, preprocess)
            if plan.key in fixed
            else DiscreteCell(plan, cell_inputs[plan.key], op_builder, preprocess)
            for plan in plans
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
        self.num_classes = num_classes
        self.num_features = plans[-1].C * nodes
        self.cell_channels = tuple(plan.C * nodes for plan in plans)

    def stems(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The two inputs of the first cell."""
        raise NotImplementedError

    def _run_cells(
        self, x: torch.Tensor, auxiliary: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The last cell's output, and the auxiliary logits when training with a head."""
        s0, s1 = self.stems(x)
        aux = None
        for index, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if auxiliary and index == self.aux_index and self.auxiliary is not None:
                aux = self.auxiliary(s1)
        return s1, aux

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        features, aux = self._run_cells(x, auxiliary=self.training)
        logits = self.forward_head(features)
        return logits if aux is None else (logits, aux)

    # -- the timm model interface ---------------------------------------------------------------
    def stem_feature_info(self) -> list[dict[str, Any]]:
        """``num_chs``, ``reduction`` and ``module`` of each distinct stem output, in order."""
        raise NotImplementedError

    @property
    def feature_info(self) -> list[dict[str, Any]]:
        """The last state at each resolution (timm's ``features_only`` outputs)."""
        states = self.stem_feature_info()
        reduction = states[-1]["reduction"]
        for index, (cell, channels) in enumerate(zip(self.cells, self.cell_channels, strict=True)):
            reduction *= 2 if cell.reduction else 1
            states.append({"num_chs": channels, "reduction": reduction, "module": f"cells.{index}"})
        return feature_points(states)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last cell's output map (drop path as in ``forward``; no auxiliary head)."""
        return self._run_cells(x, auxiliary=False)[0]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global average pooling, then the classifier unless ``pre_logits``."""
        x = self.global_pool(x).flatten(1)
        return x if pre_logits else self.classifier(x)

    def get_classifier(self) -> nn.Module:
        """The final classifier."""
        return self.classifier

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """New classifiers (this one and the auxiliary head's) for ``num_classes``; with 0,
        ``forward`` returns the pooled features. Only ``"avg"`` pooling exists."""
        check_global_pool(global_pool)
        self.num_classes = num_classes
        self.classifier = linear_classifier(self.num_features, num_classes)
        if self.auxiliary is not None:
            self.auxiliary.reset_classifier(num_classes)


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
        fixed: Mapping[str, FixedCell] | None = None,
    ) -> None:
        stem_channels = stem_multiplier * C
        nodes = len(cell_inputs["normal"]) // 2
        plans = planner(C, layers, nodes, stem_channels, False)
        super().__init__(
            plans, cell_inputs, op_builder, num_classes, auxiliary, 3, preprocess, fixed
        )
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(stem_channels),
        )
        self.in_chans = in_channels

    def stems(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.stem(x)
        return s, s

    def stem_feature_info(self) -> list[dict[str, Any]]:
        channels = self.stem[0].out_channels
        return [{"num_chs": channels, "reduction": 1, "module": "stem"}]


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
        fixed: Mapping[str, FixedCell] | None = None,
    ) -> None:
        nodes = len(cell_inputs["normal"]) // 2
        plans = planner(C, layers, nodes, C, True)
        super().__init__(
            plans, cell_inputs, op_builder, num_classes, auxiliary, 2, preprocess, fixed
        )
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
        self.in_chans = in_channels

    def stems(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s0 = self.stem0(x)
        return s0, self.stem1(s0)

    def stem_feature_info(self) -> list[dict[str, Any]]:
        return [
            {"num_chs": self.stem0[3].out_channels, "reduction": 4, "module": "stem0"},
            {"num_chs": self.stem1[1].out_channels, "reduction": 8, "module": "stem1"},
        ]
