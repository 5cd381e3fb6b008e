"""A ``Conv2d`` with a faster CPU training path, same parameters, outputs and gradients.

On CPU, torch's convolution backward is several times slower than a forward convolution for
the depthwise and dilated convolutions of DARTS-style ops (a dilated 3x3 depthwise input
gradient: about 6x). :class:`FastConv2d` computes the same values another way while autograd
records (CPU only; GPUs, inference and export run the plain ``F.conv2d``):

* stride 1: the input gradient is a forward convolution of the output gradient with the
  flipped (and, per group, transposed) kernel; the weight gradient is torch's;
* stride ``s`` equal to the dilation: only every ``s``-th input row and column is ever read, so
  the convolution runs undilated with stride 1 on ``x[:, :, ::s, ::s]`` (about 9x faster for
  the stride-2 dilated convs of DARTS reduction cells).

:func:`separable_conv` runs a depthwise :class:`FastConv2d` followed by a pointwise one keeping
only the depthwise input for backward: the depthwise output, which the pointwise weight
gradient needs, is recomputed there (one depthwise forward) instead of being kept in memory.
:func:`norm_relu_separable` does the same for an affine-free training BatchNorm and a ReLU in
front of them (the middle of a DARTS sep conv), keeping only the BatchNorm's input: the
normalised and activated map is recomputed in backward (two elementwise passes).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nascore.nn.norm import count_training_batch


def _transposed_kernel(weight: torch.Tensor, groups: int) -> torch.Tensor:
    """The kernel whose stride-1 convolution of an output gradient gives the input gradient."""
    out_channels, in_per_group, kh, kw = weight.shape
    per_group = out_channels // groups
    flipped = weight.flip((2, 3)).reshape(groups, per_group, in_per_group, kh, kw)
    return flipped.transpose(1, 2).reshape(groups * in_per_group, per_group, kh, kw)


class _Stride1Conv(torch.autograd.Function):
    """``F.conv2d`` with stride 1 and the input gradient computed as a forward convolution."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                padding: tuple[int, int], dilation: tuple[int, int], groups: int) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.options = (padding, dilation, groups, bias is not None)
        return F.conv2d(x, weight, bias, 1, padding, dilation, groups)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        padding, dilation, groups, has_bias = ctx.options
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = _input_grad(grad, weight, padding, dilation, groups)
        if ctx.needs_input_grad[1] or (has_bias and ctx.needs_input_grad[2]):
            grad_w, grad_b = _weight_grad(grad, x, weight, padding, dilation, groups, has_bias)
        return grad_x, grad_w, grad_b, None, None, None


def _input_grad(grad: torch.Tensor, weight: torch.Tensor, padding: tuple[int, int],
                dilation: tuple[int, int], groups: int) -> torch.Tensor:
    """The input gradient of a stride-1 convolution, as a forward convolution."""
    kh, kw = weight.shape[2:]
    back = (dilation[0] * (kh - 1) - padding[0], dilation[1] * (kw - 1) - padding[1])
    return F.conv2d(grad, _transposed_kernel(weight, groups), None, 1, back, dilation, groups)


