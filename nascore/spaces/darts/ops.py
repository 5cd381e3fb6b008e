"""The DARTS operations and the small building blocks around them.

Every op constructor in :data:`OPS` takes ``(C, stride, affine, act)``: channels (in = out), stride,
whether BatchNorm has affine parameters (``False`` in supernets) and ``act``, a factory of the
activation placed where DARTS has a ReLU in front of a *parameterized* op (sep/dil convs, both
ReLUs of a sep conv), called once per site in forward order, the leading site first. Pools, skip
and none never call ``act`` (A-DARTS's per-edge activation takes the leading site, or with
``activation_sites = "every_relu"`` every site). The keyword ``leading_act=False`` builds a
parameterized op without its leading activation (an :class:`~torch.nn.Identity` holds its place, so
parameter names do not change): a supernet edge then applies that activation once to its input
and feeds the result to all such ops (see :class:`~nascore.nn.mixed.MixedEdge`); the other ops
ignore the flag.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from nascore.errors import ConfigError
from nascore.nn.blocks import (
    ActFactory,
    RecomputingMaxPool2d,
    ReLUConvBN,
    channel_shuffle,
)
from nascore.nn.conv import FastConv2d, separable_chain
from nascore.nn.recompute import RecomputingOp


class OpConstructor(Protocol):
    """``(C, stride, affine, act, leading_act=True) -> module``."""

    def __call__(
        self, C: int, stride: int, affine: bool, act: ActFactory, leading_act: bool = True
    ) -> nn.Module: ...


class Zero(nn.Module):
    """Zeros of the op's output shape (``none``); mixed edges never run it."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class DilConv(nn.Sequential, RecomputingOp):
    """Activation, depthwise ``k x k`` conv (stride, dilation), pointwise 1x1 conv, BatchNorm.

    With ``leading_act`` false an :class:`~torch.nn.Identity` replaces the activation (the input is
    expected to be activated already)."""

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        dilation: int,
        affine: bool = True,
        act: ActFactory = nn.ReLU,
        leading_act: bool = True,
    ) -> None:
        super().__init__(
            act() if leading_act else nn.Identity(),
            FastConv2d(
                C_in, C_in, kernel_size, stride, padding, dilation, groups=C_in, bias=False
            ),
            FastConv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act, depthwise, pointwise, norm = self
        return separable_chain(act(x), [(depthwise, pointwise, norm)],
                               recompute=self.recompute_maps)


class SepConv(nn.Sequential, RecomputingOp):
    """Two stacked depthwise-separable blocks; only the first is strided. ``leading_act`` applies
    to the first block only (the second always has its activation)."""

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        affine: bool = True,
        act: ActFactory = nn.ReLU,
        leading_act: bool = True,
    ) -> None:
        super().__init__(
            DilConv(C_in, C_in, kernel_size, stride, padding, 1, affine, act, leading_act),
            DilConv(C_in, C_out, kernel_size, 1, padding, 1, affine, act),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (act, *first), (inner_act, *second) = self
        return separable_chain(act(x), [first, second], inner_act, self.recompute_maps)


class FactorizedReduce(nn.Module):
    """Halve the spatial size: ReLU, two 1x1 stride-2 convs (the second on the input shifted by one
    pixel), concatenated, BatchNorm.

    The shifted branch pads one row/column at the bottom/right, so both branches produce
    ``ceil(H / 2)`` for odd sizes too (for even sizes the padding is never read). An odd ``C_out``
    gives the second branch the extra channel.
    """

    def __init__(self, C_in: int, C_out: int, affine: bool = True) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out - C_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def _none(
    C: int, stride: int, affine: bool, act: ActFactory, leading_act: bool = True
) -> nn.Module:
    return Zero(stride)


def _max_pool(
    C: int, stride: int, affine: bool, act: ActFactory, leading_act: bool = True
) -> nn.Module:
    return nn.MaxPool2d(3, stride=stride, padding=1)


def _avg_pool(
    C: int, stride: int, affine: bool, act: ActFactory, leading_act: bool = True
) -> nn.Module:
    return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)


def _skip(
    C: int, stride: int, affine: bool, act: ActFactory, leading_act: bool = True
) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine)


