"""EoiNAS (Zhou et al.): GDAS sampling + the operation importance indicator + gradual pruning.

Built on :class:`~nascore.strategies.gdas.GDASStrategy` through its documented extension points:

* :meth:`edge_weights` -- GDAS hard sampling (paper) or soft Gumbel weights (released code);
* :meth:`after_weights_step` / :meth:`after_arch_step` -- ``Ce`` / ``Ca`` of the op groups;
* :meth:`end_epoch` -- the indicator, ``Ca``, ``Ce`` in the epoch metrics, and the pruning
  stages of :mod:`nascore_eoinas.schedule` (each pruned op logged as a ``prune`` event);
* :meth:`scores` -- the indicator of the op groups (groups of other roles, e.g. the ``adarts``
  activations, keep their softmax), handed to the space's own derivation rule;
* :attr:`warmup_epochs` -- the warm-up scaled to the run's epochs;
* :meth:`extra_state` -- ``Ca``, ``Ce``, the prune history (the masks are the base's).

Indicator and pruning act on the decision groups of role ``"op"`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from nascore import DecisionGroup, EdgeWeights, IncompatibleError, SearchContext
from nascore.strategies.gdas import GDASStrategy
from nascore.strategies.oneshot import StepRecord
from nascore_eoinas.config import EoiNASConfig
from nascore_eoinas.indicator import OpStatistics, importance
from nascore_eoinas.plot import plot_pruning
from nascore_eoinas.pruning import apply_prunes, choose_prunes
from nascore_eoinas.sampling import sampled_index, soft_gumbel
from nascore_eoinas.schedule import prune_epochs, scaled_warmup

#: Role of the decision groups the indicator ranks and pruning shrinks.
OP_ROLE = "op"


class EoiNASStrategy(GDASStrategy):
    """EoiNAS; see the module docstring and the plugin README."""

    name = "eoinas"
    config_cls = EoiNASConfig

    def __init__(self, config: EoiNASConfig, context: SearchContext) -> None:
        super().__init__(config, context)
        self.behaviour = config.behaviour()
        self.op_groups = [g for g in self.groups if g.role == OP_ROLE]
        if not self.op_groups:
            raise IncompatibleError(
                f"eoinas prunes decision groups of role '{OP_ROLE}', and space "
                f"{context.space.name} has none; use a space with op choices (e.g. darts)"
            )
        self.stats = {
            g.name: OpStatistics(g.shape, latest=self.behaviour.latest_accuracy)
            for g in self.op_groups
        }
        stages = max(len(g.candidates) for g in self.op_groups) - 1
        #: The 0-based epoch ending each pruning stage.
        self.schedule = prune_epochs(
            self.num_epochs, self.warmup_epochs, stages, config.prune_every
        )
        #: Pruning stages done so far.
        self.stages_done = 0
        #: Every ``prune`` event so far (also in the run's event log).
        self.prune_history: list[dict[str, Any]] = []

    # -- schedule ----------------------------------------------------------------------------
    @property
    def warmup_epochs(self) -> int:
        """The configured warm-up, or the paper's 20/160 of the run's epochs."""
        configured = self.config.warmup_epochs
        return scaled_warmup(self.hyper.epochs) if configured is None else configured

    # -- sampling and statistics -------------------------------------------------------------
    def edge_weights(self, group: DecisionGroup) -> EdgeWeights:
        """GDAS hard sampling, or (``soft_sampling``) soft Gumbel weights over the unpruned ops."""
        if not self.behaviour.soft_sampling:
            return super().edge_weights(group)
        mask = self.masks[group.name]
        weights = soft_gumbel(self.alphas[group.name], self.tau(self.epoch), mask, self.generator)
        return EdgeWeights(
            weights=weights,
            mask=None if bool(mask.all()) else mask,
            edge_scale=self.edge_scale(group),
        )

    def after_weights_step(self, record: StepRecord) -> None:
        """``Ce``: count the op sampled on every edge (from the first architecture epoch on)."""
        super().after_weights_step(record)
        if self.in_warmup(record.epoch):
            return
        for name, stats in self.stats.items():
            stats.record_training(sampled_index(record.selections[name]))

    def after_arch_step(self, record: StepRecord) -> None:
        """``Ca``: credit the validation batch's accuracy to the op sampled on every edge of the
        op groups this architecture step updates (their stage)."""
        super().after_arch_step(record)
        for group in self.op_groups:
            if group.stage == record.stage:
                selection = record.selections[group.name]
                self.stats[group.name].record_validation(sampled_index(selection), record.accuracy)

    # -- indicator and derivation ------------------------------------------------------------
    def indicator(self, group: str) -> torch.Tensor:
        """``I`` of op group ``group`` (float64, CPU, ``-inf`` for pruned ops)."""
        stats = self.stats[group]
        return importance(
            self.alphas[group], stats.ca, stats.ce, self.config.indicator_lambda, self.masks[group]
        )

    def scores(self) -> dict[str, torch.Tensor]:
        """The indicator for the op groups (float64), the base's softmax for the others."""
        result = super().scores()
        for group in self.op_groups:
            result[group.name] = self.indicator(group.name)
        return result

    # -- pruning -----------------------------------------------------------------------------
    def prune_stage(self, epoch: int) -> list[dict[str, Any]]:
        """Prune the lowest-indicator op of every edge of every op group; log and return the
        ``prune`` events."""
        stage = self.stages_done + 1
        drop_zero = self.behaviour.drop_zero_first and stage == len(self.schedule)
        events = []
        for group in self.op_groups:
            indicator = self.indicator(group.name)
            mask = self.masks[group.name]
            prunes = choose_prunes(indicator, mask.cpu(), group.zero_index, drop_zero)
            self.set_mask(group.name, apply_prunes(mask, prunes))
            kept = self.masks[group.name].cpu().numpy()
            events += [
                {
                    "type": "prune",
                    "epoch": epoch,
                    "stage": stage,
                    "group": group.name,
                    "edge": group.edges[p.edge],
                    "op": group.candidates[p.candidate],
                    "indicator": float(indicator[p.edge, p.candidate]),
                    "reason": p.reason,
                    "remaining": [group.candidates[c] for c in kept[p.edge].nonzero()[0]],
                }
                for p in prunes
            ]
        self.stages_done = stage
        if self.behaviour.reset_after_prune:
            for stats in self.stats.values():
                stats.reset()
        for event in events:
            self.context.events.log(event)
        self.prune_history += events
        return events

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        """The GDAS metrics plus the indicator, ``Ca`` and ``Ce`` of the op groups (before this
        epoch's pruning), then the pruning stages due and the ops left per edge."""
        metrics = super().end_epoch(epoch)
        metrics["indicator"] = {g.name: self.indicator(g.name) for g in self.op_groups}
        metrics["ca"] = {name: s.ca.clone() for name, s in self.stats.items()}
        metrics["ce"] = {name: s.ce.clone() for name, s in self.stats.items()}
        while self.stages_done < len(self.schedule) and self.schedule[self.stages_done] <= epoch:
            self.prune_stage(epoch)
        metrics["remaining_ops"] = {g.name: self.masks[g.name].sum(dim=1) for g in self.op_groups}
        return metrics

    # -- state and plots -----------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        return {
            "stats": {name: s.state_dict() for name, s in self.stats.items()},
            "stages_done": self.stages_done,
            "prune_history": [dict(e) for e in self.prune_history],
        }

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        for name, stats in state["stats"].items():
            self.stats[name].load_state_dict(stats)
        self.stages_done = int(state["stages_done"])
        self.prune_history = [dict(e) for e in state["prune_history"]]

    @classmethod
    def plot(cls, events: list[dict[str, Any]], path_stem: str) -> list[str]:
        """The pruning timeline (:func:`~nascore_eoinas.plot.plot_pruning`)."""
        return plot_pruning(events, path_stem)
