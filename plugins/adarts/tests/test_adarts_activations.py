"""The nine candidate activations and the beta-weighted mixture (paper Eq. 3)."""

from __future__ import annotations

import math

import pytest
import torch
from nascore_adarts.activations import (
    ACTIVATIONS,
    DEFAULT_ACTIVATIONS,
    MixedActivation,
    Swish,
    make_activation,
)
from torch import nn

from nascore import ConfigError, Selection

X = torch.tensor([-2.0, -0.5, 0.0, 0.5, 3.0, 7.0])

# Hand-computed values of each activation on X (eval mode: RReLU uses its mean slope).
EXPECTED = {
    "relu": [0.0, 0.0, 0.0, 0.5, 3.0, 7.0],
    "relu6": [0.0, 0.0, 0.0, 0.5, 3.0, 6.0],
    "leaky_relu": [-0.02, -0.005, 0.0, 0.5, 3.0, 7.0],
    "prelu": [-0.5, -0.125, 0.0, 0.5, 3.0, 7.0],  # default slope 0.25
    "rrelu": [-2.0 * 11 / 48, -0.5 * 11 / 48, 0.0, 0.5, 3.0, 7.0],  # (1/8 + 1/3) / 2
    "elu": [math.exp(-2) - 1, math.exp(-0.5) - 1, 0.0, 0.5, 3.0, 7.0],
    "celu": [math.exp(-2) - 1, math.exp(-0.5) - 1, 0.0, 0.5, 3.0, 7.0],  # alpha 1
    "selu": [1.0507009873554805 * 1.6732632423543772 * (math.exp(v) - 1) if v < 0
             else 1.0507009873554805 * v for v in X.tolist()],
    "swish": [v / (1 + math.exp(-v)) for v in X.tolist()],  # b = 1
}


def test_default_set_is_the_papers_nine() -> None:
    assert DEFAULT_ACTIVATIONS == (
        "relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "celu", "selu", "swish"
    )


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_each_activation_matches_hand_computed_values(name: str) -> None:
    act = make_activation(name).eval()
    assert torch.allclose(act(X), torch.tensor(EXPECTED[name]), atol=1e-6)


def test_rrelu_draws_random_slopes_in_training() -> None:
    act = make_activation("rrelu").train()
    slopes = act(-torch.ones(1000)).neg()
    assert slopes.min() >= 1 / 8 and slopes.max() <= 1 / 3 and slopes.std() > 0.01


def test_swish_coefficient_is_learnable_and_gets_gradients() -> None:
    swish = Swish(b=2.0)
    assert [n for n, _ in swish.named_parameters()] == ["b"]
    x = torch.tensor([1.0])
    swish(x).sum().backward()
    s = 1 / (1 + math.exp(-2.0))  # d/db x*sigmoid(bx) = x^2 s (1 - s)
    assert swish.b.grad is not None and swish.b.grad.item() == pytest.approx(s * (1 - s))


def test_prelu_and_swish_are_the_only_ones_with_parameters() -> None:
    with_params = {n for n in ACTIVATIONS if any(make_activation(n).parameters())}
    assert with_params == {"prelu", "swish"}


def test_unknown_activation_is_a_one_line_config_error() -> None:
    with pytest.raises(ConfigError, match="^unknown activation 'gelu'; choose from: relu, relu6"):
        make_activation("gelu")


def test_mixture_equals_hand_computed_weighted_sum() -> None:
    mixed = MixedActivation(["relu", "elu", "swish"]).eval()
    w = torch.tensor([0.5, 0.3, 0.2])
    mixed.selection = Selection(weights=w)
    x = torch.tensor([-1.0, 2.0])
    # relu: [0, 2]; elu: [e^-1 - 1, 2]; swish: [-1 * sigmoid(-1), 2 * sigmoid(2)]
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    expected = [
        0.5 * 0 + 0.3 * (math.exp(-1) - 1) + 0.2 * (-sig(-1)),
        0.5 * 2 + 0.3 * 2 + 0.2 * 2 * sig(2),
    ]
    assert torch.allclose(mixed(x), torch.tensor(expected), atol=1e-6)


def test_mixture_weights_get_gradients() -> None:
    mixed = MixedActivation(DEFAULT_ACTIVATIONS).eval()
    beta = torch.zeros(9, requires_grad=True)
    mixed.selection = Selection(weights=torch.softmax(beta, 0))
    mixed(X).sum().backward()
    assert beta.grad is not None and beta.grad.abs().sum() > 0


class _Counting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x


def _counting_mixture(n: int) -> tuple[MixedActivation, list[_Counting]]:
    mixed = MixedActivation(["relu"] * n)
    counters = [_Counting() for _ in range(n)]
    mixed.candidates = nn.ModuleList(counters)
    return mixed, counters


def test_only_the_sampled_activation_runs_with_straight_through_weight() -> None:
    mixed = MixedActivation(DEFAULT_ACTIVATIONS).eval()
    probs = torch.softmax(torch.randn(9), 0).requires_grad_()
    hard = torch.zeros(9)
    hard[8] = 1.0
    weights = hard - probs.detach() + probs
    mixed.selection = Selection(weights=weights, index=8)
    out = mixed(X)
    assert torch.allclose(out, torch.tensor(EXPECTED["swish"]), atol=1e-6)
    out.sum().backward()
    assert probs.grad is not None and probs.grad[8] != 0 and probs.grad[:8].abs().sum() == 0

    counted, counters = _counting_mixture(4)
    counted.selection = Selection(weights=torch.ones(4), index=2)
    counted(X)
    assert [c.calls for c in counters] == [0, 0, 1, 0]


def test_masked_activations_never_run() -> None:
    mixed, counters = _counting_mixture(4)
    mixed.selection = Selection(
        weights=torch.full((4,), 0.25), mask=torch.tensor([True, False, True, False])
    )
    assert torch.allclose(mixed(X), 0.5 * X)
    assert [c.calls for c in counters] == [1, 0, 1, 0]


def test_forward_without_selection_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="before a selection was set"):
        MixedActivation(["relu"])(X)
