"""The DARTS second-order ("unrolled") architecture gradient.

For architecture parameters ``a``, weights ``w``, the virtual step ``w' = w - xi * dL_train/dw``
and ``v = dL_arch(w', a)/dw'``::

    grad_a = dL_arch(w', a)/da - xi * (dL_train(w+, a)/da - dL_train(w-, a)/da) / (2 * eps)

with ``w+- = w +- eps * v`` and ``eps = 0.01 / |v|`` (a finite-difference Hessian-vector
product). The supernet's own parameters and buffers are left untouched: every forward pass runs
through :func:`torch.func.functional_call` on copies. In a data-parallel search the weight
gradients of the virtual step and ``v`` are averaged over the processes (``reduce``), so every
process unrolls the same global step; the caller averages the returned gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import attrs
import torch
from torch import nn
from torch.func import functional_call

from nascore.space import EdgeWeights

Batch = tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
CheckFn = Callable[[torch.Tensor, str], None]
ReduceFn = Callable[[Sequence[torch.Tensor]], list[torch.Tensor]]


def differentiable_tensors(selections: Mapping[str, EdgeWeights]) -> list[torch.Tensor]:
    """The tensors of ``selections`` that carry gradients to the architecture parameters."""
    return [
        t
        for ew in selections.values()
        for t in (ew.weights, ew.edge_scale)
        if t is not None and t.requires_grad
    ]


def detach_selections(selections: Mapping[str, EdgeWeights]) -> dict[str, EdgeWeights]:
    """A copy of ``selections`` cut from the architecture parameters' graph."""
    return {
        name: attrs.evolve(
            ew,
            weights=ew.weights.detach(),
            edge_scale=None if ew.edge_scale is None else ew.edge_scale.detach(),
        )
        for name, ew in selections.items()
    }


def _zeros_for_none(grads: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor]) -> list:
    return [torch.zeros_like(t) if g is None else g for g, t in zip(grads, like, strict=True)]


def unrolled_arch_gradients(
    supernet: nn.Module,
    selections: Mapping[str, EdgeWeights],
    arch_params: Sequence[torch.Tensor],
    train_batch: Batch,
    arch_batch: Batch,
    loss_fn: LossFn,
    xi: float,
    check: CheckFn,
    reduce: ReduceFn = list,
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Second-order gradients of the arch loss for ``arch_params``.

    ``selections`` must be built from ``arch_params`` (with gradients); ``check(loss, which)``
    is called on every loss before it is differentiated; ``reduce`` averages weight gradients
    over data-parallel processes (default: unchanged). Returns ``(arch loss, arch logits,
    gradients)``, loss and logits detached.
    """
    names = [name for name, p in supernet.named_parameters() if p.requires_grad]
    weights = [p.detach() for name, p in supernet.named_parameters() if p.requires_grad]
    buffers = {name: b.clone() for name, b in supernet.named_buffers()}

    def loss_at(params: Sequence[torch.Tensor], batch: Batch, sel: Mapping[str, EdgeWeights]):
        x, y = batch
        logits = functional_call(
            supernet, {**dict(zip(names, params, strict=True)), **buffers}, (x, sel)
        )
        return loss_fn(logits, y), logits

    leaves = [w.clone().requires_grad_() for w in weights]
    train_loss, _ = loss_at(leaves, train_batch, detach_selections(selections))
    check(train_loss, "unrolled weights")
    grads = reduce(_zeros_for_none(torch.autograd.grad(train_loss, leaves, allow_unused=True),
                                   weights))
    virtual = [(w - xi * g).requires_grad_() for w, g in zip(weights, grads, strict=True)]

    sel_tensors = differentiable_tensors(selections)
    arch_loss, logits = loss_at(virtual, arch_batch, selections)
    check(arch_loss, "arch")
    found = torch.autograd.grad(arch_loss, [*virtual, *sel_tensors], allow_unused=True)
    v = reduce(_zeros_for_none(found[: len(virtual)], virtual))
    d_sel = _zeros_for_none(found[len(virtual) :], sel_tensors)

    norm = torch.cat([g.flatten() for g in v]).norm()
    if norm > 0:
        eps = 0.01 / norm
        sides = []
        for sign in (1.0, -1.0):
            shifted = [w + sign * eps * g for w, g in zip(weights, v, strict=True)]
            side_loss, _ = loss_at(shifted, train_batch, selections)
            check(side_loss, "unrolled weights")
            side = torch.autograd.grad(side_loss, sel_tensors, allow_unused=True)
            sides.append(_zeros_for_none(side, sel_tensors))
        d_sel = [
            d - xi * (plus - minus) / (2 * eps)
            for d, plus, minus in zip(d_sel, sides[0], sides[1], strict=True)
        ]
    arch_grads = torch.autograd.grad(sel_tensors, arch_params, d_sel, allow_unused=True)
    return arch_loss.detach(), logits.detach(), _zeros_for_none(arch_grads, arch_params)
