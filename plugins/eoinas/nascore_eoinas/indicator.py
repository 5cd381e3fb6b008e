"""The operation importance indicator of EoiNAS (Eq. 6-7), the per-op statistics behind it, and
the part that keeps them during a search.

For every edge ``e`` and candidate op ``o`` of an op group::

    C[e, o] = Ca[e, o] / Ce[e, o]                     (Eq. 6; defined as 0 where Ce[e, o] = 0)
    I[e, o] = softmax(alpha[e])[o] + lambda * C[e, o]  (Eq. 7; lambda = 0.5 in the paper)

The softmax runs over the unpruned candidates only (the paper shrinks the op set O as it prunes);
pruned candidates get ``I = -inf``.

Eq. 6 has two readings, both offered (``strategy.latest_accuracy``):

* ``Ce[e, o]``: the number of training iterations (weights steps) in which ``o`` was the op
  sampled on ``e`` (both readings).
* ``Ca[e, o]`` (paper, the default): the sum, over the architecture steps in which ``o`` was
  sampled on ``e``, of the top-1 accuracy of that step's validation batch. With one architecture
  step per training iteration, ``C`` is then the op's mean validation accuracy when sampled, on
  the same 0..1 scale as the softmax term, which is what Eq. 7 adds it to.
* ``Ca[e, o]`` (the authors' released code): the top-1 accuracy of the latest validation batch
  in which ``o`` was sampled on ``e`` (overwritten, not accumulated), so ``C`` is that accuracy
  divided by the sample count; the code also restarts ``Ce`` after every pruning stage
  (``strategy.reset_counts_after_prune``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from nascore import EdgeWeights
from nascore.oneshot import Part, StepRecord
from nascore.oneshot.sampling import masked_logits, masked_softmax
from nascore_eoinas.config import IndicatorConfig


def accuracy_ratio(ca: torch.Tensor, ce: torch.Tensor) -> torch.Tensor:
    """``C = Ca / Ce`` element-wise (Eq. 6), ``0`` where ``Ce = 0`` (never divides by zero)."""
    ca = ca.to(torch.float64)
    ce = ce.to(torch.float64)
    return torch.where(ce > 0, ca / ce.clamp(min=1.0), torch.zeros_like(ca))


def importance(alpha: torch.Tensor, ca: torch.Tensor, ce: torch.Tensor, lam: float,
               mask: torch.Tensor | None = None) -> torch.Tensor:
    """``I = softmax(alpha) + lam * Ca / Ce`` per edge and op (Eq. 7), float64.

    The softmax is over the unpruned candidates of each row (``mask`` ``True`` = kept); pruned
    candidates get ``-inf``.
    """
    alpha = alpha.detach().to("cpu", torch.float64)
    mask = None if mask is None else mask.detach().to("cpu", torch.bool)
    probs = masked_softmax(alpha, mask)
    return masked_logits(probs + lam * accuracy_ratio(ca.cpu(), ce.cpu()), mask)


def sampled_index(weights: EdgeWeights) -> torch.Tensor:
    """Per edge, the op a forward pass sampled: the hard sample, or the largest soft weight."""
    if weights.index is not None:
        return weights.index
    return weights.weights.detach().argmax(dim=-1)


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

    def state_dict(self) -> dict[str, Any]:
        return {"ca": self.ca.clone(), "ce": self.ce.clone()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.ca = state["ca"].to(torch.float64).clone()
        self.ce = state["ce"].to(torch.int64).clone()


class ImportanceIndicator(Part):
    """EoiNAS's indicator over the op groups: ``Ce`` on weights steps (after the warm-up),
    ``Ca`` on architecture steps, the indicator as the derivation scores of the op groups (other
    groups keep theirs) and in the epoch metrics."""

    name = "importance_indicator"
    config_cls = IndicatorConfig

    def __init__(self, search: Any) -> None:
        super().__init__(search)
        self.groups = search.op_groups("the importance indicator")
        self.stats = {
            g.name: OpStatistics(g.shape, latest=self.config.latest_accuracy) for g in self.groups
        }
        self.seen_pruned = self._pruned()

    def _pruned(self) -> int:
        return sum(int((~self.search.masks[g.name]).sum()) for g in self.groups)

    def begin_epoch(self, epoch: int) -> None:
        """Restart ``Ce`` if candidates were pruned since (``reset_counts_after_prune``)."""
        pruned = self._pruned()
        if self.config.reset_counts_after_prune and pruned != self.seen_pruned:
            for stats in self.stats.values():
                stats.ce.zero_()
        self.seen_pruned = pruned

    def after_weights_step(self, record: StepRecord) -> None:
        """``Ce``: count the op sampled on every edge (from the first architecture epoch on)."""
        if self.search.in_warmup(record.epoch):
            return
        for name, stats in self.stats.items():
            stats.record_training(sampled_index(record.selections[name]))

    def after_arch_step(self, record: StepRecord) -> None:
        """``Ca``: credit the validation batch's accuracy (averaged over the processes of a
        data-parallel search) to the op sampled on every edge of the op groups this
        architecture step updates (their stage). ``Ce`` needs no reduction: the sampled ops
        are the same on every process."""
        accuracy = float(self.search.all_reduce(torch.tensor([record.accuracy]).double())[0])
        for group in (g for g in self.groups if g.stage == record.stage):
            index = sampled_index(record.selections[group.name])
            self.stats[group.name].record_validation(index, accuracy)

    def indicator(self, group: str) -> torch.Tensor:
        """``I`` of op group ``group`` (float64, CPU, ``-inf`` for pruned ops)."""
        stats = self.stats[group]
        return importance(
            self.search.alphas[group], stats.ca, stats.ce, self.config.indicator_lambda,
            self.search.masks[group],
        )

    def scores(self, scores: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The indicator for the op groups (float64), the given scores for the others."""
        return {**scores, **{g.name: self.indicator(g.name) for g in self.groups}}

    def end_epoch(self, epoch: int, metrics: dict[str, Any]) -> None:
        """The indicator, ``Ca`` and ``Ce`` of the op groups (before this epoch's pruning)."""
        metrics["indicator"] = {g.name: self.indicator(g.name) for g in self.groups}
        metrics["ca"] = {name: s.ca.clone() for name, s in self.stats.items()}
        metrics["ce"] = {name: s.ce.clone() for name, s in self.stats.items()}

    def state_dict(self) -> dict[str, Any]:
        return {
            "stats": {name: s.state_dict() for name, s in self.stats.items()},
            "seen_pruned": self.seen_pruned,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, stats in state["stats"].items():
            self.stats[name].load_state_dict(stats)
        self.seen_pruned = int(state["seen_pruned"])
