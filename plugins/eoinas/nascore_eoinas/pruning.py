"""Gradual pruning: which candidate every edge of an op group loses at a pruning stage, and the
part that prunes on the EoiNAS schedule.

On every edge that still holds more than one candidate, the one with the lowest indicator is
pruned (ties: the first), with two rules about the zero candidate (``none``), which a derived
DARTS cell can never keep (the paper's derivation takes its strengths over ``o != zero``):

* it is never left as an edge's only candidate: an edge down to ``{zero, op}`` loses the zero
  candidate whatever the indicators say (otherwise the edge could not be derived);
* ``drop_zero_first`` (the released code, at its last stage): an edge still holding the zero
  candidate loses it instead of its lowest-indicator candidate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import torch

from nascore import IncompatibleError
from nascore.config import field, positive
from nascore.oneshot import Part
from nascore_eoinas.indicator import OP_ROLE
from nascore_eoinas.plot import plot_pruning
from nascore_eoinas.schedule import prune_epochs

#: Why a candidate was pruned, as recorded in the ``prune`` events.
LOWEST, ZERO_LAST, ZERO_FIRST = "lowest-indicator", "zero-never-last", "zero-first"


@attrs.frozen
class Prune:
    """Edge row ``edge`` loses candidate column ``candidate`` (for ``reason``)."""

    edge: int
    candidate: int
    reason: str


def choose_prunes(
    indicator: torch.Tensor,
    mask: torch.Tensor,
    zero_index: int | None = None,
    drop_zero_first: bool = False,
) -> list[Prune]:
    """The candidate each edge of ``[edges, candidates]`` ``indicator`` loses in one stage.

    ``mask`` marks the unpruned candidates; edges with a single one are left alone.
    """
    prunes = []
    for edge in range(mask.shape[0]):
        kept = mask[edge].nonzero().flatten().tolist()
        if len(kept) < 2:
            continue
        row = indicator[edge].detach().to("cpu", torch.float64)
        lowest = min(kept, key=lambda c: float(row[c]))
        has_zero = zero_index is not None and zero_index in kept
        if has_zero and lowest != zero_index and drop_zero_first:
            prunes.append(Prune(edge, zero_index, ZERO_FIRST))
        elif has_zero and lowest != zero_index and len(kept) == 2:
            prunes.append(Prune(edge, zero_index, ZERO_LAST))
        else:
            prunes.append(Prune(edge, lowest, LOWEST))
    return prunes


def apply_prunes(mask: torch.Tensor, prunes: list[Prune]) -> torch.Tensor:
    """A copy of ``mask`` with the pruned candidates set to ``False``."""
    mask = mask.clone()
    for prune in prunes:
        mask[prune.edge, prune.candidate] = False
    return mask


@attrs.frozen
class PruningConfig:
    """Settings of gradual pruning (defaults: the EoiNAS paper, Algorithm 1)."""

    prune_every: int | None = field(
        None, "epochs between pruning stages after the warm-up (None: spread the stages evenly "
        "so that one op per edge remains at the end; the paper's 20 for 160 epochs)",
        validator=positive,
    )
    drop_zero_first: bool = field(
        False, "the last pruning stage removes none where it remains (the authors' code)"
    )


class GradualPruning(Part):
    """EoiNAS's gradual pruning: at the end of the scheduled epochs every edge of every op group
    loses its lowest-scored candidate (the importance indicator when that part runs, else the
    strategy's derivation scores), until one candidate per edge remains. Pruned candidates
    leave the compute graph. Each pruned op is logged as a ``prune`` event."""

    name = "gradual_pruning"
    config_cls = PruningConfig

    def __init__(self, search: Any) -> None:
        super().__init__(search)
        self.groups = [g for g in search.groups if g.role == OP_ROLE]
        if not self.groups:
            raise IncompatibleError(
                f"gradual pruning shrinks decision groups of role '{OP_ROLE}', and space "
                f"{search.context.space.name} has none; use a space with op choices (e.g. darts)"
            )
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
            mask = self.search.masks[group.name]
            score = scores[group.name]
            prunes = choose_prunes(score, mask.cpu(), group.zero_index, drop_zero)
            self.search.set_mask(group.name, apply_prunes(mask, prunes))
            kept = self.search.masks[group.name].cpu().numpy()
            events += [
                {
                    "type": "prune",
                    "epoch": epoch,
                    "stage": stage,
                    "group": group.name,
                    "edge": group.edges[p.edge],
                    "op": group.candidates[p.candidate],
                    "score": float(score[p.edge, p.candidate]),
                    "reason": p.reason,
                    "remaining": [group.candidates[c] for c in kept[p.edge].nonzero()[0]],
                }
                for p in prunes
            ]
        self.stages_done = stage
        for event in events:
            self.search.context.events.log(event)
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
