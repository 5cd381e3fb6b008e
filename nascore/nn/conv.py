"""A ``Conv2d`` with a faster CPU training path, same parameters, outputs and gradients.

On CPU, torch's convolution backward is several times slower than a forward convolution for
the depthwise and dilated convolutions of DARTS-style ops (a dilated 3x3 depthwise input
gradient: about 6x). :class:`FastConv2d` computes the same values another way while autograd
records (CPU only; GPUs, inference and export run the plain ``F.conv2d``):

* stride 1: the input gradient is a forward convolution of the output gradient with the
  flipped (and, per group, transposed) kernel; the weight gradient is torch's, computed for a
  channels_last dilation-2 convolution on the four parity phases of its input stacked along
  the batch (an undilated convolution, 2-4x faster in torch at DARTS sizes); for a kernel
  wider than its input map (a 5x5 kernel on the 2x2 phases of a 4x4 map) torch's weight
  gradient is slow again (up to 25x), so it is computed for only the taps that read the
  input, on an explicitly padded input;
* stride ``s`` equal to the dilation: only every ``s``-th input row and column is ever read, so
  the convolution runs undilated with stride 1 on ``x[:, :, ::s, ::s]`` (about 9x faster for
  the stride-2 dilated convs of DARTS reduction cells).

:func:`separable_chain` runs the depthwise + pointwise stages of a DARTS dil conv (one) or sep
conv (two, a ReLU between them) with their training BatchNorms without affine parameters,
including a supernet edge's candidate weight (:class:`~nascore.nn.norm.WeightedBatchNorm2d`),
as one autograd function keeping only the op's input and the BatchNorm statistics: backward
recomputes every intermediate map (or, with ``recompute=False``, keeps each BatchNorm's input
and recomputes only the depthwise outputs the pointwise weight gradients need).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from nascore.deprecated import Replacement, moved
from nascore.nn.norm import WeightedBatchNorm2d, channel_weight, training_statistics


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


def _by_phases(grad: torch.Tensor, x: torch.Tensor, padding: tuple[int, int],
               dilation: tuple[int, int]) -> bool:
    """Whether a stride-1 convolution of dilation 2 maps each (row, column) parity phase of
    ``x`` to the same phase of its output ``grad`` (even padding and sizes, output size = input
    size): it is then an undilated convolution of the phases stacked along the batch, whose
    weight gradient torch computes several times faster on CPU."""
    return (dilation == (2, 2) and padding[0] % 2 == 0 and padding[1] % 2 == 0
            and x.shape[2] % 2 == 0 and x.shape[3] % 2 == 0 and grad.shape[2:] == x.shape[2:])


def _phases(t: torch.Tensor) -> torch.Tensor:
    """The four (row, column) parity phases of ``t`` stacked along the batch."""
    return torch.cat([t[:, :, a::2, b::2] for a in (0, 1) for b in (0, 1)])


def memory_format_of(t: torch.Tensor) -> torch.memory_format:
    """``torch.channels_last`` for a 4-d tensor laid out channels_last (and not also
    contiguous, as 1x1 maps or single channels are), else ``torch.contiguous_format``."""
    if (t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last)
            and not t.is_contiguous()):
        return torch.channels_last
    return torch.contiguous_format


def _read_taps(size: int, out_size: int, kernel: int, padding: int, dilation: int
               ) -> tuple[int, int]:
    """The first and one-past-last kernel taps of a stride-1 convolution (along one axis)
    that read any input value rather than only padding."""
    first = max(0, -(-(padding - out_size + 1) // dilation))
    return first, min(kernel, (size - 1 + padding) // dilation + 1)


def _padded_weight_grad(grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
                        padding: tuple[int, int], dilation: tuple[int, int], groups: int,
                        bias: bool, taps: list[tuple[int, int]]
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The weight (and bias) gradient of a stride-1 convolution from only the kernel ``taps``
    (see :func:`_read_taps`; the others get zero) on an explicitly padded input."""
    pads = []
    for i in (1, 0):  # F.pad order: width, then height
        first, end = taps[i]
        before = padding[i] - first * dilation[i]
        after = grad.shape[2 + i] - x.shape[2 + i] - before + dilation[i] * (end - 1 - first)
        pads += [before, after]
    (top, bottom), (left, right) = taps
    _, grad_w, grad_b = torch.ops.aten.convolution_backward(
        grad, F.pad(x, pads), weight[:, :, top:bottom, left:right],
        [weight.shape[0]] if bias else None, [1, 1], [0, 0], list(dilation), False, [0, 0],
        groups, [False, True, bias],
    )
    full = torch.zeros_like(weight)  # the weight's strides, as DDP's gradient buckets expect
    full[:, :, top:bottom, left:right] = grad_w
    return full, grad_b


