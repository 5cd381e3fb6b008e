"""The operation importance indicator of EoiNAS (Eq. 6-7) and the per-op statistics behind it.

For every edge ``e`` and candidate op ``o`` of a decision group::

    C[e, o] = Ca[e, o] / Ce[e, o]                     (Eq. 6; defined as 0 where Ce[e, o] = 0)
    I[e, o] = softmax(alpha[e])[o] + lambda * C[e, o]  (Eq. 7; lambda = 0.5 in the paper)

The softmax runs over the unpruned candidates only (the paper shrinks the op set O as it prunes);
pruned candidates get ``I = -inf``.

What the counters hold (:class:`OpStatistics`):

* ``Ce[e, o]``: the number of training iterations (weights steps) in which ``o`` was the op
  sampled on ``e``.
* ``Ca[e, o]`` (paper): the sum, over the architecture steps in which ``o`` was the op sampled on
  ``e``, of the top-1 accuracy of that step's validation batch. With one architecture step per
  training iteration, ``C`` is then about the op's mean validation accuracy when sampled, on the
  same 0..1 scale as the softmax term.
* ``Ca[e, o]`` (the authors' released code, ``latest=True``): the top-1 accuracy of the latest
  validation batch in which ``o`` was sampled on ``e`` (overwritten, not accumulated).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from nascore.strategies.sampling import masked_logits, masked_softmax


def accuracy_ratio(ca: torch.Tensor, ce: torch.Tensor) -> torch.Tensor:
    """``C = Ca / Ce`` element-wise (Eq. 6), ``0`` where ``Ce = 0`` (never divides by zero)."""
    ca = ca.to(torch.float64)
    ce = ce.to(torch.float64)
    return torch.where(ce > 0, ca / ce.clamp(min=1.0), torch.zeros_like(ca))


def importance(
    alpha: torch.Tensor,
    ca: torch.Tensor,
    ce: torch.Tensor,
    lam: float,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """``I = softmax(alpha) + lam * Ca / Ce`` per edge and op (Eq. 7), float64.

    The softmax is over the unpruned candidates of each row (``mask`` ``True`` = kept); pruned
    candidates get ``-inf``.
    """
    alpha = alpha.detach().to("cpu", torch.float64)
    mask = None if mask is None else mask.detach().to("cpu", torch.bool)
    probs = masked_softmax(alpha, mask)
    return masked_logits(probs + lam * accuracy_ratio(ca.cpu(), ce.cpu()), mask)


class OpStatistics:
    """``Ca`` and ``Ce`` of one ``[edges, candidates]`` decision group (see the module doc).

    ``latest`` selects the released code's ``Ca`` (latest validation accuracy) over the paper's
    (accumulated validation accuracy).
    """

    def __init__(self, shape: tuple[int, int], latest: bool = False) -> None:
        self.latest = latest
        self.ca = torch.zeros(shape, dtype=torch.float64)
        self.ce = torch.zeros(shape, dtype=torch.int64)

    def record_training(self, sampled: torch.Tensor) -> None:
        """One training iteration: ``Ce[e, sampled[e]] += 1`` for every edge ``e``."""
        rows = torch.arange(len(sampled))
        self.ce[rows, sampled.cpu()] += 1

    def record_validation(self, sampled: torch.Tensor, accuracy: float) -> None:
        """One validation batch of top-1 ``accuracy`` (0..1) with op ``sampled[e]`` on edge
        ``e``: added to ``Ca`` (paper) or replacing it (``latest``)."""
        rows, cols = torch.arange(len(sampled)), sampled.cpu()
        if self.latest:
            self.ca[rows, cols] = accuracy
        else:
            self.ca[rows, cols] += accuracy

    def ratio(self) -> torch.Tensor:
        """``C = Ca / Ce`` (0 where ``Ce = 0``)."""
        return accuracy_ratio(self.ca, self.ce)

    def reset(self) -> None:
        """Zero both counters (the released code does this after every pruning stage)."""
        self.ca.zero_()
        self.ce.zero_()

    def state_dict(self) -> dict[str, Any]:
        return {"ca": self.ca.clone(), "ce": self.ce.clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.ca = state["ca"].to(torch.float64).clone()
        self.ce = state["ce"].to(torch.int64).clone()
