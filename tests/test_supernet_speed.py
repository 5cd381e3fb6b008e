"""The lean supernet computes what the naive mixture supernet computes, in either memory format.

The comparisons run in float64, where another summation order changes results by ~1e-15, so the
tolerance can be tight (see :func:`~nascore.bench.naive.naive_differences`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import torch

from nascore.bench.naive import (
    NaiveCell,
    NaiveMixedOp,
    make_naive,
    naive_differences,
    random_batches,
)
from nascore.config import build_config
from nascore.errors import ConfigError, IncompatibleError
from nascore.nn.blocks import WeightedBatchNorm2d
from nascore.nn.mixed import MixedEdge, SharedStage
from nascore.nn.recompute import RecomputingOp
from nascore.plugins import make_space, registry
from nascore.spaces.darts.cells import SearchCell
from nascore.testing import make_strategy, saved_bytes, tiny_data

#: Relative tolerance of float64 results computed in another order.
TOLERANCE = 1e-10


@pytest.fixture
def float64():
    """Build and run everything in float64 within the test."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def space(channels: int = 4, layers: int = 3):
    cls = registry().get("space", "darts")
    return cls(build_config(cls.config_cls, {"channels": channels, "layers": layers}),
               tiny_data().info)


def batches(n: int = 2):
    """``n`` (weights batch, arch batch) pairs of 6 random digits-shaped images."""
    return random_batches(n, 6, (1, 8, 8))


def maker(name: str, channels: int = 4, layers: int = 3, **options: Any):
    def make(extra: Mapping[str, Any]):
        return make_strategy(name, space=space(channels, layers), warmup_epochs=0,
                             **options, **extra)

    return make


@pytest.mark.parametrize(
    ("name", "channels", "options"),
    [
        ("darts", 4, {}),
        ("darts", 4, {"second_order": True}),
        ("pcdarts", 8, {}),  # K = 4: ops on 2 of 8 channels
        ("gdas", 4, {}),  # hard sampling: one op per edge
        ("gdas", 4, {"hard_sampling": False}),
    ],
    ids=["darts", "darts-2nd-order", "pcdarts", "gdas-hard", "gdas-soft"],
)
def test_same_loss_gradients_and_updates_as_the_naive_supernet(name, channels, options):
    diffs = naive_differences(maker(name, channels, 4, **options), batches())
    assert set(diffs) == {"loss", "weight_grads", "arch_grads", "weights", "arch"}
    assert all(value < TOLERANCE for value in diffs.values()), diffs


def test_make_naive_really_replaces_the_lean_modules():
    search = make_strategy("pcdarts", space=space(8, 3), warmup_epochs=0)
    net = search.supernet
    assert any(isinstance(m, SharedStage) for m in net.modules())
    assert any(isinstance(m, WeightedBatchNorm2d) for m in net.modules())
    params = {id(p) for p in net.parameters()}
    make_naive(net)
    kinds = {type(m) for m in net.modules()}
    assert NaiveMixedOp in kinds and NaiveCell in kinds
    assert not kinds & {MixedEdge, SearchCell, SharedStage}
    assert {id(p) for p in net.parameters()} == params  # the same weights compute both ways


def test_differences_are_seen_when_the_supernets_differ():
    """The comparison is not vacuous: another seed for the naive twin gives other numbers."""

    def make(extra):
        seed = 1 if extra else 0
        return make_strategy("darts", space=space(), seed=seed, warmup_epochs=0, **extra)

    diffs = naive_differences(make, batches(1))
    assert diffs["weight_grads"] > 0.01 and diffs["weights"] > 0.001


def test_weighted_batchnorm_equals_weight_times_batchnorm():
    torch.manual_seed(0)
    x = torch.randn(4, 3, 5, 5)
    plain = torch.nn.BatchNorm2d(3, affine=False)
    weighted = WeightedBatchNorm2d.replacing(torch.nn.BatchNorm2d(3, affine=False))
    w = torch.tensor(0.3, requires_grad=True)
    weighted.output_weight = w
    out = weighted(x)
    expected = 0.3 * plain(x)
    assert torch.allclose(out, expected, atol=1e-6)
    out.sum().backward()  # d/dw sum(w * BN(x)) = sum(BN(x)) = 0 per channel
    assert abs(float(w.grad)) < 1e-4
    assert torch.allclose(weighted.running_mean, plain.running_mean)
    assert torch.allclose(weighted.running_var, plain.running_var)
    with pytest.raises(ValueError, match="affine"):
        WeightedBatchNorm2d.replacing(torch.nn.BatchNorm2d(3))


def test_weighted_batchnorm_gradients_in_channels_last(float64):
    """torch's CPU channels_last BatchNorm backward misreads an expanded scalar weight; the
    weighted BatchNorm's gradients are those of the contiguous layout."""
    torch.manual_seed(0)
    x, grad = torch.randn(4, 3, 5, 5), torch.randn(4, 3, 5, 5)
    results = []
    for layout in (torch.contiguous_format, torch.channels_last):
        alpha = torch.randn(7, generator=torch.Generator().manual_seed(1)).requires_grad_()
        norm = WeightedBatchNorm2d.replacing(torch.nn.BatchNorm2d(3, affine=False))
        norm.output_weight = alpha.softmax(0)[3]
        xi = x.clone(memory_format=layout).requires_grad_()
        (norm(xi) * grad.to(memory_format=layout)).sum().backward()
        results.append((xi.grad, alpha.grad))
    (x_c, a_c), (x_cl, a_cl) = results
    assert torch.allclose(x_cl, x_c, rtol=TOLERANCE, atol=1e-12)
    assert torch.allclose(a_cl, a_c, rtol=TOLERANCE, atol=1e-12)


def _steps(name: str, **options: Any):
    """Losses, then supernet parameters and buffers and architecture tensors after two search
    steps of ``name`` with ``options``."""
    channels = 8 if name == "pcdarts" else 4
    search = make_strategy(name, space=space(channels, 3), warmup_epochs=0, **options)
    losses = [search.search_step(b, a, i)["loss"] for i, (b, a) in enumerate(batches())]
    net = [t.detach() for t in [*search.supernet.parameters(), *search.supernet.buffers()]]
    return losses, net + [p.detach() for p in search.params.tensors.values()]


@pytest.mark.parametrize("name", ["darts", "pcdarts", "gdas"])
@pytest.mark.parametrize(
    ("options", "reference"),
    [
        ({"memory_format": "channels_last"}, {"memory_format": "contiguous"}),
        ({"recompute": "cells"}, {"recompute": "none"}),
        ({"recompute": "ops"}, {"recompute": "none"}),
    ],
    ids=["channels_last", "recompute", "recompute_ops"],
)
def test_speed_options_give_the_same_numbers(float64, name, options, reference):
    losses, state = _steps(name, **options)
    ref_losses, ref_state = _steps(name, **reference)
    assert losses == pytest.approx(ref_losses, rel=TOLERANCE)
    for a, b in zip(state, ref_state, strict=True):  # BatchNorm running statistics included
        assert torch.allclose(a, b, rtol=TOLERANCE, atol=1e-12)


def _saved_bytes(search) -> int:
    """Bytes of the distinct storages one forward pass of ``search``'s supernet keeps."""
    return saved_bytes(lambda: search.supernet(batches(1)[0][0][0], search.forward_weights()))


def test_recompute_ops_keeps_less_for_backward_and_auto_follows_partial_channels():
    ops = make_strategy("darts", recompute="ops")
    none = make_strategy("darts", recompute="none")
    # the sep and dil convs keep only their (shared) input instead of 3 maps (sep) or 1 (dil)
    assert _saved_bytes(ops) < 0.6 * _saved_bytes(none)
    assert _saved_bytes(make_strategy("darts")) == _saved_bytes(ops)  # auto
    pcdarts = make_strategy("pcdarts", space=space(8), warmup_epochs=0)
    flags = {m.recompute_maps for m in pcdarts.supernet.modules()
             if isinstance(m, RecomputingOp)}
    assert flags == {False}


@pytest.mark.parametrize(("mode", "message"), [
    ("ops", "has no ops that recompute; set recompute = auto"),
    ("cells", "has no recomputable cells; set recompute = auto"),
])
def test_recompute_on_a_space_without_such_modules_is_refused(mode, message):
    nb201 = make_space("nb201", {"channels": 4, "cells_per_stage": 1}, tiny_data().info)
    assert make_strategy("darts", space=nb201).supernet is not None  # auto: nothing to switch
    with pytest.raises(IncompatibleError, match=message) as info:
        make_strategy("darts", space=nb201, recompute=mode)
    assert "\n" not in str(info.value)


def test_recompute_keeps_less_for_backward():
    """With recomputation a cell keeps only its inputs: far fewer saved tensors."""
    counts = []
    for recompute in ("none", "cells"):
        search = make_strategy("darts", recompute=recompute)
        saved = 0

        def pack(t):
            nonlocal saved
            saved += 1
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            logits = search.supernet(batches(1)[0][0][0], search.forward_weights())
        counts.append(saved)
        logits.sum().backward()
    assert counts[1] < counts[0] / 5, counts


def test_recompute_rejects_second_order():
    with pytest.raises(ConfigError, match="second_order"):
        make_strategy("darts", recompute="cells", second_order=True)


def test_auto_memory_format_is_channels_last_on_cpu_without_partial_channels():
    assert make_strategy("darts").memory_format == torch.channels_last
    pcdarts = make_strategy("pcdarts", space=space(8), warmup_epochs=0)
    assert pcdarts.memory_format == torch.contiguous_format
    x = next(p for p in pcdarts.supernet.parameters() if p.dim() == 4)
    assert x.is_contiguous()
    forced = make_strategy("pcdarts", space=space(8), warmup_epochs=0,
                           memory_format="channels_last")
    assert forced.memory_format == torch.channels_last


def test_invalid_memory_format_is_a_config_error():
    with pytest.raises(ConfigError, match="memory_format") as info:
        make_strategy("darts", memory_format="nhwc")
    assert "\n" not in str(info.value)
    assert "channels_last" in str(info.value)
