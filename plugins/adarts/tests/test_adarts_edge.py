"""The A-DARTS supernet edge (paper Eq. 2-3): one beta-mixed activation on the edge input feeds the
parameterized ops (the default), or the mixture at every ReLU of those ops (``every_relu``)."""

from __future__ import annotations

import math

import pytest
import torch
from nascore_adarts.activations import DEFAULT_ACTIVATIONS, MixedActivation
from nascore_adarts.edge import FactorizedEdge
from torch import nn

from nascore import Selection
from nascore.spaces.darts.ops import PARAMETERIZED, PRIMITIVES, supernet_op

C = 4
NON_PARAMETERIZED = [k for k, op in enumerate(PRIMITIVES) if op not in PARAMETERIZED]


def _x() -> torch.Tensor:
    return torch.randn(2, C, 6, 6, generator=torch.Generator().manual_seed(0))


def _sel(weights: torch.Tensor, **kwargs: object) -> Selection:
    return Selection(weights=weights, **kwargs)  # type: ignore[arg-type]


def _count_calls(mixed: MixedActivation) -> list[int]:
    calls = [0] * len(mixed.candidates)
    for k, module in enumerate(mixed.candidates):
        module.register_forward_hook(lambda *_, k=k: calls.__setitem__(k, calls[k] + 1))
    return calls


def test_by_default_the_mixture_feeds_the_parameterized_ops_whose_inner_relus_stay() -> None:
    edge = FactorizedEdge(C, 1, DEFAULT_ACTIVATIONS)
    assert edge.sites == "edge_input" and edge.mixed.act is edge.activation
    assert isinstance(edge.activation, MixedActivation)
    for op in PARAMETERIZED:
        module = edge.mixed.ops[op]
        first = module[0] if op.startswith("sep") else module
        assert isinstance(first[0], nn.Identity)  # no leading activation: the edge's instead
        if op.startswith("sep"):
            assert type(module[1][0]) is nn.ReLU  # the middle activation is a plain ReLU


def test_every_relu_puts_the_shared_mixture_at_every_activation_site() -> None:
    edge = FactorizedEdge(C, 1, DEFAULT_ACTIVATIONS, sites="every_relu")
    relus = [m for m in edge.modules() if isinstance(m, nn.ReLU) and m is not edge.act.inner]
    assert relus == [edge.act.inner.candidates[0]]  # the only ReLU is the mixture's candidate
    for op in PARAMETERIZED:
        modules = edge.mixed.ops[op].named_modules(remove_duplicate=False)
        sites = [m for _, m in modules if m is edge.act]
        assert len(sites) == (2 if op.startswith("sep") else 1)


def test_non_parameterized_ops_do_not_depend_on_beta() -> None:
    torch.manual_seed(0)
    edge = FactorizedEdge(C, 1, DEFAULT_ACTIVATIONS).eval()
    x = _x()
    op_weights = torch.full((8,), 1 / 8)
    mask = torch.zeros(8, dtype=torch.bool)
    mask[NON_PARAMETERIZED] = True
    outs = [
        edge(x, {"op": _sel(op_weights, mask=mask), "activation": _sel(torch.softmax(beta, 0))})
        for beta in (torch.zeros(9), torch.randn(9) * 5)
    ]
    assert torch.equal(outs[0], outs[1])
    pools_and_skip = sum(
        op_weights[k] * supernet_op(PRIMITIVES[k], C, 1).eval()(x)
        for k in NON_PARAMETERIZED
        if PRIMITIVES[k] != "none"
    )
    assert torch.allclose(outs[0], pools_and_skip, atol=1e-6)
    # whereas the parameterized ops do depend on beta
    full = [
        edge(x, {"op": _sel(op_weights), "activation": _sel(torch.softmax(beta, 0))})
        for beta in (torch.zeros(9), torch.randn(9) * 5)
    ]
    assert not torch.allclose(full[0], full[1])


@pytest.mark.parametrize(("sites", "runs"), [("edge_input", 1), ("every_relu", 3)])
def test_edge_input_activation_is_computed_once_for_all_parameterized_ops(sites, runs) -> None:
    edge = FactorizedEdge(C, 1, DEFAULT_ACTIVATIONS, sites=sites)
    calls = _count_calls(edge.activation)
    edge(_x(), {"op": _sel(torch.full((8,), 1 / 8)), "activation": _sel(torch.full((9,), 1 / 9))})
    # once on the edge input (every_relu: and once inside each of the two sep convs)
    assert calls == [runs] * 9


