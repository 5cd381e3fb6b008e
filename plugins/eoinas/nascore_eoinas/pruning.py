"""One pruning stage: which candidate every edge of a decision group loses.

On every edge that still holds more than one candidate, the one with the lowest indicator is
pruned (ties: the first), with two rules about the zero candidate (``none``), which a derived
DARTS cell can never keep (the paper's derivation takes its strengths over ``o != zero``):

* it is never left as an edge's only candidate: an edge down to ``{zero, op}`` loses the zero
  candidate whatever the indicators say (otherwise the edge could not be derived);
* ``drop_zero_first`` (the released code, at its last stage): an edge still holding the zero
  candidate loses it instead of its lowest-indicator candidate.
"""

from __future__ import annotations

import attrs
import torch

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