def _weight_grad(grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
                 padding: tuple[int, int], dilation: tuple[int, int], groups: int,
                 bias: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The weight (and bias) gradient of a stride-1 convolution (torch's)."""
    _, grad_w, grad_b = torch.ops.aten.convolution_backward(
        grad, x, weight, [weight.shape[0]] if bias else None, [1, 1], list(padding),
        list(dilation), False, [0, 0], groups, [False, True, bias],
    )
    return grad_w, grad_b


def _separable_backward(ctx: Any, grad: torch.Tensor, x: torch.Tensor, depthwise: torch.Tensor,
                        pointwise: torch.Tensor, padding: tuple[int, int],
                        dilation: tuple[int, int], first: int, need_x: bool
                        ) -> tuple[torch.Tensor | None, ...]:
    """Gradients of ``pointwise(depthwise(x))`` for x (if ``need_x``) and the weights that
    ``ctx.needs_input_grad[first]`` and ``[first + 1]`` ask for."""
    groups = x.shape[1]
    grad_x = grad_dw = grad_pw = None
    if ctx.needs_input_grad[first + 1]:
        mid = F.conv2d(x, depthwise, None, 1, padding, dilation, groups)
        grad_pw = _weight_grad(grad, mid, pointwise, (0, 0), (1, 1), 1)[0]
    if need_x or ctx.needs_input_grad[first]:
        grad_mid = _input_grad(grad, pointwise, (0, 0), (1, 1), 1)
        if need_x:
            grad_x = _input_grad(grad_mid, depthwise, padding, dilation, groups)
        if ctx.needs_input_grad[first]:
            grad_dw = _weight_grad(grad_mid, x, depthwise, padding, dilation, groups)[0]
    return grad_x, grad_dw, grad_pw


class _SeparableConv(torch.autograd.Function):
    """Stride-1 depthwise then 1x1 convolution; backward recomputes the depthwise output."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, depthwise: torch.Tensor, pointwise: torch.Tensor,
                padding: tuple[int, int], dilation: tuple[int, int]) -> torch.Tensor:
        ctx.save_for_backward(x, depthwise, pointwise)
        ctx.options = (padding, dilation)
        return F.conv2d(F.conv2d(x, depthwise, None, 1, padding, dilation, x.shape[1]),
                        pointwise)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, depthwise, pointwise = ctx.saved_tensors
        padding, dilation = ctx.options
        grads = _separable_backward(ctx, grad, x, depthwise, pointwise, padding, dilation, 1,
                                    ctx.needs_input_grad[0])
        return *grads, None, None


class _NormReluSeparable(torch.autograd.Function):
    """``pointwise(depthwise(relu(batch_norm h)))`` (stride 1, training BatchNorm without affine
    parameters, running statistics updated once) keeping only ``h`` and its statistics."""

    @staticmethod
    def forward(ctx: Any, h: torch.Tensor, running_mean: torch.Tensor,
                running_var: torch.Tensor, momentum: float, eps: float,
                depthwise: torch.Tensor, pointwise: torch.Tensor, padding: tuple[int, int],
                dilation: tuple[int, int]) -> torch.Tensor:
        out, mean, invstd = torch.native_batch_norm(h, None, None, running_mean, running_var,
                                                    True, momentum, eps)
        ctx.save_for_backward(h, mean, invstd, depthwise, pointwise)
        ctx.options = (padding, dilation, eps)
        x = out.clamp_min_(0)
        return F.conv2d(F.conv2d(x, depthwise, None, 1, padding, dilation, x.shape[1]),
                        pointwise)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        h, mean, invstd, depthwise, pointwise = ctx.saved_tensors
        padding, dilation, eps = ctx.options
        x = (h - mean.view(1, -1, 1, 1)).mul_(invstd.view(1, -1, 1, 1)).clamp_min_(0)
        grad_x, grad_dw, grad_pw = _separable_backward(
            ctx, grad, x, depthwise, pointwise, padding, dilation, 5, ctx.needs_input_grad[0])
        grad_h = None
        if grad_x is not None:
            grad_pre = torch.ops.aten.threshold_backward(grad_x, x, 0)
            grad_h = torch.ops.aten.native_batch_norm_backward(
                grad_pre, h, None, None, None, mean, invstd, True, eps, [True, False, False]
            )[0]
        return grad_h, None, None, None, None, grad_dw, grad_pw, None, None


def _fast_path(x: torch.Tensor, conv: nn.Conv2d) -> bool:
    """Whether ``conv`` on ``x`` takes the fast path: training on CPU, no autocast (its backward
    would mix dtypes), no compilation or export, zero padding given as numbers."""
    return (x.device.type == "cpu" and torch.is_grad_enabled() and type(conv) is FastConv2d
            and x.dtype == conv.weight.dtype and not torch.is_autocast_enabled("cpu")
            and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)
            and not torch.compiler.is_compiling())


def _separable(depthwise: nn.Conv2d, pointwise: nn.Conv2d) -> bool:
    """Whether the pair is a bias-free depthwise conv and a stride-1 1x1 conv, both fast."""
    return (type(pointwise) is FastConv2d and pointwise.padding_mode == "zeros"
            and depthwise.groups == depthwise.in_channels == depthwise.out_channels
            and pointwise.kernel_size == (1, 1) and pointwise.stride == (1, 1)
            and pointwise.padding == (0, 0) and pointwise.groups == 1
            and depthwise.bias is None and pointwise.bias is None)


def _as_stride_1(
    x: torch.Tensor, conv: nn.Conv2d
) -> tuple[torch.Tensor, tuple[int, int], tuple[int, int]] | None:
    """``(input, padding, dilation)`` of a stride-1 convolution equal to ``conv`` on ``x`` (the
    subsampled input when the stride equals the dilation), or ``None``."""
    stride, dilation, padding = conv.stride, conv.dilation, conv.padding
    if stride == (1, 1):
        return x, padding, dilation
    if stride == dilation and all(p % s == 0 for p, s in zip(padding, stride, strict=True)):
        return (x[:, :, :: stride[0], :: stride[1]],
                (padding[0] // stride[0], padding[1] // stride[1]), (1, 1))
    return None


class FastConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same state dict) with the faster CPU training path of the module
    docstring; it applies to zero padding with symmetric settings, otherwise the plain path."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        found = _as_stride_1(x, self) if _fast_path(x, self) else None
        if found is None:
            return super().forward(x)
        x, padding, dilation = found
        return _Stride1Conv.apply(x, self.weight, self.bias, padding, dilation, self.groups)


def separable_conv(x: torch.Tensor, depthwise: nn.Conv2d, pointwise: nn.Conv2d) -> torch.Tensor:
    """``pointwise(depthwise(x))``; on the fast path (both :class:`FastConv2d`, no biases, a
    depthwise kernel and a stride-1 1x1 one) the depthwise output is not kept for backward."""
    found = None
    if _fast_path(x, depthwise) and _separable(depthwise, pointwise):
        found = _as_stride_1(x, depthwise)
    if found is None:
        return pointwise(depthwise(x))
    x, padding, dilation = found
    return _SeparableConv.apply(x, depthwise.weight, pointwise.weight, padding, dilation)


def norm_relu_separable(h: torch.Tensor, norm: nn.Module, act: nn.Module, depthwise: nn.Conv2d,
                        pointwise: nn.Conv2d) -> torch.Tensor:
    """``separable_conv(act(norm(h)), depthwise, pointwise)``; when ``norm`` is a training
    ``nn.BatchNorm2d`` without affine parameters tracking running statistics (updated here as
    it would update them) and ``act`` an ``nn.ReLU``, only ``h`` is kept for backward."""
    if not (type(norm) is nn.BatchNorm2d and norm.training and not norm.affine
            and norm.track_running_stats and norm.running_mean is not None
            and type(act) is nn.ReLU and _fast_path(h, depthwise)
            and depthwise.stride == (1, 1) and _separable(depthwise, pointwise)):
        return separable_conv(act(norm(h)), depthwise, pointwise)
    momentum = count_training_batch(norm)
    return _NormReluSeparable.apply(h, norm.running_mean, norm.running_var, momentum, norm.eps,
                                    depthwise.weight, pointwise.weight, depthwise.padding,
                                    depthwise.dilation)


def use_torch_convs(module: nn.Module) -> nn.Module:
    """Make every :class:`FastConv2d` in ``module`` a plain ``nn.Conv2d`` (same parameters,
    torch's own backward) in place, and return ``module``."""
    for conv in module.modules():
        if isinstance(conv, FastConv2d):
            conv.__class__ = nn.Conv2d
    return module
