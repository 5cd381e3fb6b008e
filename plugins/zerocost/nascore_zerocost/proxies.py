"""The zero-cost proxies as functions of a freshly initialised network (and one minibatch).

Every proxy sums a per-parameter (or per-channel) saliency over the network's *layers*, the
convolutions and linear layers (their ``weight``), as Abdelfattah et al. (ICLR 2021, "Zero-Cost
Proxies for Lightweight NAS", Sec. 3) sum the pruning-at-initialisation saliencies into one
network score. ``loss`` is the mean cross-entropy of the minibatch.

- :func:`synflow`: ``sum theta * dR/dtheta`` with ``R = 1^T (prod |theta|) 1`` -- the network with
  every weight replaced by its absolute value, run in double precision on an all-ones input
  without batch statistics (BatchNorm in eval mode at its initial statistics, the identity);
  no data (Tanaka et al., NeurIPS 2020, "Pruning neural networks without any data by
  iteratively conserving synaptic flow", Eq. 3).
- :func:`grad_norm`: the sum over layers of the Euclidean norm of ``dloss/dW`` (Abdelfattah et al.).
- :func:`snip`: ``sum |theta * dloss/dtheta|`` (Lee et al., ICLR 2019, "SNIP", Eq. 6 before
  normalisation).
- :func:`grasp`: ``sum -theta * (H g)`` with ``g = dloss/dtheta`` and ``H`` the Hessian of the
  loss (Wang et al., ICLR 2020, "GraSP", Eq. 8; Abdelfattah et al.'s sign).
- :func:`fisher`: per channel ``c`` of every layer's output ``a`` with gradient ``g``,
  ``1/(2N) sum_n (sum_{i,j} a_nc g_nc)^2``, summed (Turner et al., ICLR 2020, "BlockSwap", Eq. 4,
  after Theis et al. 2018).
- :func:`jacob_cov`: the eigenvalues ``s`` of the correlation matrix of the input Jacobians
  ``J_n = d(sum f(x_n))/dx_n`` give ``-sum (log(s + k) + 1/(s + k))``, ``k = 1e-5`` (Mellor et al.,
  "Neural Architecture Search without Training", arXiv:2006.04647v1, Sec. 3).
- :func:`naswot`: the binary codes ``c_n`` of every ReLU's input being positive give
  ``K = c c^T + (1 - c)(1 - c)^T`` (the number of units where two inputs agree) and the score
  ``log |det K|`` (Mellor et al., ICML 2021, Eq. 2).
- :func:`params` and :func:`flops`: parameters and multiply-adds (``nascore.costs``), the
  baselines a proxy has to beat.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nascore.costs import count_macs, count_params

#: Regulariser of :func:`jacob_cov` (Mellor et al., arXiv:2006.04647v1: k = 1e-5).
JACOB_K = 1e-5


def layers(network: nn.Module) -> Iterator[nn.Module]:
    """The convolutions and linear layers whose ``weight`` a proxy scores."""
    for module in network.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            yield module


def _weights(network: nn.Module) -> list[torch.Tensor]:
    found = [m.weight for m in layers(network)]
    if not found:
        raise ValueError("the network has no convolution or linear layer to score")
    return found


def _loss_grads(network: nn.Module, x: torch.Tensor, y: torch.Tensor,
                create_graph: bool = False) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The layer weights and the gradients of the minibatch's mean cross-entropy."""
    weights = _weights(network)
    loss = F.cross_entropy(network(x), y)
    grads = torch.autograd.grad(loss, weights, create_graph=create_graph, allow_unused=True)
    return weights, [torch.zeros_like(w) if g is None else g for w, g in zip(weights, grads,
                                                                             strict=True)]


def synflow(network: nn.Module, input_shape: tuple[int, ...]) -> float:
    """Synaptic flow of ``network`` (modified in place: double precision, |weights|, eval mode);
    ``input_shape`` is one image's ``(channels, height, width)``."""
    network.double().eval()
    with torch.no_grad():
        for p in network.parameters():
            p.abs_()
    weights = _weights(network)
    out = network(torch.ones(1, *input_shape, dtype=torch.float64))
    grads = torch.autograd.grad(out.sum(), weights, allow_unused=True)
    return float(sum((w.detach() * g).sum() for w, g in zip(weights, grads, strict=True)
                     if g is not None))


def grad_norm(network: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Sum over layers of the gradient norm."""
    _, grads = _loss_grads(network, x, y)
    return float(sum(g.norm() for g in grads))


def snip(network: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Sum of the connection sensitivities ``|theta * g|``."""
    weights, grads = _loss_grads(network, x, y)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(weights, grads, strict=True)))


def grasp(network: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Sum of ``-theta * Hg`` (one Hessian-gradient product through double backward)."""
    weights, grads = _loss_grads(network, x, y, create_graph=True)
    fixed = [g.detach() for g in grads]
    inner = sum((g * f).sum() for g, f in zip(grads, fixed, strict=True))
    hg = torch.autograd.grad(inner, weights, allow_unused=True)
    return float(sum((-w.detach() * h).sum() for w, h in zip(weights, hg, strict=True)
                     if h is not None))


def fisher(network: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Sum over every layer output channel of the Fisher pruning signal."""
    outputs: list[torch.Tensor] = []

    def keep(_module: nn.Module, _inputs: object, out: torch.Tensor) -> None:
        outputs.append(out)

    hooks = [m.register_forward_hook(keep) for m in layers(network)]
    try:
        loss = F.cross_entropy(network(x), y)
    finally:
        for hook in hooks:
            hook.remove()
    grads = torch.autograd.grad(loss, outputs, allow_unused=True)
    total = 0.0
    for a, g in zip(outputs, grads, strict=True):
        if g is None:
            continue
        per_image = (a.detach() * g).reshape(a.shape[0], a.shape[1], -1).sum(dim=2)  # (N, channels)
        total += float(0.5 * per_image.pow(2).mean(dim=0).sum())
    return total


def jacob_cov(network: nn.Module, x: torch.Tensor) -> float:
    """Mellor et al.'s Jacobian covariance score of the minibatch ``x``."""
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(network(x).sum(), x)
    jacobians = grad.reshape(grad.shape[0], -1).double().cpu().numpy()
    corr = np.nan_to_num(np.corrcoef(jacobians))
    eig = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(eig + JACOB_K) + 1.0 / (eig + JACOB_K)))


def naswot(network: nn.Module, x: torch.Tensor) -> float:
    """``log |det K|`` of the ReLU activation-pattern kernel of the minibatch ``x``."""
    codes: list[torch.Tensor] = []

    def keep(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        codes.append((inputs[0].detach() > 0).reshape(inputs[0].shape[0], -1))

    relus = [m for m in network.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ValueError("naswot reads nn.ReLU modules and the network has none")
    hooks = [m.register_forward_pre_hook(keep) for m in relus]
    try:
        with torch.no_grad():
            network(x)
    finally:
        for hook in hooks:
            hook.remove()
    c = torch.cat(codes, dim=1).double()
    kernel = c @ c.T + (1 - c) @ (1 - c).T
    return float(torch.linalg.slogdet(kernel)[1])


def params(network: nn.Module) -> float:
    """Number of parameters."""
    return float(count_params(network))


def flops(network: nn.Module, input_shape: tuple[int, ...]) -> float:
    """Multiply-adds of one image of ``input_shape``."""
    return float(count_macs(network, torch.zeros(1, *input_shape)))
