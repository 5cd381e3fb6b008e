"""Sampling policies over a decision group's candidates: masked softmax, Gumbel straight-through.

Both take a ``[edges, candidates]`` tensor of architecture logits and an optional boolean mask of
the same shape (``False`` = pruned). Pruned candidates get weight 0, receive no gradient and are
never sampled.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nascore.errors import NonFiniteLossError

#: How often :func:`gumbel_straight_through` redraws noise that gave non-finite probabilities.
MAX_RESAMPLES = 100


def masked_logits(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``logits`` with pruned candidates set to ``-inf``."""
    if mask is None:
        return logits
    return logits.masked_fill(~mask, float("-inf"))


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Row-wise softmax over the unpruned candidates; pruned ones get exactly 0."""
    return torch.softmax(masked_logits(logits, mask), dim=-1)


def gumbel_noise(shape: torch.Size, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard Gumbel noise ``-log(E)``, ``E ~ Exp(1)``, drawn on the CPU from ``generator``."""
    return -torch.empty(shape).exponential_(generator=generator).log()


def gumbel_probabilities(
    logits: torch.Tensor,
    tau: float,
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``softmax((log_softmax(logits) + G) / tau)`` over the unpruned candidates (pruned: 0),
    differentiable in ``logits``; noise that gives non-finite values is redrawn."""
    if tau <= 0:
        raise ValueError(f"Gumbel temperature must be positive, got {tau}")
    log_p = torch.log_softmax(masked_logits(logits, mask), dim=-1)
    for _ in range(MAX_RESAMPLES):  # noise of -log(0) = inf happens about once in 1e7 draws
        noise = gumbel_noise(log_p.shape, generator).to(log_p.device, log_p.dtype)
        probs = torch.softmax((log_p + noise) / tau, dim=-1)
        if bool(torch.isfinite(probs).all()):
            return probs
    raise NonFiniteLossError(
        f"Gumbel sampling gave non-finite probabilities {MAX_RESAMPLES} times in a row; "
        "the architecture parameters have diverged, lower the arch learning rate"
    )


def gumbel_straight_through(
    logits: torch.Tensor,
    tau: float,
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One candidate per row by the Gumbel-max trick, with straight-through soft gradients (GDAS).

    The sampled index is the argmax of :func:`gumbel_probabilities` and the returned weights are
    ``one_hot - probs.detach() + probs``: exactly one-hot in the forward pass, the gradient of
    ``probs`` in the backward pass. Returns ``(weights, index)``.
    """
    probs = gumbel_probabilities(logits, tau, mask, generator)
    index = probs.argmax(dim=-1)
    hard = F.one_hot(index, probs.shape[-1]).to(probs.dtype)
    return hard - probs.detach() + probs, index