def _sep_conv(kernel_size: int) -> OpConstructor:
    def build(
        C: int, stride: int, affine: bool, act: ActFactory, leading_act: bool = True
    ) -> nn.Module:
        return SepConv(C, C, kernel_size, stride, kernel_size // 2, affine, act, leading_act)

    return build


def _dil_conv(kernel_size: int) -> OpConstructor:
    def build(
        C: int, stride: int, affine: bool, act: ActFactory, leading_act: bool = True
    ) -> nn.Module:
        return DilConv(C, C, kernel_size, stride, kernel_size - 1, 2, affine, act, leading_act)

    return build


#: Op name -> constructor ``(C, stride, affine, act, leading_act=True)``, in the DARTS order.
OPS: dict[str, OpConstructor] = {
    "none": _none,
    "max_pool_3x3": _max_pool,
    "avg_pool_3x3": _avg_pool,
    "skip_connect": _skip,
    "sep_conv_3x3": _sep_conv(3),
    "sep_conv_5x5": _sep_conv(5),
    "dil_conv_3x3": _dil_conv(3),
    "dil_conv_5x5": _dil_conv(5),
}

#: The 8 DARTS candidate names, in the published order.
PRIMITIVES: tuple[str, ...] = tuple(OPS)

#: Ops with weights behind an activation (the ones ``act`` applies to).
PARAMETERIZED: frozenset[str] = frozenset(
    {"sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5"}
)

#: The pools: parameter-free, followed by an affine-free BatchNorm in the supernet, so every
#: edge leaving one state pools it alike (supernet edges share that work).
POOLS: frozenset[str] = frozenset({"max_pool_3x3", "avg_pool_3x3"})


def as_supernet_op(name: str, op: nn.Module, C: int) -> nn.Module:
    """``op`` as the DARTS/PC-DARTS supernet uses it: pools followed by a BatchNorm without
    affine parameters, the max pool a :class:`RecomputingMaxPool2d`."""
    if isinstance(op, nn.MaxPool2d):
        op = RecomputingMaxPool2d(op.kernel_size, op.stride, op.padding)
    if "pool" in name:
        return nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
    return op


def supernet_op(
    name: str, C: int, stride: int, act: ActFactory = nn.ReLU, leading_act: bool = True
) -> nn.Module:
    """An op as the DARTS/PC-DARTS supernet builds it: BatchNorm without affine parameters, and
    pools followed by a BatchNorm (see :func:`as_supernet_op`). ``leading_act=False``: see the
    module docstring."""
    return as_supernet_op(name, OPS[name](C, stride, False, act, leading_act), C)


# -- connection cells (RC-DARTS) ------------------------------------------------------------------


class GroupConv1x1(nn.Sequential):
    """ReLU, 1x1 convolution in ``groups`` groups, BatchNorm, then a channel shuffle with
    ``groups`` groups (ShuffleNet), so that the ops of the next cell see every group's channels.
    RC-DARTS leaves the shuffle's position open; nascore shuffles the output."""

    def __init__(self, C_in: int, C_out: int, groups: int, affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(C_in, C_out, 1, groups=groups, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return channel_shuffle(super().forward(x), self.groups)


#: The connection-cell candidates of RC-DARTS (Sec. 4.1, "four candidate operations"): a dilated
#: 3x3 conv and 1x1 group convolutions with 1, 2 and 4 groups. ``conv_1x1`` is exactly the fixed
#: DARTS preprocessing (ReLU-1x1conv-BN).
CONNECTION_CHOICES: tuple[str, ...] = ("dil_conv_3x3", "conv_1x1", "conv_1x1_g2", "conv_1x1_g4")
_CONNECTION_GROUPS = {"conv_1x1": 1, "conv_1x1_g2": 2, "conv_1x1_g4": 4}


def connection_op(name: str, C_in: int, C_out: int, affine: bool = True) -> nn.Module:
    """The connection-cell op ``name`` from ``C_in`` to ``C_out`` channels (stride 1); a
    :class:`~nascore.errors.ConfigError` when its groups do not divide both channel counts."""
    if name == "dil_conv_3x3":
        return DilConv(C_in, C_out, 3, 1, 2, 2, affine)
    if name not in _CONNECTION_GROUPS:
        raise ConfigError(
            f"unknown connection op {name!r}; choose from {', '.join(CONNECTION_CHOICES)}"
        )
    groups = _CONNECTION_GROUPS[name]
    if C_in % groups or C_out % groups:
        raise ConfigError(
            f"connection op {name} needs channel counts divisible by {groups}, got {C_in} -> "
            f"{C_out}; choose channels that are a multiple of {groups}"
        )
    if groups == 1:
        return ReLUConvBN(C_in, C_out, 1, 1, 0, affine)
    return GroupConv1x1(C_in, C_out, groups, affine)
