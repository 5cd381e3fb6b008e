"""PC-DARTS edge normalisation: one weight per edge, softmax over the edges entering each node.

The node structure is read from the edge names of a decision group: an edge named
``"<target><-<source>"`` (e.g. ``"n3<-1"``) enters node ``<target>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from nascore.errors import IncompatibleError

if TYPE_CHECKING:
    from nascore.oneshot.params import ArchParameters


def node_groups(edges: Sequence[str]) -> list[list[int]]:
    """Indices of the edges entering each node, nodes in order of first appearance.

    Raises :class:`ValueError` if an edge name does not have the ``target<-source`` form.
    """
    groups: dict[str, list[int]] = {}
    for i, edge in enumerate(edges):
        target, sep, _source = edge.partition("<-")
        if not sep or not target:
            raise ValueError(f"edge name {edge!r} does not have the form 'target<-source'")
        groups.setdefault(target, []).append(i)
    return list(groups.values())


def edge_softmax(betas: torch.Tensor, groups: Sequence[Sequence[int]]) -> torch.Tensor:
    """Per-edge scales: ``softmax(betas)`` taken separately over each node's incoming edges."""
    scale = torch.zeros_like(betas)
    for members in groups:
        index = torch.as_tensor(members, device=betas.device)
        scale = scale.index_put((index,), torch.softmax(betas[index], dim=0))
    return scale


class EdgeNormalization:
    """PC-DARTS edge betas: one architecture tensor ``"<group>.edges"`` per op group (same stage
    as the group), turned into per-edge scales by :func:`edge_softmax`."""

    def __init__(self, params: ArchParameters) -> None:
        self.params = params
        self.nodes: dict[str, list[list[int]]] = {}
        for group in params.groups:
            if group.role != "op":
                continue
            try:
                self.nodes[group.name] = node_groups(group.edges)
            except ValueError as exc:
                raise IncompatibleError(
                    f"edge normalisation needs node structure in group {group.name}: {exc}; "
                    "set strategy.edge_normalization=false"
                ) from None
            params.add(f"{group.name}.edges", (len(group.edges),), group.stage)

    def scale(self, group: str) -> torch.Tensor | None:
        """The per-edge scales of ``group`` (``None`` for groups without edge betas)."""
        if group not in self.nodes:
            return None
        return edge_softmax(self.params.tensors[f"{group}.edges"], self.nodes[group])
