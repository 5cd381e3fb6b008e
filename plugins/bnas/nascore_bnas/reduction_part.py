"""BNAS's performance-based search-space reduction (Algorithm 1) as a part of the one-shot loop.

The search follows :func:`~nascore_bnas.plan.epoch_plan`: ``L`` epochs of the strategy's own
search (PC-DARTS under ``bnas``; the strategy's weights-only warm-up is part of them), then one
*stage* per op removed from every edge while ``K > 1``:

* before the stage's first sampling epoch, ``O_smaller`` (per edge the ``ceil(K/2)`` remaining
  ops with the smallest alpha) is selected;
* ``T`` rounds of ``ceil(K/2)`` sampling epochs: each epoch trains one architecture, an op of
  ``O_smaller`` per edge drawn without replacement within the round (one-hot edge weights with
  ``index`` set, so only the sampled op runs), with no architecture steps; its accuracy on the
  arch split (the loop's end-of-epoch validation, in [0, 1], over all processes of a
  data-parallel search, so every process reduces alike) goes to the sampled ops;
* at the end of the stage's last sampling epoch, Eq. 2-4 update the selection likelihoods and
  Eq. 5 drops the least likely op of every edge (``none`` is never an edge's last op); dropped
  ops leave the compute graph (the search's masks) and every drop is a ``reduce`` event;
* ``V`` epochs of the strategy's own search follow.

The part needs exactly the plan's number of epochs (``L + T * sum ceil(K/2) + V * (K - 1)``,
69 with the paper's values) and refuses other run lengths. Its state (masks, likelihoods,
``O_smaller``, the stage's accuracies, the events) is checkpointed, and the sampled architectures
are a pure function of the seed, the stage and the round, so a resumed search reduces exactly
like an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import torch
import torch.nn.functional as F

from nascore import ConfigError, DecisionGroup, EdgeWeights, IncompatibleError
from nascore.config import field, non_negative, positive
from nascore.oneshot import Part
from nascore_bnas.plan import SAMPLE, PlannedEpoch, epoch_plan, epoch_sample
from nascore_bnas.reduction import OperationReduction

#: Role of the decision groups the reduction shrinks.
OP_ROLE = "op"
_ALGORITHM = "BNAS, Algorithm 1 and Experiment Protocol"


@attrs.frozen
class ReductionConfig:
    """Settings of the search-space reduction (defaults: the paper's CIFAR-10 search)."""

    reduction_after: int = field(
        5, f"L: epochs of the strategy's search before the reduction, its weights-only "
        f"warmup_epochs included (source: {_ALGORITHM}: L = 5, the first 3 weights only)",
        validator=positive,
    )
    reduction_rounds: int = field(
        3, f"T: sampling rounds per reduction stage, each samples every op of O_smaller once "
        f"per edge (source: {_ALGORITHM}: T = 3)", validator=positive,
    )
    reduction_search_epochs: int = field(
        1, f"V: epochs of the strategy's search after each reduction stage (source: "
        f"{_ALGORITHM}: V = 1)", validator=non_negative,
    )


class SpaceReduction(Part):
    """Algorithm 1's sampling, Eq. 2-5 and pruning on the strategy's op groups (see the module
    docstring). Public attributes: ``groups`` (the op groups), ``plan`` (one
    :class:`~nascore_bnas.plan.PlannedEpoch` per epoch), ``reduction`` (the
    :class:`~nascore_bnas.reduction.OperationReduction` state), ``sample`` (the architecture of
    the current sampling epoch: group -> ``[edges]`` op columns, else ``None``), ``history``
    (every ``reduce`` event)."""

    name = "space_reduction"
    config_cls = ReductionConfig

    def __init__(self, search: Any) -> None:
        super().__init__(search)
        self.groups: list[DecisionGroup] = [g for g in search.groups if g.role == OP_ROLE]
        if not self.groups:
            raise IncompatibleError(
                f"the space reduction shrinks decision groups of role '{OP_ROLE}', and space "
                f"{search.context.space.name} has none; use a space with op choices (e.g. bnas)"
            )
        self.plan = plan_for(search, self.config, self.groups)
        self.reduction = OperationReduction(
            {g.name: g.shape for g in self.groups}, {g.name: g.zero_index for g in self.groups}
        )
        #: The stage whose ``O_smaller`` is selected (-1: none yet).
        self.stage_begun = -1
        self.sample: dict[str, torch.Tensor] | None = None
        self.history: list[dict[str, Any]] = []

    # -- the plan ------------------------------------------------------------------------------
    def begin_epoch(self, epoch: int) -> None:
        """Select ``O_smaller`` before a stage's first sampling epoch; draw the epoch's sample."""
        planned = self.plan[epoch]
        self.sample = None
        if planned.kind != SAMPLE:
            return
        if self.stage_begun != planned.stage:
            for g in self.groups:
                self.reduction.masks[g.name] = self.search.params.masks[g.name].cpu().clone()
            self.reduction.begin_stage(self._alphas())
            self.stage_begun = planned.stage
        self.sample = epoch_sample(self.reduction.smaller, self.search.context.seed, planned)

    def edge_weights(self, group: DecisionGroup, weights: EdgeWeights) -> EdgeWeights:
        """In a sampling epoch, the sampled op of every edge alone, with weight 1."""
        if self.sample is None or group.name not in self.sample:
            return weights
        index = self.sample[group.name].to(weights.weights.device)
        one_hot = F.one_hot(index, group.shape[1]).to(weights.weights.dtype)
        return attrs.evolve(weights, weights=one_hot, index=index)

    def arch_steps(self, epoch: int) -> bool:
        """No architecture steps in sampling epochs (nor in the weights-only warm-up)."""
        return self.plan[epoch].arch_step

    def end_epoch(self, epoch: int, metrics: dict[str, Any]) -> None:
        """Give a sampling epoch's validation accuracy to its ops; reduce after a stage's last
        sampling epoch. Adds ``sampled``, ``sampled_accuracy`` and ``remaining_ops``."""
        planned = self.plan[epoch]
        if planned.kind == SAMPLE and self.sample is not None:
            accuracy = float(metrics["valid_acc"])
            self.reduction.record(self.sample, accuracy)
            metrics["sampled"] = {
                g.name: [g.candidates[int(c)] for c in self.sample[g.name]] for g in self.groups
            }
            metrics["sampled_accuracy"] = accuracy
            if planned.ends_sampling:
                self.reduce(epoch, planned)
        metrics["remaining_ops"] = {
            g.name: self.search.params.masks[g.name].sum(dim=1).tolist() for g in self.groups
        }

    def reduce(self, epoch: int, planned: PlannedEpoch) -> list[dict[str, Any]]:
        """Eq. 4-5 on every op group: update the likelihoods, drop the least likely op per edge,
        prune it from the search; log and return the ``reduce`` events."""
        masks = {g.name: self.reduction.masks[g.name].clone() for g in self.groups}
        means = {g.name: self.reduction.sums[g.name] / self.reduction.counts[g.name]
                 for g in self.groups}
        smaller = {g.name: self.reduction.smaller[g.name].clone() for g in self.groups}
        dropped = self.reduction.end_stage(self._alphas())
        events = []
        for g in self.groups:
            self.search.params.set_mask(g.name, self.reduction.masks[g.name])
            s = self.reduction.likelihood[g.name]
            for edge, column in enumerate(dropped[g.name].tolist()):
                if column < 0:
                    continue
                kept = masks[g.name][edge].nonzero().flatten().tolist()
                events.append({
                    "type": "reduce",
                    "epoch": epoch,
                    "stage": planned.stage,
                    "ops_before": len(kept),
                    "group": g.name,
                    "edge": g.edges[edge],
                    "op": g.candidates[column],
                    "likelihood": float(s[edge, column]),
                    "likelihoods": {g.candidates[c]: float(s[edge, c]) for c in kept},
                    "mean_accuracy": {
                        g.candidates[c]: float(means[g.name][edge, c])
                        for c in smaller[g.name][edge].nonzero().flatten().tolist()
                    },
                    "remaining": [g.candidates[c] for c in kept if c != column],
                })
        for event in events:
            self.search.context.events.log(event)
        self.history += events
        return events

    def _alphas(self) -> dict[str, torch.Tensor]:
        return {g.name: self.search.params.alphas[g.name].detach().cpu() for g in self.groups}

    # -- derivation ------------------------------------------------------------------------------
    def scores(self, scores: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Op-group scores times each edge's share of the softmax over *all* its alphas, so that
        once ops are dropped an edge's strength is what its surviving ops weigh in the full op
        set (PC-DARTS's derivation over every op), not 1 for every single-op edge."""
        out = dict(scores)
        with torch.no_grad():
            for g in self.groups:
                full = torch.softmax(self.search.params.alphas[g.name].detach(), dim=-1)
                kept = (full * self.search.params.masks[g.name]).sum(dim=1, keepdim=True)
                out[g.name] = scores[g.name] * kept.cpu()
        return out

    # -- state -----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "reduction": self.reduction.state_dict(),
            "stage_begun": self.stage_begun,
            "history": [dict(e) for e in self.history],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.reduction.load_state_dict(state["reduction"])
        self.stage_begun = int(state["stage_begun"])
        self.history = [dict(e) for e in state["history"]]


def plan_for(search: Any, config: Any, groups: list[DecisionGroup]) -> tuple[PlannedEpoch, ...]:
    """The epoch plan of ``search``: ``K`` is the largest op group's number of candidates, the
    weights-only epochs are the strategy's warm-up. One-line :class:`ConfigError` when the
    warm-up does not fit in ``L`` or the run's epochs differ from the plan's."""
    c = config
    warmup = search.warmup_epochs
    if warmup > c.reduction_after:
        raise ConfigError(
            f"strategy.warmup_epochs ({warmup}) is above the epochs before the space reduction "
            f"(reduction_after = L = {c.reduction_after}); lower warmup_epochs or raise "
            "reduction_after"
        )
    ops = max(len(g.candidates) for g in groups)
    plan = epoch_plan(
        c.reduction_after, warmup, c.reduction_rounds, c.reduction_search_epochs, ops
    )
    if len(plan) != search.num_epochs:
        raise ConfigError(
            f"the space reduction (L={c.reduction_after}, T={c.reduction_rounds}, "
            f"V={c.reduction_search_epochs}, K={ops}) takes {len(plan)} epochs, the run has "
            f"{search.num_epochs}; set strategy.epochs={len(plan)}"
        )
    return plan
