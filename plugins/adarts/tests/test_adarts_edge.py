"""The A-DARTS supernet edge (paper Eq. 2): beta-mixed activations inside parameterized ops only."""

from __future__ import annotations

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


def test_every_activation_site_of_parameterized_ops_is_the_shared_mixture() -> None:
    edge = FactorizedEdge(C, 1, DEFAULT_ACTIVATIONS)
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


def test_edge_input_activation_is_computed_once_for_all_parameterized_ops() -> None:
    edge = FactorizedEdge(C, 1, DEFAULT_ACTIVATIONS)
    calls = _count_calls(edge.act.inner)
    edge(_x(), {"op": _sel(torch.full((8,), 1 / 8)), "activation": _sel(torch.full((9,), 1 / 9))})
    # once on the edge input, once inside each of the two sep convs
    assert calls == [3] * 9


def test_only_the_sampled_activation_and_op_run() -> None:
    edge = FactorizedEdge(C, 1, DEFAULT_ACTIVATIONS)
    calls = _count_calls(edge.act.inner)
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


def test_sampled_output_equals_the_op_with_that_activation_alone() -> None:
    torch.manual_seed(0)
    edge = FactorizedEdge(C, 1, DEFAULT_ACTIVATIONS).eval()
    x = _x()
    k, a = PRIMITIVES.index("sep_conv_3x3"), DEFAULT_ACTIVATIONS.index("selu")
    out = edge(x, {"op": _sel(torch.ones(8), index=k), "activation": _sel(torch.ones(9), index=a)})
    op = edge.mixed.ops["sep_conv_3x3"]
    selu = nn.SELU()
    h = op[0][3](op[0][2](op[0][1](selu(x))))
    expected = op[1][3](op[1][2](op[1][1](selu(h))))
    assert torch.allclose(out, expected, atol=1e-6)


def test_fixed_edge_uses_its_single_activation_without_a_selection() -> None:
    edge = FactorizedEdge(C, 2, ["prelu"], searched=False)
    assert isinstance(edge.act.inner, nn.PReLU)
    for op in PARAMETERIZED:
        modules = list(edge.mixed.ops[op].named_modules(remove_duplicate=False))
        assert not any(isinstance(m, nn.ReLU) for _, m in modules)
        assert any(m is edge.act for _, m in modules)
    out = edge(_x(), {"op": _sel(torch.full((8,), 1 / 8))})
    assert out.shape == (2, C, 3, 3)
    out.sum().backward()
    assert edge.act.inner.weight.grad is not None


def test_partial_channels_run_the_mixture_on_the_op_channels() -> None:
    edge = FactorizedEdge(C, 1, DEFAULT_ACTIVATIONS, partial_channels=2)
    uniform = {"op": _sel(torch.full((8,), 1 / 8)), "activation": _sel(torch.full((9,), 1 / 9))}
    out = edge(_x(), uniform)
    assert out.shape == (2, C, 6, 6)
