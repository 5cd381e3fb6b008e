"""Gradual pruning: which candidate every edge of an op group loses at a pruning stage, and the
part that prunes on the EoiNAS schedule.

On every edge that still holds more than one candidate, the one with the lowest score (the
importance indicator under EoiNAS) is pruned (ties: the first), with two rules about the zero
candidate (``none``), which a derived DARTS cell can never keep (the paper's derivation takes
its strengths over ``o != zero``):

* it is never left as an edge's only candidate: an edge down to ``{zero, op}`` loses the zero
  candidate whatever the indicators say (otherwise the edge could not be derived);
* ``drop_zero_first`` (the released code, at its last stage): an edge still holding the zero
  candidate loses it instead of its lowest-scored candidate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from nascore.oneshot import Part
from nascore_eoinas.config import PruningConfig
from nascore_eoinas.plot import plot_pruning
from nascore_eoinas.schedule import prune_epochs

#: Why a candidate was pruned, as recorded in the ``prune`` events.
LOWEST, ZERO_LAST, ZERO_FIRST = "lowest-score", "zero-never-last", "zero-first"


#: ``(edge row, candidate column, reason)``: one candidate an edge loses.
Prune = tuple[int, int, str]


def choose_prunes(
    scores: torch.Tensor, mask: torch.Tensor, zero: int | None = None, drop_zero_first: bool = False
) -> list[Prune]:
    """The candidate each edge of ``[edges, candidates]`` ``scores`` loses in one stage.

    ``mask`` marks the unpruned candidates; edges with a single one are left alone.
    """
    prunes = []
    for edge in range(mask.shape[0]):
        kept = mask[edge].nonzero().flatten().tolist()
        if len(kept) < 2:
            continue
        row = scores[edge].detach().to("cpu", torch.float64)
        lowest = min(kept, key=lambda c: float(row[c]))
        zero_kept = zero in kept and lowest != zero
        if zero_kept and drop_zero_first:
            prunes.append((edge, zero, ZERO_FIRST))
        elif zero_kept and len(kept) == 2:
            prunes.append((edge, zero, ZERO_LAST))
        else:
            prunes.append((edge, lowest, LOWEST))
    return prunes


class GradualPruning(Part):
    """EoiNAS's gradual pruning: at the end of the scheduled epochs every edge of every op group
    loses its lowest-scored candidate (the importance indicator when that part runs, else the
    strategy's derivation scores), until one candidate per edge remains. Pruned candidates
    leave the compute graph. Each pruned op is logged as a ``prune`` event."""

    name = "gradual_pruning"
    config_cls = PruningConfig

    def __init__(self, search: Any) -> None:
        super().__init__(search)
        self.groups = search.op_groups("gradual pruning")
        stages = max(len(g.candidates) for g in self.groups) - 1
        #: The 0-based epoch ending each pruning stage.
        self.schedule = prune_epochs(
            search.num_epochs, search.warmup_epochs, stages, self.config.prune_every
        )
        #: Pruning stages done so far.
        self.stages_done = 0
        #: Every ``prune`` event so far (also in the run's event log).
        self.history: list[dict[str, Any]] = []

    def prune_stage(self, epoch: int) -> list[dict[str, Any]]:
        """Prune the lowest-scored op of every edge of every op group; log and return the
        ``prune`` events."""
        stage = self.stages_done + 1
        drop_zero = self.config.drop_zero_first and stage == len(self.schedule)
        scores = self.search.scores(handlers=False)
        events = []
        for group in self.groups:
            score = scores[group.name]
            prunes = choose_prunes(score, self.search.masks[group.name].cpu(), group.zero_index,
                                   drop_zero)
            for edge, candidate, reason in prunes:
                events += self.search.remove_candidates(
                    group, [(edge, candidate, reason)], epoch=epoch, stage=stage,
                    score=float(score[edge, candidate]),
                )
        self.stages_done = stage
        self.history += events
        return events

    def end_epoch(self, epoch: int, metrics: dict[str, Any]) -> None:
        """The pruning stages due at the end of ``epoch``, then the ops left per edge."""
        while self.stages_done < len(self.schedule) and self.schedule[self.stages_done] <= epoch:
            self.prune_stage(epoch)
        metrics["remaining_ops"] = {
            g.name: self.search.masks[g.name].sum(dim=1) for g in self.groups
        }

    def state_dict(self) -> dict[str, Any]:
        return {"stages_done": self.stages_done, "history": [dict(e) for e in self.history]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.stages_done = int(state["stages_done"])
        self.history = [dict(e) for e in state["history"]]

    @classmethod
    def plot(cls, events: list[dict[str, Any]], path_stem: str) -> list[str]:
        """The pruning timeline (:func:`~nascore_eoinas.plot.plot_pruning`)."""
        return plot_pruning(events, path_stem)
