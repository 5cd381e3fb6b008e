"""BNAS's performance-based search-space reduction (Algorithm 1) as a part of the one-shot loop.

The search follows :func:`~nascore_bnas.plan.epoch_plan`: ``L`` epochs of the strategy's own
search (PC-DARTS under ``bnas``; the first ``reduction_weights_only`` of them train the weights
only), then one *stage* per op removed from every edge while ``K > 1``:

* before the stage's first sampling epoch, ``O_smaller`` (per edge the ``ceil(K/2)`` remaining
  ops with the smallest alpha) is selected;
* ``T`` rounds of ``ceil(K/2)`` sampling epochs: each epoch trains one architecture, an op of
  ``O_smaller`` per edge drawn without replacement within the round (one-hot edge weights with
  ``index`` set, so only the sampled op runs), with no architecture steps; its accuracy on
  ``reduction_valid_images`` fixed images of the arch split (in [0, 1], over all processes of a
  data-parallel search, so every process reduces alike) goes to the sampled ops;
* at the end of the stage's last sampling epoch, Eq. 2-4 update the selection likelihoods and
  Eq. 5 drops the least likely op of every edge (``none`` is never an edge's last op); dropped
  ops leave the compute graph (the search's masks) and every drop is a ``reduce`` event;
* ``V`` epochs of the strategy's own search follow.

Epochs after the first ``L`` train at ``reduction_batch_size`` (the paper's 400). The loop runs
the plan's number of epochs (``L + T * sum ceil(K/2) + V * (K - 1)``, 69 with the paper's
values, :meth:`SpaceReduction.planned_epochs`); when ``strategy.epochs`` differs, each planned
epoch trains ``strategy.epochs / 69`` of a pass over the weights split (at least one step), so
``--epochs`` scales the whole plan. Its state (masks, likelihoods,
``O_smaller``, the stage's accuracies, the events) is checkpointed, and the sampled architectures
are a pure function of the seed, the stage and the round, so a resumed search reduces exactly
like an uninterrupted one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import attrs
import torch
import torch.nn.functional as F

from nascore import ConfigError, DecisionGroup, EdgeWeights, IncompatibleError
from nascore.config import field, non_negative, positive
from nascore.oneshot import Part
from nascore_bnas.plan import SAMPLE, WARMUP, PlannedEpoch, epoch_plan, epoch_sample
from nascore_bnas.reduction import OperationReduction

#: Role of the decision groups the reduction shrinks.
OP_ROLE = "op"
_ALGORITHM = "BNAS, Algorithm 1 and Experiment Protocol"
log = logging.getLogger("nascore")


def _within_l(inst: Any, attribute: attrs.Attribute, value: int) -> None:
    if value > inst.reduction_after:
        raise ConfigError(
            f"{attribute.name} ({value}) is above the epochs before the space reduction "
            f"(reduction_after = L = {inst.reduction_after}); lower it or raise reduction_after"
        )


@attrs.frozen
class ReductionConfig:
    """Settings of the search-space reduction (defaults: the paper's CIFAR-10 search)."""

    reduction_after: int = field(
        5, f"L: epochs of the strategy's search before the reduction (source: {_ALGORITHM}: "
        "L = 5)", validator=positive,
    )
    reduction_weights_only: int = field(
        3, f"how many of the L epochs, from the first, train without architecture steps (source: "
        f"{_ALGORITHM}: 'only "
        "allow the network parameters ... to be tuned in the first 3 epochs')",
        validator=[non_negative, _within_l],
    )
    reduction_rounds: int = field(
        3, f"T: sampling rounds per reduction stage, each samples every op of O_smaller once "
        f"per edge (source: {_ALGORITHM}: T = 3)", validator=positive,
    )
    reduction_search_epochs: int = field(
        1, f"V: epochs of the strategy's search after each reduction stage (source: "
        f"{_ALGORITHM}: V = 1)", validator=non_negative,
    )
    reduction_batch_size: int = field(
        400, f"batch size of the epochs after the first L, while the space is reduced (source: "
        f"{_ALGORITHM}: 'a larger batch size of 400 ... during reducing the search space')",
        validator=positive,
    )
    reduction_valid_images: int | None = field(
        5000, f"images of the arch split (a fixed seeded draw) each sampled architecture is "
        f"scored on, fewer with a note when the split is smaller (source: {_ALGORITHM}: 'we "
        "randomly select 5K images from the training set as a validation set'); None: the "
        "loop's end-of-epoch validation (valid_batches)", validator=positive,
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
        self.valid_images = self._valid_images()
        if search.num_epochs != search.hyper.epochs:
            self._note(
                f"space_reduction: Algorithm 1's {len(self.plan)} planned epochs run as "
                f"{len(self.plan)} epochs of {search.hyper.epochs}/{len(self.plan)} of a pass "
                f"over the weights split each (strategy.epochs = {search.hyper.epochs}; "
                f"{len(self.plan)} gives the paper's one pass per planned epoch)"
            )
        self.reduction = OperationReduction(
            {g.name: g.shape for g in self.groups}, {g.name: g.zero_index for g in self.groups}
        )
        #: The stage whose ``O_smaller`` is selected (-1: none yet).
        self.stage_begun = -1
        self.sample: dict[str, torch.Tensor] | None = None
        self.history: list[dict[str, Any]] = []

    @classmethod
    def planned_epochs(cls, search: Any) -> int | None:
        """The plan's length: ``L + T * sum_{k=2..K} ceil(k/2) + V * (K - 1)`` (69 with the
        paper's values and the 8 DARTS ops); ``None`` without op groups (``__init__`` refuses)."""
        groups = [g for g in search.groups if g.role == OP_ROLE]
        if not groups:
            return None
        c = search.config
        ops = max(len(g.candidates) for g in groups)
        return len(epoch_plan(c.reduction_after, c.reduction_weights_only, c.reduction_rounds,
                              c.reduction_search_epochs, ops))

    def batch_size(self, epoch: int) -> int | None:
        """``reduction_batch_size`` after the first ``L`` epochs, else the strategy's."""
        return None if self.plan[epoch].kind == WARMUP else self.config.reduction_batch_size

    def _note(self, message: str) -> None:
        log.warning(message)
        self.search.context.events.log({"type": "note", "part": self.name, "message": message})

    def _valid_images(self) -> int | None:
        """``reduction_valid_images``, at most the arch split's size (with a note)."""
        wanted = self.config.reduction_valid_images
        data = self.search.context.data
        if wanted is None or data is None:
            return wanted
        available = data.size("arch")
        if available < wanted:
            self._note(
                f"space_reduction: the arch split has {available} images, fewer than "
                f"reduction_valid_images = {wanted}; sampled architectures are scored on all "
                f"{available}"
            )
        return min(wanted, available)

    def sampled_accuracy(self, metrics: Mapping[str, Any]) -> float:
        """The accuracy of the epoch's sampled architecture: on the ``valid_images`` fixed images
        of the arch split, or the loop's ``valid_acc`` when ``reduction_valid_images`` is
        ``None``."""
        if self.valid_images is None:
            return float(metrics["valid_acc"])
        return float(self.search.evaluate("arch", images=self.valid_images)["accuracy"])

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
            accuracy = self.sampled_accuracy(metrics)
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
    """The epoch plan of ``search``: ``K`` is the largest op group's number of candidates. A
    one-line :class:`ConfigError` when the strategy's own warm-up does not fit in ``L``."""
    c = config
    warmup = search.warmup_epochs
    if warmup > c.reduction_after:
        raise ConfigError(
            f"strategy.warmup_epochs ({warmup}) is above the epochs before the space reduction "
            f"(reduction_after = L = {c.reduction_after}); lower warmup_epochs (the plan's own "
            "weights-only epochs are reduction_weights_only) or raise reduction_after"
        )
    ops = max(len(g.candidates) for g in groups)
    return epoch_plan(
        c.reduction_after, c.reduction_weights_only, c.reduction_rounds,
        c.reduction_search_epochs, ops,
    )