def _weight_grad(grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
                 padding: tuple[int, int], dilation: tuple[int, int], groups: int,
                 bias: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The weight (and bias) gradient of a stride-1 convolution: torch's, for a channels_last
    dilation-2 one on its parity phases (see :func:`_by_phases`); for a kernel wider than its
    input map, where torch's (channels_last) is several times slower than a forward
    convolution, from only the taps that read the input on an explicitly padded input
    (:func:`_padded_weight_grad`; contiguous inputs: only when some taps read only padding)."""
    channels_last = memory_format_of(x) == torch.channels_last
    if channels_last and _by_phases(grad, x, padding, dilation):
        grad, x = _phases(grad), _phases(x)
        padding, dilation = (padding[0] // 2, padding[1] // 2), (1, 1)
    if any(dilation[i] * (weight.shape[2 + i] - 1) >= x.shape[2 + i] for i in (0, 1)):
        taps = [_read_taps(x.shape[2 + i], grad.shape[2 + i], weight.shape[2 + i],
                           padding[i], dilation[i]) for i in (0, 1)]
        trimmed = any(tap != (0, k) for tap, k in zip(taps, weight.shape[2:], strict=True))
        if all(first < end for first, end in taps) and (channels_last or trimmed):
            return _padded_weight_grad(grad, x, weight, padding, dilation, groups, bias, taps)
    _, grad_w, grad_b = torch.ops.aten.convolution_backward(
        grad, x, weight, [weight.shape[0]] if bias else None, [1, 1], list(padding),
        list(dilation), False, [0, 0], groups, [False, True, bias],
    )
    return grad_w, grad_b


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


class _Stage(NamedTuple):
    """How one stage of a :func:`separable_chain` segment runs: the depthwise convolution's
    geometry and whether a training BatchNorm without affine parameters ends the stage."""

    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    norm: bool = False
    eps: float = 1e-5
    momentum: float = 0.0
    keep: bool = False  # keep the BatchNorm's input for backward instead of recomputing it

    def depthwise(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The stage's depthwise convolution of ``x``."""
        return F.conv2d(x, weight, None, self.stride, self.padding, self.dilation, x.shape[1])


def _depthwise_backward(grad: torch.Tensor, x: torch.Tensor, weight: torch.Tensor,
                        stage: _Stage, need_x: bool, need_w: bool
                        ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Input and weight gradients of the depthwise convolution of ``stage`` on ``x``."""
    groups = x.shape[1]
    if stage.stride != (1, 1):
        grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
            grad, x, weight, None, list(stage.stride), list(stage.padding),
            list(stage.dilation), False, [0, 0], groups, [need_x, need_w, False])
        return grad_x, grad_w
    grad_x = _input_grad(grad, weight, stage.padding, stage.dilation, groups) if need_x else None
    grad_w = None
    if need_w:
        grad_w = _weight_grad(grad, x, weight, stage.padding, stage.dilation, groups)[0]
    return grad_x, grad_w


class _SeparableChain(torch.autograd.Function):
    """Stages of a depthwise conv, a 1x1 conv and (optionally) a training BatchNorm without
    affine parameters times a scalar weight, a ReLU between stages, keeping only the input and
    the BatchNorm statistics for backward: backward recomputes every intermediate map (but the
    BatchNorm inputs of stages marked ``keep``, kept instead).

    Inputs: ``x``, the stages (:class:`_Stage`), then five tensors per stage: the depthwise and
    pointwise weights, running mean and variance (``None`` without running statistics) and the
    output weight (``None``: unweighted, or no BatchNorm)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, stages: tuple[_Stage, ...],
                *tensors: torch.Tensor | None) -> torch.Tensor:
        stats: list[torch.Tensor] = []
        kept: list[torch.Tensor] = []
        h = x
        for i, stage in enumerate(stages):
            depthwise, pointwise, running_mean, running_var, weight = tensors[5 * i: 5 * i + 5]
            if i:
                h = h.clamp_min_(0)  # the previous stage's BatchNorm output: a fresh tensor
            h = F.conv2d(stage.depthwise(h, depthwise), pointwise)
            if stage.keep:
                kept.append(h)
            if stage.norm:
                h, mean, invstd = torch.native_batch_norm(
                    h, channel_weight(weight, h.shape[1]), None, running_mean, running_var,
                    True, stage.momentum, stage.eps)
                stats += [mean, invstd]
        ctx.stages = stages
        ctx.save_for_backward(x, *stats, *kept,
                              *(t for i, t in enumerate(tensors) if i % 5 in (0, 1, 4)))
        return h

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        stages: tuple[_Stage, ...] = ctx.stages
        x, *saved = ctx.saved_tensors
        n_stats = 2 * sum(stage.norm for stage in stages)
        n_kept = sum(stage.keep for stage in stages)
        stats, kept = iter(saved[:n_stats]), iter(saved[n_stats: n_stats + n_kept])
        params = saved[n_stats + n_kept:]
        norms = [(next(stats), next(stats)) if stage.norm else None for stage in stages]
        needs = ctx.needs_input_grad
        grads: list[torch.Tensor | None] = [None] * (5 * len(stages))
        # recompute each stage's input, depthwise output (if needed) and pointwise output before
        # its BatchNorm (unless kept)
        inputs, mids, pres = [], [], []
        h = x
        for i, stage in enumerate(stages):
            depthwise, pointwise = params[3 * i], params[3 * i + 1]
            inputs.append(h)
            need_pre = stage.norm and not stage.keep
            mids.append(stage.depthwise(h, depthwise)
                        if need_pre or needs[2 + 5 * i + 1] else None)
            pres.append(next(kept) if stage.keep else
                        F.conv2d(mids[-1], pointwise) if need_pre else None)
            if i + 1 < len(stages):
                mean, invstd = norms[i]
                h = (pres[-1] - mean.view(1, -1, 1, 1)).mul_(invstd.view(1, -1, 1, 1))
                h = h.clamp_min_(0)
        grad_x = None
        for i in reversed(range(len(stages))):
            stage = stages[i]
            depthwise, pointwise, weight = params[3 * i: 3 * i + 3]
            if stage.norm:
                mean, invstd = norms[i]
                need_weight = weight is not None and needs[2 + 5 * i + 4]
                grad, grad_norm_weight, _ = torch.ops.aten.native_batch_norm_backward(
                    grad, pres[i], channel_weight(weight, grad.shape[1]), None, None, mean,
                    invstd, True, stage.eps, [True, need_weight, False])
                if need_weight:
                    grads[5 * i + 4] = grad_norm_weight.sum().view_as(weight)
                pres[i] = None
            if needs[2 + 5 * i + 1]:
                grads[5 * i + 1] = _weight_grad(grad, mids[i], pointwise, (0, 0), (1, 1), 1)[0]
            mids[i] = None
            need_input = i > 0 or needs[0]
            if not (need_input or needs[2 + 5 * i]):
                break
            grad_mid = _input_grad(grad, pointwise, (0, 0), (1, 1), 1)
            grad, grads[5 * i] = _depthwise_backward(grad_mid, inputs[i], depthwise, stage,
                                                     need_input, needs[2 + 5 * i])
            if i:
                grad = torch.ops.aten.threshold_backward(grad, inputs[i], 0)
            else:
                grad_x = grad
            inputs[i] = None
        return grad_x, None, *grads


def _fused_norm(norm: nn.Module) -> bool:
    """Whether ``norm`` can run inside a :class:`_SeparableChain`: a training BatchNorm2d (or
    :class:`~nascore.nn.norm.WeightedBatchNorm2d`) without affine parameters."""
    return (type(norm) in (nn.BatchNorm2d, WeightedBatchNorm2d) and norm.training
            and not norm.affine)


def _fast_pair(x: torch.Tensor, depthwise: nn.Conv2d, pointwise: nn.Conv2d) -> bool:
    """Whether the pair on ``x`` can run in a :class:`_SeparableChain`."""
    return _fast_path(x, depthwise) and _separable(depthwise, pointwise)


def _chain_stage(x: torch.Tensor, depthwise: nn.Conv2d, pointwise: nn.Conv2d
                 ) -> tuple[torch.Tensor, _Stage] | None:
    """``(input, stage)`` of the pair on ``x`` in a :class:`_SeparableChain` (the subsampled
    input when the stride equals the dilation), or ``None`` off the fast path."""
    if not _fast_pair(x, depthwise, pointwise):
        return None
    found = _as_stride_1(x, depthwise)
    if found is None:
        return x, _Stage(depthwise.stride, depthwise.padding, depthwise.dilation)
    x, padding, dilation = found
    return x, _Stage((1, 1), padding, dilation)


def _run_segment(x: torch.Tensor, first: _Stage,
                 stages: Sequence[tuple[nn.Conv2d, nn.Conv2d, nn.Module]],
                 keep: bool) -> torch.Tensor:
    """Run ``stages`` (every BatchNorm but maybe the last one fusable) as one chain on ``x``,
    keeping each BatchNorm's input for backward if ``keep``; an unfusable last BatchNorm runs
    after it as a module."""
    specs, tensors = [], []
    for i, (depthwise, pointwise, norm) in enumerate(stages):
        stage = first if i == 0 else _Stage(depthwise.stride, depthwise.padding,
                                            depthwise.dilation)
        running_mean = running_var = weight = None
        if _fused_norm(norm):
            running_mean, running_var, momentum = training_statistics(norm)
            weight = getattr(norm, "output_weight", None)
            stage = stage._replace(norm=True, eps=norm.eps, momentum=momentum, keep=keep)
        specs.append(stage)
        tensors += [depthwise.weight, pointwise.weight, running_mean, running_var, weight]
    out = _SeparableChain.apply(x, tuple(specs), *tensors)
    last_norm = stages[-1][2]
    return out if specs[-1].norm else last_norm(out)


def separable_chain(x: torch.Tensor, stages: Sequence[tuple[nn.Conv2d, nn.Conv2d, nn.Module]],
                    act: nn.Module | None = None, recompute: bool = True) -> torch.Tensor:
    """``norm_n(pw_n(dw_n(act(... norm_1(pw_1(dw_1(x)))))))`` for ``stages`` of ``(depthwise,
    pointwise, norm)`` modules (a DARTS dil conv is one stage, a sep conv two, ``act`` their
    middle activation).

    On the fast path (:class:`FastConv2d` pairs of a depthwise and a 1x1 conv without biases,
    training on CPU) consecutive stages run as one :class:`_SeparableChain` keeping only their
    input and recomputing the rest in backward (with ``recompute`` false: and each BatchNorm's
    input, recomputing only the depthwise outputs for the pointwise weight gradients): while
    each BatchNorm is a training one without affine parameters (an
    :class:`~nascore.nn.norm.WeightedBatchNorm2d`'s output weight included), ``act`` a ReLU
    and later stages stride 1. Other stages and BatchNorms run as modules.
    """
    out = x
    start = 0
    while start < len(stages):
        if start:
            out = act(out)
        found = _chain_stage(out, *stages[start][:2])
        if found is None:
            depthwise, pointwise, norm = stages[start]
            out = norm(pointwise(depthwise(out)))
            start += 1
            continue
        end = start + 1
        while (end < len(stages) and type(act) is nn.ReLU and _fused_norm(stages[end - 1][2])
               and stages[end][0].stride == (1, 1) and _fast_pair(out, *stages[end][:2])):
            end += 1
        out = _run_segment(found[0], found[1], stages[start:end], not recompute)
        start = end
    return out


def use_torch_convs(module: nn.Module) -> nn.Module:
    """Make every :class:`FastConv2d` in ``module`` a plain ``nn.Conv2d`` (same parameters,
    torch's own backward) in place, and return ``module``."""
    for conv in module.modules():
        if isinstance(conv, FastConv2d):
            conv.__class__ = nn.Conv2d
    return module


def _separable_conv(x: torch.Tensor, depthwise: nn.Conv2d, pointwise: nn.Conv2d) -> torch.Tensor:
    """``pointwise(depthwise(x))`` (API 1's ``separable_conv``; :func:`separable_chain` now)."""
    return pointwise(depthwise(x))


def _norm_relu_separable(h: torch.Tensor, norm: nn.Module, act: nn.Module,
                         depthwise: nn.Conv2d, pointwise: nn.Conv2d) -> torch.Tensor:
    """``pointwise(depthwise(act(norm(h))))`` (API 1's ``norm_relu_separable``)."""
    return pointwise(depthwise(act(norm(h))))


__getattr__ = moved(__name__, {
    "separable_conv": Replacement(lambda: _separable_conv, "nascore.nn.conv.separable_chain"),
    "norm_relu_separable": Replacement(lambda: _norm_relu_separable,
                                       "nascore.nn.conv.separable_chain"),
})
