"""The proxies' definitions on hand-built networks with hand-computed values, and the
estimators' determinism and refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from nascore_zerocost import proxies
from torch import nn

import nascore

# One image x = (1, 0) of class 0 through logits = W x with W = I: logits (1, 0), softmax
# p = (e, 1) / (e + 1), dloss/dlogits = p - onehot(0) = (-q, q) with q = 1 / (e + 1), and
# dloss/dW = (p - onehot) x^T = [[-q, 0], [q, 0]].
Q = 1 / (math.e + 1)
X, Y = torch.tensor([[1.0, 0.0]]), torch.tensor([0])


def identity_linear() -> nn.Linear:
    layer = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(2))
    return layer


def test_synflow_of_a_linear_chain_is_layers_times_the_path_sum() -> None:
    # R = 1^T |W2| |W1| 1 = |(1, -1, 2)| . (3, 1.5, 1) = 6.5; R is linear in each layer's
    # weights, so sum theta * dR/dtheta = R per layer: 2 layers give 13.
    net = nn.Sequential(nn.Linear(2, 3, bias=False), nn.Linear(3, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -2.0], [0.5, 1.0], [-1.0, 0.0]]))
        net[1].weight.copy_(torch.tensor([[1.0, -1.0, 2.0]]))
    assert proxies.synflow(net, (2,)) == pytest.approx(13.0)


def test_synflow_runs_without_batch_statistics_in_double_precision() -> None:
    # eval-mode BatchNorm at its initial statistics divides by sqrt(1 + eps): no batch statistics
    net = nn.Sequential(nn.Linear(1, 1, bias=False), nn.BatchNorm1d(1), nn.Linear(1, 1, bias=False))
    with torch.no_grad():
        net[0].weight.fill_(-2.0)
        net[2].weight.fill_(3.0)
    assert proxies.synflow(net, (1,)) == pytest.approx(2 * 6.0 / math.sqrt(1 + 1e-5), rel=1e-12)
    assert net[0].weight.dtype == torch.float64


def test_grad_norm_snip_and_fisher_of_one_linear_layer() -> None:
    assert proxies.grad_norm(identity_linear(), X, Y) == pytest.approx(math.sqrt(2) * Q)
    # |W * dloss/dW| keeps the diagonal: |1 * -q| + |1 * 0|
    assert proxies.snip(identity_linear(), X, Y) == pytest.approx(Q)
    # channels of the output a = (1, 0) with gradient (-q, q): 1/2 (1 * -q)^2 + 1/2 (0 * q)^2
    assert proxies.fisher(identity_linear(), X, Y) == pytest.approx(0.5 * Q**2)


def test_grasp_is_minus_theta_times_hessian_gradient() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 3))
    x, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 0, 1])
    shapes = [net[0].weight.shape, net[2].weight.shape]

    def loss(w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(x @ w1.T + net[0].bias)
        return nn.functional.cross_entropy(h @ w2.T + net[2].bias, y)

    def flat_loss(flat: torch.Tensor) -> torch.Tensor:
        n = shapes[0].numel()
        return loss(flat[:n].reshape(shapes[0]), flat[n:].reshape(shapes[1]))

    theta = torch.cat([net[0].weight.detach().flatten(), net[2].weight.detach().flatten()])
    g = torch.autograd.functional.jacobian(flat_loss, theta)
    h = torch.autograd.functional.hessian(flat_loss, theta)
    assert proxies.grasp(net, x, y) == pytest.approx(float(-(theta * (h @ g)).sum()), rel=1e-4)


def test_naswot_counts_agreeing_units() -> None:
    # codes (1, 1) and (0, 0): K = [[2, 0], [0, 2]], log det K = log 4
    net = nn.Sequential(nn.Linear(1, 2, bias=False), nn.ReLU())
    with torch.no_grad():
        net[0].weight.fill_(1.0)
    assert proxies.naswot(net, torch.tensor([[1.0], [-1.0]])) == pytest.approx(math.log(4))


def test_jacob_cov_of_uncorrelated_jacobians() -> None:
    # f(x) = sum W x with x in R^2: every Jacobian is W's column sum, so the correlation matrix
    # of two images is all ones: eigenvalues 0 and 2
    net = nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]]))
    value = proxies.jacob_cov(net, torch.randn(2, 2))
    k = proxies.JACOB_K
    assert value == pytest.approx(-sum(math.log(s + k) + 1 / (s + k) for s in (0.0, 2.0)),
                                  rel=1e-6)


def test_params_and_flops() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 2 * 2, 2))
    assert proxies.params(net) == 3 * 4 * 9 + 4 + 16 * 2 + 2
    assert proxies.flops(net, (3, 2, 2)) == 4 * 2 * 2 * 3 * 9 + 16 * 2


NAMES = ("synflow", "grad_norm", "snip", "grasp", "fisher", "jacob_cov", "naswot", "params",
         "flops")


@pytest.mark.parametrize("name", NAMES)
def test_each_proxy_is_a_deterministic_estimator(name, make_proxy, tiny_space) -> None:
    from nascore_zerocost import estimators

    archs = [tiny_space.sample(np.random.default_rng(s)) for s in range(2)]
    first = [e.score for e in make_proxy(name).estimate_many(archs)]
    estimators._SCORES.clear()
    torch.manual_seed(123)  # the global RNG plays no part
    again = [e.score for e in make_proxy(name).estimate_many(archs)]
    assert first == again
    assert all(math.isfinite(s) for s in first)


def test_the_seed_sets_the_initialisation(make_proxy, tiny_space) -> None:
    arch = tiny_space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_1x1~1|"
                            "+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|")
    assert make_proxy("synflow").estimate(arch).score != \
        make_proxy("synflow", seed=1).estimate(arch).score


def test_a_budget_is_refused_in_one_line(make_proxy, make_context, tiny_space) -> None:
    arch = tiny_space.sample(np.random.default_rng(0))
    with pytest.raises(nascore.ConfigError, match="trains nothing; drop the budget") as caught:
        make_proxy("synflow").estimate(arch, nascore.Budget())
    assert "\n" not in str(caught.value)
    cls = nascore.registry().get("estimator", "snip")
    with pytest.raises(nascore.ConfigError, match="zero-cost proxy"):
        cls(cls.config_cls(), make_context(budget=nascore.Budget()))


def test_a_data_proxy_needs_the_runs_data(tiny_space) -> None:
    from nascore import SearchContext
    from nascore.events import EventLog

    cls = nascore.registry().get("estimator", "snip")
    context = SearchContext(space=tiny_space, seed=0, device=torch.device("cpu"),
                            events=EventLog(None))
    with pytest.raises(nascore.DataError, match="one minibatch"):
        cls(cls.config_cls(), context)
    synflow = nascore.registry().get("estimator", "synflow")
    assert synflow(synflow.config_cls(), context).estimate(
        tiny_space.sample(np.random.default_rng(0))).score > 0
