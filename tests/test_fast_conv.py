"""FastConv2d and the fused separable convolutions (:func:`separable_chain`) compute what torch's
modules compute (float64, outputs, every gradient and BatchNorm statistics) and keep fewer
tensors for backward."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from nascore.nn.conv import FastConv2d, separable_chain, use_torch_convs
from nascore.nn.norm import WeightedBatchNorm2d
from nascore.spaces.darts.ops import DilConv, SepConv
from nascore.testing import saved_bytes

#: (in, out, kernel, stride, padding, dilation, groups, size, bias, channels_last)
CONVS = [
    (6, 6, 3, 1, 1, 1, 6, 9, False, True),  # depthwise 3x3, odd size
    (6, 6, 5, 1, 2, 1, 6, 8, False, False),  # depthwise 5x5
    (6, 6, 3, 1, 2, 2, 6, 8, False, True),  # dilated, even size: weight gradient by phases
    (6, 6, 5, 1, 4, 2, 6, 7, False, True),  # dilated, odd size
    (6, 6, 5, 2, 4, 2, 6, 9, False, True),  # stride = dilation: runs on the subsampled input
    (6, 6, 3, 2, 2, 2, 6, 8, True, False),
    (6, 4, 1, 1, 0, 1, 1, 7, True, True),  # pointwise
    (6, 9, 3, 1, 1, 1, 3, 6, True, False),  # grouped
    (6, 6, 3, 2, 1, 1, 6, 8, False, True),  # strided, undilated: torch's own path
    # kernels wider than the map: weight gradients from the taps that read it, padded input
    (6, 6, 5, 1, 2, 1, 6, 2, False, True),  # 5x5 on 2x2: only the central 3x3 taps
    (6, 6, 5, 1, 4, 2, 6, 4, True, True),  # by phases, then 5x5 on 2x2
    (6, 6, 3, 1, 1, 1, 6, 2, False, False),
    (6, 6, 5, 1, 2, 1, 6, 2, True, False),  # contiguous: padded only when taps are trimmed
    (6, 6, 3, 1, 3, 3, 6, 3, True, True),  # dilation 3 on 3x3: only the central tap
    (6, 4, 3, 1, 0, 2, 2, 5, True, False),  # no padding, grouped
]


def _close(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape
    assert torch.allclose(a, b, rtol=1e-12, atol=1e-12), float((a - b).abs().max())


@pytest.mark.parametrize("spec", CONVS)
def test_fast_conv_matches_conv2d_in_outputs_and_gradients(spec) -> None:
    cin, cout, k, stride, pad, dil, groups, size, bias, channels_last = spec
    torch.manual_seed(0)
    ref = nn.Conv2d(cin, cout, k, stride, pad, dil, groups, bias).double()
    fast = FastConv2d(cin, cout, k, stride, pad, dil, groups, bias).double()
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(3, cin, size, size, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    ya, yb, xa, xb = _both(ref, fast, x)
    _close(ya, yb)
    _close(xa.grad, xb.grad)
    _close(ref.weight.grad, fast.weight.grad)
    if bias:
        _close(ref.bias.grad, fast.bias.grad)


def _plain(module: nn.Module) -> nn.Module:
    """A copy computing with torch's modules only (no fused or fast paths)."""
    return use_torch_convs(copy.deepcopy(module))


def _both(ref: nn.Module, fast: nn.Module, x: torch.Tensor):
    """``(ref output, fast output, ref input, fast input)`` after a backward pass of one random
    output gradient through each, from two copies of ``x``."""
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = ref(xa), fast(xb)
    grad = torch.randn_like(ya)
    ya.backward(grad)
    yb.backward(grad)
    return ya, yb, xa, xb


@pytest.mark.parametrize("make", [
    lambda: SepConv(5, 5, 3, 1, 1, affine=False),
    lambda: SepConv(5, 7, 5, 2, 2, affine=False),  # strided first block
    lambda: SepConv(5, 5, 3, 1, 1, affine=True),  # affine BatchNorm: the unfused path
    lambda: SepConv(5, 5, 3, 1, 1, affine=False, act=nn.ELU),  # two chains, ELU between
    lambda: DilConv(5, 5, 3, 1, 2, 2, affine=False),
    lambda: DilConv(5, 5, 5, 2, 4, 2, affine=False),
])
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("frozen", [False, True])
@pytest.mark.parametrize("size", [9, 8, 4])  # even: dilated by phases; 4: kernels wider
def test_fused_ops_match_torch_modules_with_statistics(make, momentum, frozen, size) -> None:
    """``frozen``: weights without gradients, as in a one-shot architecture step."""
    torch.manual_seed(0)
    fast = make().double()
    for m in fast.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = momentum
    plain = _plain(fast)
    for module in (fast, plain):
        module.requires_grad_(not frozen)
    x = torch.randn(4, 5, size, size, dtype=torch.float64).contiguous(
        memory_format=torch.channels_last)
    for _ in range(2):  # the second pass uses updated running statistics' counters
        ya, yb, xa, xb = _both(plain, fast, x)
    _close(ya, yb)
    _close(xa.grad, xb.grad)
    for (name, a), (_, b) in zip(plain.named_parameters(), fast.named_parameters(), strict=True):
        assert (a.grad is None) == (b.grad is None) == frozen, name
        if a.grad is not None:
            _close(a.grad, b.grad)
    for (name, a), (_, b) in zip(plain.named_buffers(), fast.named_buffers(), strict=True):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-14), name


