"""The one-shot base: masked softmax, the unrolled gradient, masks, hooks, state and DARTS."""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from nascore.space import EdgeWeights
from nascore.strategies.sampling import masked_softmax
from nascore.strategies.unrolled import unrolled_arch_gradients


def test_masked_softmax_zeroes_pruned_candidates_and_renormalises():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0]], requires_grad=True)
    mask = torch.tensor([[True, False, True, True], [False, False, True, True]])
    probs = masked_softmax(logits, mask)
    assert torch.allclose(probs[0], torch.tensor([1 / 3, 0.0, 1 / 3, 1 / 3]))
    e = torch.tensor([3.0, 4.0]).exp()
    assert torch.allclose(probs[1], torch.tensor([0.0, 0.0, e[0] / e.sum(), e[1] / e.sum()]))
    probs[:, 1].sum().backward()
    assert torch.all(logits.grad == 0)
    assert torch.equal(masked_softmax(logits), torch.softmax(logits, -1))


class ToySupernet(nn.Module):
    """Two candidate ops on one edge, mixed by the group "g"'s weights."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.ops = nn.ModuleList([nn.Linear(3, 2), nn.Linear(3, 2)]).double()

    def forward(self, x: torch.Tensor, weights: dict[str, EdgeWeights]) -> torch.Tensor:
        w = weights["g"].weights[0]
        return sum(w[k] * torch.tanh(op(x)) for k, op in enumerate(self.ops))


def _batches():
    gen = torch.Generator().manual_seed(1)
    make = lambda: (torch.randn(8, 3, generator=gen, dtype=torch.float64),  # noqa: E731
                    torch.randint(0, 2, (8,), generator=gen))
    return make(), make()


def test_unrolled_gradient_matches_the_exact_second_order_gradient():
    net = ToySupernet()
    train, arch = _batches()
    xi = 0.5
    alpha = torch.tensor([[0.3, -0.2]], dtype=torch.float64, requires_grad=True)
    loss_fn = nn.functional.cross_entropy

    selections = {"g": EdgeWeights(weights=torch.softmax(alpha, -1))}
    _, _, (approx,) = unrolled_arch_gradients(
        net, selections, [alpha], train, arch, loss_fn, xi, check=lambda loss, which: None
    )

    # Exact: d/d alpha of L_arch(w - xi * dL_train(w, alpha)/dw, alpha), by double backward.
    params = dict(net.named_parameters())
    sel = {"g": EdgeWeights(weights=torch.softmax(alpha, -1))}
    train_loss = loss_fn(functional_call(net, params, (train[0], sel)), train[1])
    grads = torch.autograd.grad(train_loss, list(params.values()), create_graph=True)
    virtual = {n: p - xi * g for (n, p), g in zip(params.items(), grads)}
    arch_loss = loss_fn(functional_call(net, virtual, (arch[0], sel)), arch[1])
    (exact,) = torch.autograd.grad(arch_loss, [alpha])

    first_order = torch.autograd.grad(
        loss_fn(net(arch[0], {"g": EdgeWeights(torch.softmax(alpha, -1))}), arch[1]), [alpha]
    )[0]
    assert not torch.allclose(exact, first_order, rtol=1e-2)  # the Hessian term matters here
    assert torch.allclose(approx, exact, rtol=1e-3, atol=1e-7)
    # The supernet itself is untouched by the virtual steps.
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), ToySupernet().parameters()))
