"""PC-DARTS edge normalisation: one weight per edge, softmax over the edges entering each node.

The node structure is read from the edge names of a decision group: an edge named
``"<target><-<source>"`` (e.g. ``"n3<-1"``) enters node ``<target>``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


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
