"""The released code's soft Gumbel sampling, and which op a forward pass "sampled" on each edge."""

from __future__ import annotations

import torch

from nascore import EdgeWeights, NonFiniteLossError
from nascore.strategies.sampling import MAX_RESAMPLES, gumbel_noise, masked_logits


def soft_gumbel(
    logits: torch.Tensor,
    tau: float,
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Gumbel-softmax weights ``softmax((log_softmax(logits) + G) / tau)`` over the unpruned
    candidates (pruned: exactly 0), differentiable in ``logits``; every op they weight runs."""
    if tau <= 0:
        raise ValueError(f"Gumbel temperature must be positive, got {tau}")
    log_p = torch.log_softmax(masked_logits(logits, mask), dim=-1)
    for _ in range(MAX_RESAMPLES):  # noise of -log(0) = inf happens about once in 1e7 draws
        noise = gumbel_noise(log_p.shape, generator).to(log_p.device, log_p.dtype)
        probs = torch.softmax((log_p + noise) / tau, dim=-1)
        if bool(torch.isfinite(probs).all()):
            return probs
    raise NonFiniteLossError(
        f"Gumbel-softmax weights were not finite {MAX_RESAMPLES} times in a row; the "
        "architecture parameters have diverged, lower the arch learning rate"
    )


def sampled_index(weights: EdgeWeights) -> torch.Tensor:
    """Per edge, the op a forward pass sampled: the hard sample, or the largest soft weight."""
    if weights.index is not None:
        return weights.index
    return weights.weights.detach().argmax(dim=-1)
