"""Building blocks shared by search spaces: conv blocks, channel shuffle, drop path, a lean
max pool, a channel concatenation with dense gradients (and
:class:`~nascore.nn.norm.WeightedBatchNorm2d`, re-exported)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from nascore.nn.conv import FastConv2d, memory_format_of
from nascore.nn.norm import WeightedBatchNorm2d

__all__ = [
    "ActFactory", "RecomputingMaxPool2d", "ReLUConvBN", "WeightedBatchNorm2d", "channel_shuffle",
    "drop_path",
]

#: Builds an activation module (e.g. ``nn.ReLU``).
ActFactory = Callable[[], nn.Module]


class ReLUConvBN(nn.Sequential):
    """Activation, convolution, BatchNorm (the cell preprocessing uses it with a 1x1 kernel)."""

    def __init__(
        self,
        C_in: int,
        C_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        affine: bool = True,
        act: ActFactory = nn.ReLU,
    ) -> None:
        super().__init__(
            act(),
            FastConv2d(C_in, C_out, kernel_size, stride, padding, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )


class _RecomputedMaxPool(torch.autograd.Function):
    """Max pooling that keeps only its input for backward and recomputes the argmax there,
    instead of keeping int64 indices twice the size of a float map."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, pool: nn.MaxPool2d) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.pool = pool
        return nn.MaxPool2d.forward(pool, x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            leaf = x.detach().requires_grad_()
            (grad_x,) = torch.autograd.grad(nn.MaxPool2d.forward(ctx.pool, leaf), leaf, grad)
        return grad_x, None


class RecomputingMaxPool2d(nn.MaxPool2d):
    """:class:`~torch.nn.MaxPool2d` with the same outputs and gradients that, when its input
    needs a gradient, recomputes the argmax in backward instead of storing indices (the supernet's
    memory saving; no double backward)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return _RecomputedMaxPool.apply(x, self)
        return super().forward(x)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` equal groups (ShuffleNet, PC-DARTS)."""
    batch, channels, height, width = x.shape
    x = x.view(batch, groups, channels // groups, height, width).transpose(1, 2)
    return x.reshape(batch, channels, height, width)


class _DenseGradCat(torch.autograd.Function):
    """``torch.cat(tensors, dim=1)`` whose backward gives each input a dense gradient in the
    input's memory format instead of a channel slice of the output's gradient."""

    @staticmethod
    def forward(ctx: Any, *tensors: torch.Tensor) -> torch.Tensor:
        ctx.sizes = [t.shape[1] for t in tensors]
        ctx.formats = [memory_format_of(t) for t in tensors]
        return torch.cat(tensors, dim=1)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(part.contiguous(memory_format=fmt) for part, fmt in
                     zip(grad.split(ctx.sizes, dim=1), ctx.formats, strict=True))


def cat_channels(tensors: list[torch.Tensor]) -> torch.Tensor:
    """``torch.cat(tensors, dim=1)``; while autograd records, each input's gradient is a dense
    copy rather than a strided channel slice, which torch's CPU BatchNorm backward (the
    channels_last one: up to 17x) and depthwise convolutions take much longer on."""
    if torch.is_grad_enabled() and not torch.compiler.is_compiling():
        return _DenseGradCat.apply(*tensors)
    return torch.cat(tensors, dim=1)


def drop_path(x: torch.Tensor, prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``prob``, scaling the kept ones by ``1 / (1 - prob)``."""
    if prob <= 0.0:
        return x
    keep = 1.0 - prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep
