"""DARTS operations, FactorizedReduce, channel shuffle, drop path and the MixedEdge semantics."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nascore.nn import (
    MixedEdge,
    RecomputingMaxPool2d,
    cat_channels,
    channel_shuffle,
    drop_path,
)
from nascore.space import Selection
from nascore.spaces.darts.ops import (
    OPS,
    PARAMETERIZED,
    PRIMITIVES,
    FactorizedReduce,
    supernet_op,
)


def test_primitives_in_published_order():
    assert PRIMITIVES == (
        "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
        "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
    )
    assert sorted(PARAMETERIZED) == ["dil_conv_3x3", "dil_conv_5x5", "sep_conv_3x3", "sep_conv_5x5"]


@pytest.mark.parametrize("size", [8, 7])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", PRIMITIVES)
def test_op_output_shape(name, stride, size):
    op = OPS[name](6, stride, True, nn.ReLU)
    out = op(torch.randn(2, 6, size, size))
    expected = -(-size // stride)
    assert out.shape == (2, 6, expected, expected)


def test_act_factory_builds_exactly_the_relus_of_parameterized_ops():
    built = []

    def act() -> nn.Module:
        built.append(nn.Tanh())
        return built[-1]

    expected = {"sep_conv_3x3": 2, "sep_conv_5x5": 2, "dil_conv_3x3": 1, "dil_conv_5x5": 1}
    for name in PRIMITIVES:
        for stride in (1, 2):
            built.clear()
            op = OPS[name](4, stride, True, act)
            assert len(built) == expected.get(name, 0), name
            if name in PARAMETERIZED:
                assert not any(isinstance(m, nn.ReLU) for m in op.modules())


def test_shared_act_runs_twice_in_sep_conv():
    calls = []

    class Counting(nn.Module):
        def forward(self, x):
            calls.append(x.shape)
            return x

    shared = Counting()
    op = OPS["sep_conv_3x3"](4, 1, True, lambda: shared)
    op(torch.randn(2, 4, 6, 6))
    assert len(calls) == 2


def test_param_counts_of_ops_by_hand():
    C = 4
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    # depthwise kxk (k*k*C) + pointwise (C*C) + BN (2C), twice for sep convs
    assert count(OPS["sep_conv_3x3"](C, 1, True, nn.ReLU)) == 2 * (9 * C + C * C + 2 * C)
    assert count(OPS["sep_conv_5x5"](C, 1, True, nn.ReLU)) == 2 * (25 * C + C * C + 2 * C)
    assert count(OPS["dil_conv_3x3"](C, 2, True, nn.ReLU)) == 9 * C + C * C + 2 * C
    assert count(OPS["skip_connect"](C, 2, True, nn.ReLU)) == 2 * (C * C // 2) + 2 * C
    assert count(OPS["skip_connect"](C, 2, False, nn.ReLU)) == 2 * (C * C // 2)
    assert count(OPS["max_pool_3x3"](C, 1, True, nn.ReLU)) == 0


def test_factorized_reduce_matches_shifted_definition_on_even_sizes():
    torch.manual_seed(0)
    fr = FactorizedReduce(4, 6)
    x = torch.randn(2, 4, 8, 8)
    relu = F.relu(x)
    expected = fr.bn(torch.cat([fr.conv_1(relu), fr.conv_2(relu[:, :, 1:, 1:])], dim=1))
    assert torch.allclose(fr(x), expected)


def test_factorized_reduce_odd_sizes_and_channels():
    assert FactorizedReduce(4, 5)(torch.randn(2, 4, 7, 7)).shape == (2, 5, 4, 4)
    assert FactorizedReduce(3, 4)(torch.randn(2, 3, 5, 9)).shape == (2, 4, 3, 5)


def test_channel_shuffle_by_hand():
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]
    assert channel_shuffle(x, 3).flatten().tolist() == [0, 2, 4, 1, 3, 5]


@pytest.mark.parametrize("channels_last", [True, False])
def test_cat_channels_gives_dense_gradients_in_each_inputs_layout(channels_last):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    parts = [torch.randn(2, c, 3, 3).contiguous(memory_format=fmt).requires_grad_()
             for c in (2, 3)]
    out = cat_channels(parts)
    assert torch.equal(out, torch.cat(parts, dim=1))
    grad = torch.randn_like(out)
    out.backward(grad)
    for part, expected in zip(parts, grad.split([2, 3], dim=1), strict=True):
        assert torch.equal(part.grad, expected)
        assert part.grad.is_contiguous(memory_format=fmt)
    with torch.no_grad():
        assert torch.equal(cat_channels(parts), out)


def test_drop_path_zeros_whole_samples_and_rescales():
    torch.manual_seed(0)
    x = torch.ones(400, 2, 3, 3)
    out = drop_path(x, 0.25)
    per_sample = out.flatten(1)
    assert torch.all(per_sample == per_sample[:, :1])  # a sample is dropped or kept whole
    assert sorted(set(per_sample[:, 0].tolist())) == pytest.approx([0.0, 1 / 0.75])
    assert 0.15 < (per_sample[:, 0] == 0).float().mean() < 0.35
    assert drop_path(x, 0.0) is x


# -- MixedEdge ---------------------------------------------------------------------------------


def _edge(C=4, stride=1, K=1):
    torch.manual_seed(0)
    return MixedEdge(PRIMITIVES, C, stride, supernet_op, partial_channels=K)


def _count_calls(edge):
    calls = dict.fromkeys(edge.ops, 0)
    for name, op in edge.ops.items():
        op.register_forward_hook(lambda *_, name=name: calls.__setitem__(name, calls[name] + 1))
    return calls


def test_zero_candidate_is_never_built():
    assert "none" not in _edge().ops
    assert set(_edge().ops) == set(PRIMITIVES) - {"none"}


def test_dense_mixture_is_weighted_sum_without_none():
    edge = _edge()
    x = torch.randn(4, 4, 6, 6)
    w = torch.softmax(torch.randn(8), 0)
    expected = sum(w[k] * edge.ops[n](x) for k, n in enumerate(PRIMITIVES) if n != "none")
    assert torch.allclose(edge(x, Selection(w)), expected, atol=1e-6)


def test_sampled_index_runs_only_that_op():
    edge = _edge()
    calls = _count_calls(edge)
    x = torch.randn(4, 4, 6, 6)
    w = torch.zeros(8)
    w[5] = 1.0
    out = edge(x, Selection(w, index=5))
    assert calls == {n: int(n == "sep_conv_5x5") for n in calls}
    assert torch.allclose(out, edge.ops["sep_conv_5x5"](x))


def test_masked_candidates_never_run():
    edge = _edge()
    calls = _count_calls(edge)
    mask = torch.tensor([True, True, False, True, False, True, False, True])
    edge(torch.randn(2, 4, 6, 6), Selection(torch.full((8,), 0.125), mask=mask))
    assert calls == {n: int(bool(mask[PRIMITIVES.index(n)])) for n in calls}


def test_only_none_returns_none_and_runs_nothing():
    edge = _edge()
    calls = _count_calls(edge)
    x = torch.randn(2, 4, 6, 6)
    w = torch.full((8,), 0.125)
    assert edge(x, Selection(w, index=0)) is None
    only_none = torch.zeros(8, dtype=torch.bool)
    only_none[0] = True
    assert edge(x, Selection(w, mask=only_none)) is None
    assert sum(calls.values()) == 0


def test_scale_multiplies_the_output():
    edge = _edge()
    x = torch.randn(2, 4, 6, 6)
    w = torch.softmax(torch.randn(8), 0)
    plain = edge(x, Selection(w))
    scaled = edge(x, Selection(w, scale=torch.tensor(0.3)))
    assert torch.allclose(scaled, 0.3 * plain, atol=1e-6)


def test_partial_channels_by_hand():
    edge = _edge(C=4, K=2)
    x = torch.randn(2, 4, 5, 5)
    w = torch.zeros(8)
    w[3] = 0.5  # skip_connect: identity at stride 1
    out = edge(x, Selection(w, index=3))
    # [0.5*x0, 0.5*x1, x2, x3] shuffled with 2 groups -> [0.5*x0, x2, 0.5*x1, x3]
    expected = torch.stack([0.5 * x[:, 0], x[:, 2], 0.5 * x[:, 1], x[:, 3]], dim=1)
    assert torch.allclose(out, expected)


@pytest.mark.parametrize("size", [8, 7])
def test_partial_channels_stride_two_bypass_is_max_pooled(size):
    edge = _edge(C=8, stride=2, K=4)
    assert edge.ops["sep_conv_3x3"][0][1].in_channels == 2  # ops see C/K channels
    x = torch.randn(2, 8, size, size)
    w = torch.zeros(8)
    w[1] = 1.0
    out = edge(x, Selection(w, index=1))
    mixed = edge.ops["max_pool_3x3"](x[:, :2])
    rest = F.max_pool2d(x[:, 2:], 2, 2, ceil_mode=True)
    # atol: the weight 1.0 multiplies inside the BatchNorm (same math, other rounding)
    assert torch.allclose(out, channel_shuffle(torch.cat([mixed, rest], 1), 4), atol=1e-6)
    only_none = edge(x, Selection(w, index=0))
    assert torch.allclose(only_none, channel_shuffle(torch.cat([0 * mixed, rest], 1), 4))


def test_partial_channels_must_divide():
    with pytest.raises(ValueError, match="divisor"):
        _edge(C=6, K=4)


def test_gradient_reaches_weights_of_sampled_op_only():
    edge = _edge()
    w = torch.zeros(8, requires_grad=True)
    hard = w + torch.nn.functional.one_hot(torch.tensor(4), 8).float()
    edge(torch.randn(2, 4, 6, 6), Selection(hard, index=4)).sum().backward()
    assert w.grad[4] != 0
    assert torch.count_nonzero(w.grad) == 1


# -- one leading activation per edge ------------------------------------------------------------


def test_leading_act_false_keeps_parameter_names_and_drops_only_the_first_activation():
    for name in PARAMETERIZED:
        full = OPS[name](4, 1, True, nn.Tanh)
        bare = OPS[name](4, 1, True, nn.Tanh, leading_act=False)
        assert list(dict(bare.named_parameters())) == list(dict(full.named_parameters()))
        tanhs = sum(isinstance(m, nn.Tanh) for m in full.modules())
        assert sum(isinstance(m, nn.Tanh) for m in bare.modules()) == tanhs - 1
        bare.load_state_dict(full.state_dict())
        x = torch.randn(2, 4, 6, 6)
        assert torch.allclose(bare(torch.tanh(x)), full(x), atol=1e-6)


class _CountingReLU(nn.ReLU):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return super().forward(x)


def _shared_edge(C=4, stride=1, K=1):
    torch.manual_seed(0)
    return MixedEdge(
        PRIMITIVES, C, stride, lambda n, c, s: supernet_op(n, c, s, leading_act=False),
        partial_channels=K, act=_CountingReLU(), act_candidates=PARAMETERIZED,
    )


@pytest.mark.parametrize(("stride", "K"), [(1, 1), (2, 1), (1, 2), (2, 2)])
def test_shared_activation_equals_one_relu_per_op(stride, K):
    plain, shared = _edge(C=4, stride=stride, K=K), _shared_edge(C=4, stride=stride, K=K)
    shared.load_state_dict(plain.state_dict())
    x = torch.randn(4, 4, 7, 7, requires_grad=True)
    w = torch.softmax(torch.randn(8), 0).requires_grad_()
    out_plain = plain(x, Selection(w))
    grads_plain = torch.autograd.grad(out_plain.square().sum(), [x, w])
    out_shared = shared(x, Selection(w))
    grads_shared = torch.autograd.grad(out_shared.square().sum(), [x, w])
    assert torch.allclose(out_shared, out_plain, atol=1e-6)
    for a, b in zip(grads_shared, grads_plain, strict=True):
        assert torch.allclose(a, b, atol=1e-5)
    assert shared.act.calls == 1  # one activation for the four parameterized ops


def test_shared_activation_runs_only_with_an_active_parameterized_op():
    edge = _shared_edge()
    calls = _count_calls(edge)
    x = torch.randn(2, 4, 6, 6)
    w = torch.full((8,), 0.125)
    edge(x, Selection(w, index=PRIMITIVES.index("max_pool_3x3")))
    assert edge.act.calls == 0
    out = edge(x, Selection(w, index=PRIMITIVES.index("dil_conv_3x3")))
    assert edge.act.calls == 1
    assert calls == {n: int(n in ("max_pool_3x3", "dil_conv_3x3")) for n in calls}
    assert torch.allclose(out, 0.125 * edge.ops["dil_conv_3x3"](torch.relu(x)))


def test_act_candidates_need_an_act():
    with pytest.raises(ValueError, match="act_candidates"):
        MixedEdge(PRIMITIVES, 4, 1, supernet_op, act_candidates=PARAMETERIZED)


@pytest.mark.parametrize("stride", [1, 2])
def test_recomputing_max_pool_matches_max_pool(stride):
    x = torch.randn(2, 3, 7, 7)
    x[0, 0] = 1.0  # ties: overlapping windows share their argmax
    grad = torch.randn(2, 3, -(-7 // stride), -(-7 // stride))
    results = []
    for pool in (nn.MaxPool2d(3, stride, 1), RecomputingMaxPool2d(3, stride, 1)):
        leaf = x.clone().requires_grad_()
        out = pool(leaf)
        out.backward(grad)
        results.append((out, leaf.grad))
    (out_a, grad_a), (out_b, grad_b) = results
    assert torch.equal(out_a, out_b)
    assert torch.allclose(grad_a, grad_b)
    assert grad_b[1].abs().sum() > 0


def test_supernet_max_pool_keeps_no_indices():
    op = supernet_op("max_pool_3x3", 4, 1)
    assert isinstance(op[0], RecomputingMaxPool2d)
    x = torch.randn(2, 4, 6, 6, requires_grad=True)
    saved = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t.dtype)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        op[0](x)
    assert saved == [torch.float32]  # the input only, no int64 indices
