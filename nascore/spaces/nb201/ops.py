"""NAS-Bench-201 candidate operations and the residual block between stages."""

from __future__ import annotations

import torch
from torch import nn

from nascore.nn.blocks import ReLUConvBN


def make_op(name: str, channels: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """The module of candidate ``name`` on ``channels`` channels (``nor_conv`` = ReLU-conv-BN).

    NB201 cells keep the resolution, so ``stride`` (part of the op-factory signature shared with
    supernet edges) must be 1. ``none`` has no module: cells and mixed edges leave it out.
    """
    if stride != 1:
        raise ValueError(f"nb201 cell ops have stride 1, got {stride}")
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0, affine=affine)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1, affine=affine)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"nb201 op {name!r} has no module")


class ResidualReduction(nn.Module):
    """The block between stages: a stride-2 basic residual block doubling the channels.

    Main path ReLU-conv3x3(s2)-BN, ReLU-conv3x3-BN; shortcut 2x2 average pool then 1x1 conv.
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(2, stride=2, ceil_mode=True), nn.Conv2d(c_in, c_out, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))
