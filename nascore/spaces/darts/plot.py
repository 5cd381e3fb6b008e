"""DARTS cell diagrams (inputs c_{k-2}, c_{k-1}, nodes 0.., output c_{k}), the fixed GDAS
reduction cell and the one-edge connection cell of RC-DARTS, drawn by :mod:`nascore.diagram`:
PNG and PDF without overlapping labels, and graphviz DOT."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nascore.diagram import Diagram, Edge, Node, save

INPUTS = ("c_{k-2}", "c_{k-1}")
OUTPUT = "c_{k}"


def _positions(nodes: int) -> dict[str, tuple[float, float]]:
    """Inputs on the left, intermediate nodes left to right alternately high and low (edges
    from one node to the next ones leave in different directions, so their labels find room),
    output on the right."""
    height = 1.2 * max(nodes - 1, 1)
    pos = {INPUTS[0]: (0.0, height * 0.75), INPUTS[1]: (0.0, height * 0.25)}
    for i in range(nodes):
        pos[str(i)] = (2.0 + 1.5 * i, height * (0.9 if i % 2 == 0 else 0.1))
    pos[OUTPUT] = (1.5 + 1.5 * nodes + 1.0, height * 0.5)
    return pos


def _state_name(source: int) -> str:
    return INPUTS[source] if source < 2 else str(source - 2)


def cell_title(key: str, levels: int) -> str:
    """The diagram title of cell ``key``: ``"normal cell"``, ``"reduce cell"`` or, with
    ``levels`` > 1, ``"normal cell, level 2 of 3"``."""
    if levels == 1 or not key.startswith("normal"):
        return f"{key} cell"
    level = 1 if key == "normal" else int(key.rsplit("_", 1)[1])
    return f"normal cell, level {level} of {levels}"


def cell_diagram(pairs: Sequence[Sequence[Any]], title: str) -> Diagram:
    """The graph of one cell: ``[op, input]`` pairs, two per node, each an edge labelled with
    its op; every node feeds the output."""
    nodes = len(pairs) // 2
    kinds = {INPUTS[0]: "input", INPUTS[1]: "input", OUTPUT: "output"}
    diagram_nodes = tuple(
        Node(name, kinds.get(name, "node"), x, y, tex=name in kinds)
        for name, (x, y) in _positions(nodes).items()
    )
    edges = [Edge(_state_name(source), str(position // 2), str(op))
             for position, (op, source) in enumerate(pairs)]
    edges += [Edge(str(i), OUTPUT) for i in range(nodes)]
    return Diagram(title, diagram_nodes, tuple(edges))


#: The edges of the fixed GDAS reduction cell: (input, output, label); outputs 0..3 concatenated.
GDAS_REDUCTION_EDGES = (
    (0, 0, "conv_1x3_3x1_g8+1x1"),
    (1, 1, "conv_1x3_3x1_g8+1x1"),
    (0, 2, "max_pool_3x3+bn"),
    (1, 3, "max_pool_3x3+bn"),
)


def fixed_cell_diagram(name: str) -> Diagram:
    """The fixed reduction cell ``name`` (``"gdas_frc"``): each output one op on one input."""
    if name != "gdas_frc":
        raise ValueError(f"no diagram of the fixed cell {name!r}")
    kinds = {INPUTS[0]: "input", INPUTS[1]: "input", OUTPUT: "output"}
    nodes = tuple(
        Node(node, kinds.get(node, "node"), x, y, tex=node in kinds)
        for node, (x, y) in _positions(len(GDAS_REDUCTION_EDGES)).items()
    )
    edges = [Edge(INPUTS[source], str(out), label) for source, out, label in GDAS_REDUCTION_EDGES]
    edges += [Edge(str(out), OUTPUT) for _source, out, _label in GDAS_REDUCTION_EDGES]
    return Diagram("reduce cell (fixed: GDAS)", nodes, tuple(edges))


def connection_diagram(op: str) -> Diagram:
    """The connection cell: the previous cell's output c_{k-i} through ``op`` into the cell."""
    nodes = (Node("c_{k-i}", "input", 0.0, 0.0, tex=True),
             Node("c'_{k-i}", "node", 2.5, 0.0, tex=True))
    return Diagram("connection cell (in front of every cell)", nodes,
                   (Edge("c_{k-i}", "c'_{k-i}", op),))


def plot_cell(pairs: Sequence[Sequence[Any]], title: str, path_stem: str) -> list[str]:
    """Draw one cell (``[op, input]`` pairs, two per node) to ``path_stem`` + ``.png``/``.pdf``
    and write its graphviz ``.dot``."""
    return save(cell_diagram(pairs, title), path_stem)


def plot_fixed_cell(name: str, path_stem: str) -> list[str]:
    """Draw the fixed cell ``name`` to ``path_stem`` + ``.png``/``.pdf``/``.dot``."""
    return save(fixed_cell_diagram(name), path_stem)


def plot_connection(op: str, path_stem: str) -> list[str]:
    """Draw the connection cell (input -> ``op`` -> the cell's input, in front of every cell) to
    ``path_stem`` + ``.png``/``.pdf``/``.dot``."""
    return save(connection_diagram(op), path_stem)
