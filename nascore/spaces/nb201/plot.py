"""The NB201 cell diagram: node 0 (the cell's input) to node 3 (its output), one edge per op;
``none`` edges carry nothing and are left out."""

from __future__ import annotations

from collections.abc import Sequence

from nascore.diagram import Diagram, Edge, Node
from nascore.spaces.nb201.cell import EDGES

#: Grid positions of the 4 nodes: a zig-zag, so that no edge runs through a node.
_POSITIONS = ((0.0, 0.0), (1.6, 1.0), (3.2, -1.0), (4.8, 0.0))


def cell_diagram(ops: Sequence[str]) -> Diagram:
    """The graph of a cell's 6 edge ops (in :data:`~nascore.spaces.nb201.cell.EDGES` order)."""
    kinds = ("input", "node", "node", "output")
    nodes = tuple(Node(str(i), kind, x, y)
                  for i, (kind, (x, y)) in enumerate(zip(kinds, _POSITIONS, strict=True)))
    edges = tuple(Edge(str(source), str(target), op)
                  for (target, source), op in zip(EDGES, ops, strict=True) if op != "none")
    return Diagram("NB201 cell", nodes, edges)
