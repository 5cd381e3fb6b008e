"""The performance-based search-space reduction of BNAS (Eq. 2-5, Algorithm 1 lines 3 and 12-13).

Everything works on one decision group at a time, vectorised over its edges: ``[edges, ops]``
tensors and a boolean ``mask`` of the same shape marking the ops still in ``O^(i,j)`` (``False`` =
removed, the convention of ``nascore.EdgeWeights``). :class:`OperationReduction` keeps the state of
the reduction for several groups (e.g. ``normal`` and ``reduce``) and checkpoints it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from nascore.oneshot.sampling import masked_softmax


def smaller_half(alpha: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``O_smaller`` (Algorithm 1, line 3): per edge, the ``ceil(K/2)`` remaining ops with the
    smallest ``alpha``, ``K`` being that edge's number of remaining ops; equal ``alpha`` go to the
    lower index. Returns a boolean ``[edges, ops]`` mask."""
    keys = alpha.detach().masked_fill(~mask, float("inf"))
    order = torch.sort(keys, dim=1, stable=True).indices
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(keys.shape[1], device=keys.device).expand_as(order))
    remaining = mask.sum(dim=1, keepdim=True)
    return mask & (ranks < (remaining + 1) // 2)


def smaller_likelihood(mean_accuracy: torch.Tensor, smaller: torch.Tensor) -> torch.Tensor:
    """Eq. 2: ``s_smaller`` = softmax, over each edge's ``O_smaller``, of the ops' mean sampled
    validation accuracy (in [0, 1]); 0 for the other ops."""
    if bool(torch.isnan(mean_accuracy[smaller]).any()):
        raise ValueError("every op of O_smaller needs at least one sampled accuracy")
    return masked_softmax(mean_accuracy, smaller)


def larger_likelihood(s_smaller: torch.Tensor, smaller: torch.Tensor) -> torch.Tensor:
    """Eq. 3: ``s_larger = (max s_smaller + sum s_smaller / ceil(K/2)) / 2`` per edge (``[edges]``);
    ``ceil(K/2)`` is the size of the edge's ``O_smaller``."""
    count = smaller.sum(dim=1).to(s_smaller.dtype)
    return 0.5 * (s_smaller.max(dim=1).values + s_smaller.sum(dim=1) / count)


def update_likelihood(
    s: torch.Tensor, mean_accuracy: torch.Tensor, smaller: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Eq. 4: ``s <- s / 2 + q * s_smaller + (1 - q) * s_larger`` for the remaining ops, with
    ``q`` = 1 on ``O_smaller`` (Eq. 2 and 3 give ``s_smaller`` and ``s_larger``). Removed ops keep
    their value (they take no further part)."""
    s_small = smaller_likelihood(mean_accuracy, smaller).to(s.dtype)
    s_large = larger_likelihood(s_small, smaller)
    q = smaller.to(s.dtype)
    updated = 0.5 * s + q * s_small + (1.0 - q) * s_large[:, None]
    return torch.where(mask, updated, s)


def drop_least_likely(
    s: torch.Tensor,
    mask: torch.Tensor,
    zero_index: int | None = None,
    alpha: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 5: remove, on every edge with more than one op left, the remaining op of smallest ``s``.

    Ties go to the smaller ``alpha`` when ``alpha`` is given (the op with less potential), else to
    the lower index. The zero op (column ``zero_index``) is never the last op of an edge: when the
    drop would leave only it, it is dropped instead. Returns the new mask and the dropped column
    per edge (-1 where nothing was dropped).
    """
    keys = s.detach().masked_fill(~mask, float("inf"))
    tied = mask & (keys == keys.min(dim=1, keepdim=True).values)
    if alpha is None:
        dropped = tied.int().argmax(dim=1)
    else:
        dropped = alpha.detach().masked_fill(~tied, float("inf")).argmin(dim=1)
    remaining = mask.sum(dim=1)
    if zero_index is not None:
        only_zero_left = (remaining == 2) & mask[:, zero_index] & (dropped != zero_index)
        dropped = torch.where(only_zero_left, torch.full_like(dropped, zero_index), dropped)
    dropped = torch.where(remaining > 1, dropped, torch.full_like(dropped, -1))
    edges = (dropped >= 0).nonzero().flatten()
    new_mask = mask.clone()
    new_mask[edges, dropped[edges]] = False
    return new_mask, dropped


def assign_accuracy(
    sums: torch.Tensor, counts: torch.Tensor, sampled: torch.Tensor, accuracy: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Algorithm 1, line 9: give ``accuracy`` (in [0, 1]) to the op ``sampled[e]`` of every edge
    ``e``. Returns the new running ``sums`` and ``counts``."""
    if not 0.0 <= accuracy <= 1.0:
        raise ValueError(f"accuracies are fractions in [0, 1], got {accuracy}")
    rows = torch.arange(sums.shape[0], device=sums.device)
    sums, counts = sums.clone(), counts.clone()
    sums[rows, sampled] += accuracy
    counts[rows, sampled] += 1
    return sums, counts


class OperationReduction:
    """The reduction's state for several decision groups: remaining ops, selection likelihoods
    ``s`` (0 at the start, Algorithm 1's input), the current ``O_smaller`` and the accuracies
    sampled in the current stage.

    A stage is :meth:`begin_stage` (line 3), one :meth:`record` per sampled architecture
    (lines 7-9), :meth:`end_stage` (lines 12-13). Training is the caller's.
    """

    def __init__(
        self,
        shapes: Mapping[str, tuple[int, int]],
        zero_index: Mapping[str, int | None] | None = None,
    ) -> None:
        def filled(make: Any, dtype: torch.dtype) -> dict[str, torch.Tensor]:
            return {g: make(shape, dtype=dtype) for g, shape in shapes.items()}

        self.zero_index = dict(zero_index or {})
        self.masks = filled(torch.ones, torch.bool)
        self.likelihood = filled(torch.zeros, torch.float64)
        self.smaller = filled(torch.zeros, torch.bool)
        self.sums = filled(torch.zeros, torch.float64)
        self.counts = filled(torch.zeros, torch.int64)

    def finished(self) -> bool:
        """Whether every edge of every group has a single op left."""
        return all(bool((mask.sum(dim=1) == 1).all()) for mask in self.masks.values())

    def begin_stage(self, alphas: Mapping[str, torch.Tensor]) -> None:
        """Select ``O_smaller`` from the current ``alpha`` and clear the stage's accuracies."""
        for g, mask in self.masks.items():
            self.smaller[g] = smaller_half(alphas[g].detach().cpu(), mask)
            self.sums[g] = torch.zeros_like(self.sums[g])
            self.counts[g] = torch.zeros_like(self.counts[g])

    def record(self, sampled: Mapping[str, torch.Tensor], accuracy: float) -> None:
        """Give the validation ``accuracy`` of a sampled architecture to its ops
        (``sampled[g]``: ``[edges]`` op columns)."""
        for g in self.masks:
            self.sums[g], self.counts[g] = assign_accuracy(
                self.sums[g], self.counts[g], sampled[g].cpu(), accuracy
            )

    def end_stage(
        self, alphas: Mapping[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """Update ``s`` (Eq. 4) and drop the least likely op per edge (Eq. 5); ``alphas`` break
        ties. Returns the dropped column per edge for each group."""
        dropped = {}
        for g, mask in self.masks.items():
            mean = self.sums[g] / self.counts[g]
            self.likelihood[g] = update_likelihood(self.likelihood[g], mean, self.smaller[g], mask)
            alpha = None if alphas is None else alphas[g].detach().cpu()
            self.masks[g], dropped[g] = drop_least_likely(
                self.likelihood[g], mask, self.zero_index.get(g), alpha
            )
        return dropped

    def state_dict(self) -> dict[str, Any]:
        return {
            name: {g: t.clone() for g, t in getattr(self, name).items()}
            for name in ("masks", "likelihood", "smaller", "sums", "counts")
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, tensors in state.items():
            setattr(self, name, {g: t.clone() for g, t in tensors.items()})