@pytest.mark.parametrize("make", [
    lambda: SepConv(8, 8, 3, 1, 1, affine=False),
    lambda: DilConv(8, 8, 3, 1, 2, 2, affine=False),
])
def test_fused_ops_keep_only_their_input(make) -> None:
    torch.manual_seed(0)
    fast = make()
    plain = _plain(fast)
    x = torch.randn(4, 8, 16, 16, requires_grad=True)
    ours = saved_bytes(lambda: fast(x))
    theirs = saved_bytes(lambda: plain(x))
    # torch keeps the activated input, every depthwise and pointwise output and the middle
    # activation; the fused path only the activated input
    assert ours <= x.numel() * 4 + 4096, (ours, theirs)  # + weights and statistics
    assert ours <= 0.4 * theirs, (ours, theirs)


@pytest.mark.parametrize("make", [
    lambda: SepConv(5, 5, 3, 1, 1, affine=False),
    lambda: SepConv(5, 5, 5, 2, 2, affine=False),
    lambda: DilConv(5, 5, 5, 2, 4, 2, affine=False),
])
@pytest.mark.parametrize("frozen", [False, True])
def test_weighted_final_batchnorm_in_the_chain(make, frozen) -> None:
    """A supernet edge's candidate weight inside the final BatchNorm: output, input, weight and
    candidate-weight gradients equal the plain modules' times the weight."""
    torch.manual_seed(0)
    fast = make()
    last = fast[-1] if isinstance(fast[-1], nn.Sequential) else fast  # the final BatchNorm's
    last[-1] = WeightedBatchNorm2d.replacing(last[-1])
    fast.double()
    plain = _plain(fast)
    for module in (fast, plain):
        module.requires_grad_(not frozen)
    x = torch.randn(4, 5, 9, 9, dtype=torch.float64).contiguous(
        memory_format=torch.channels_last)
    wa = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    wb = wa.detach().clone().requires_grad_()
    last[-1].output_weight = wb  # unset in ``plain``: a plain BatchNorm there
    ya = wa * plain(xa := x.clone().requires_grad_())
    yb = fast(xb := x.clone().requires_grad_())
    grad = torch.randn_like(ya)
    ya.backward(grad)
    yb.backward(grad)
    _close(ya, yb)
    _close(xa.grad, xb.grad)
    _close(wa.grad, wb.grad)
    for (name, a), (_, b) in zip(plain.named_parameters(), fast.named_parameters(), strict=True):
        if not frozen:
            _close(a.grad, b.grad)
        assert (a.grad is None) == (b.grad is None) == frozen, name


def test_inference_takes_torch_paths_and_eval_keeps_batchnorm_statistics() -> None:
    torch.manual_seed(0)
    fast = SepConv(4, 4, 3, 1, 1, affine=False).eval()
    plain = _plain(fast).eval()
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        assert torch.equal(fast(x), plain(x))
    out = fast(x.requires_grad_())  # eval with gradients: BatchNorm on running statistics
    names = {type(node).__name__ for node in _graph(out.grad_fn)}
    assert "_SeparableChainBackward" in names and "NativeBatchNormBackward0" in names
    assert torch.allclose(out, plain(x), atol=1e-6)
    conv = FastConv2d(4, 4, 3, padding=1)
    with torch.no_grad():
        assert torch.equal(conv(x), nn.functional.conv2d(x, conv.weight, conv.bias, padding=1))
    assert separable_chain(x, [tuple(fast[0])[1:]]).shape == x.shape


def _graph(node) -> list:
    seen, todo = [], [node]
    while todo:
        current = todo.pop()
        if current is None or current in seen:
            continue
        seen.append(current)
        todo.extend(next_node for next_node, _ in current.next_functions)
    return seen


def test_autocast_takes_torch_paths() -> None:
    torch.manual_seed(0)
    fast = SepConv(4, 4, 5, 1, 2, affine=False)
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = fast(x)
    out.float().sum().backward()
    assert out.dtype == torch.bfloat16 and x.grad is not None
    assert all(p.grad is not None for p in fast.parameters())


@pytest.mark.parametrize("size, kernel, padding, dilation", [
    (8, 5, 2, 1), (2, 5, 2, 1),  # 2x2: a padded weight gradient of the central 3x3 taps
    (1, 3, 2, 2),  # 1x1: of the central tap alone
])
def test_weight_gradients_keep_the_weights_strides(size, kernel, padding, dilation) -> None:
    """DDP's gradient buckets expect each gradient with its parameter's strides."""
    conv = FastConv2d(6, 6, kernel, 1, padding, dilation, 6, bias=False).to(
        memory_format=torch.channels_last)
    x = torch.randn(2, 6, size, size).contiguous(memory_format=torch.channels_last)
    conv(x).sum().backward()
    assert conv.weight.grad.stride() == conv.weight.stride()