def _identity_convs(edge: FactorizedEdge) -> None:
    """Make every depthwise and pointwise conv of the edge's ops an identity map (C=1)."""
    with torch.no_grad():
        for module in edge.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.zero_()
                k = module.weight.shape[-1]
                module.weight[..., k // 2, k // 2] = 1.0


@pytest.mark.parametrize("sites", ["edge_input", "every_relu"])
def test_one_mixed_activation_per_edge_input_hand_computed(sites) -> None:
    """Eq. 2-3 with beta = (0, ln 3) over (relu, elu): sigma(x) = 0.25 relu(x) + 0.75 elu(x),
    and an edge mixing dil_conv_3x3 and sep_conv_3x3 with weights 0.5 each, their convs made
    identities (BatchNorm in evaluation mode divides by s = sqrt(1 + 1e-5))."""
    edge = FactorizedEdge(1, 1, ["relu", "elu"], sites=sites).eval()
    _identity_convs(edge)
    x = torch.tensor([-2.0, -0.5, 0.0, 1.5]).view(1, 1, 2, 2)
    beta = torch.tensor([0.0, math.log(3.0)])
    ops = torch.zeros(8)
    mask = torch.zeros(8, dtype=torch.bool)
    for name in ("dil_conv_3x3", "sep_conv_3x3"):
        ops[PRIMITIVES.index(name)] = 0.5
        mask[PRIMITIVES.index(name)] = True
    out = edge(x, {"op": _sel(ops, mask=mask), "activation": _sel(torch.softmax(beta, 0))})
    def mix(v: float) -> float:  # 0.25 relu(v) + 0.75 elu(v)
        return v if v > 0 else 0.75 * (math.exp(v) - 1)

    sigma = [mix(v) for v in (-2.0, -0.5, 0.0, 1.5)]
    assert sigma == pytest.approx([-0.6484985, -0.2951020, 0.0, 1.5], abs=1e-7)
    s = math.sqrt(1 + 1e-5)
    if sites == "edge_input":  # sep conv: sigma in front, a plain ReLU in the middle
        middle = [max(v / s, 0.0) for v in sigma]
    else:  # every_relu: the mixture again in the middle
        middle = [mix(v / s) for v in sigma]
    expected = [0.5 * v / s + 0.5 * m / s for v, m in zip(sigma, middle, strict=True)]
    assert out.flatten().tolist() == pytest.approx(expected, abs=1e-6)


def test_only_the_sampled_activation_and_op_run() -> None:
    edge = FactorizedEdge(C, 1, DEFAULT_ACTIVATIONS)
    calls = _count_calls(edge.activation)
    op_probs = torch.softmax(torch.randn(8), 0).requires_grad_()
    beta = torch.randn(9, requires_grad=True)
    probs = torch.softmax(beta, 0)
    hard = torch.zeros(9)
    hard[3] = 1.0
    act_weights = hard - probs.detach() + probs  # straight-through
    k = PRIMITIVES.index("dil_conv_3x3")
    out = edge(
        _x(), {"op": _sel(op_probs, index=k), "activation": _sel(act_weights, index=3)}
    )
    assert calls == [0, 0, 0, 1, 0, 0, 0, 0, 0]
    out.sum().backward()
    assert beta.grad is not None and beta.grad.abs().sum() > 0

    # with a sampled pool, no activation runs at all
    calls[3] = 0
    edge(_x(), {"op": _sel(op_probs, index=1), "activation": _sel(act_weights, index=3)})
    assert sum(calls) == 0


@pytest.mark.parametrize("sites", ["edge_input", "every_relu"])
def test_sampled_output_equals_the_op_with_that_activation_alone(sites) -> None:
    torch.manual_seed(0)
    edge = FactorizedEdge(C, 1, DEFAULT_ACTIVATIONS, sites=sites).eval()
    x = _x()
    k, a = PRIMITIVES.index("sep_conv_3x3"), DEFAULT_ACTIVATIONS.index("selu")
    out = edge(x, {"op": _sel(torch.ones(8), index=k), "activation": _sel(torch.ones(9), index=a)})
    op = edge.mixed.ops["sep_conv_3x3"]
    selu = nn.SELU()
    h = op[0][3](op[0][2](op[0][1](selu(x))))
    middle = selu if sites == "every_relu" else nn.ReLU()
    expected = op[1][3](op[1][2](op[1][1](middle(h))))
    assert torch.allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("sites", ["edge_input", "every_relu"])
def test_fixed_edge_uses_its_single_activation_without_a_selection(sites) -> None:
    edge = FactorizedEdge(C, 2, ["prelu"], searched=False, sites=sites)
    assert isinstance(edge.activation, nn.PReLU)
    for op in PARAMETERIZED:
        modules = list(edge.mixed.ops[op].named_modules(remove_duplicate=False))
        relus = sum(type(m) is nn.ReLU for _, m in modules)
        if sites == "every_relu":
            assert relus == 0 and any(m is edge.act for _, m in modules)
        else:
            assert relus == (1 if op.startswith("sep") else 0)
    out = edge(_x(), {"op": _sel(torch.full((8,), 1 / 8))})
    assert out.shape == (2, C, 3, 3)
    out.sum().backward()
    assert edge.activation.weight.grad is not None


def test_partial_channels_run_the_mixture_on_the_op_channels() -> None:
    edge = FactorizedEdge(C, 1, DEFAULT_ACTIVATIONS, partial_channels=2)
    uniform = {"op": _sel(torch.full((8,), 1 / 8)), "activation": _sel(torch.full((9,), 1 / 9))}
    out = edge(_x(), uniform)
    assert out.shape == (2, C, 6, 6)
