"""Cell diagrams: graphviz DOT text with every node and edge, and drawings whose labels never
overlap (measured on the drawn matplotlib figure)."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pytest

from nascore.architecture import Architecture
from nascore.diagram import Diagram, Edge, Node, draw, to_dot
from nascore.plugins import make_space
from nascore.space import DataInfo
from nascore.spaces.darts import cell_keys
from nascore.spaces.darts.plot import cell_diagram, connection_diagram
from nascore.spaces.darts.zoo import ZOO
from nascore.spaces.nb201.plot import cell_diagram as nb201_diagram

DIGITS = DataInfo(1, 8, 10)
_ID = r'"((?:[^"\\]|\\.)*)"'
_NODE = re.compile(rf"^{_ID} \[fillcolor={_ID}\];$")
_EDGE = re.compile(rf"^{_ID} -> {_ID}(?: \[label={_ID}\])?;$")
_RANK = re.compile(rf"^\{{ rank=(source|sink);(?: {_ID};)+ \}}$")


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_dot(text: str) -> tuple[str, set[str], set[tuple[str, str, str]]]:
    """``(graph name, nodes, (source, target, label) edges)`` of the DOT we write; every line
    must be a statement of the digraph (a failed match fails the test)."""
    lines = text.strip().splitlines()
    header = re.match(rf"^digraph {_ID} \{{$", lines[0])
    assert header and lines[-1] == "}"
    nodes: set[str] = set()
    edges: set[tuple[str, str, str]] = set()
    for line in (raw.strip() for raw in lines[1:-1]):
        if line.startswith(("graph [", "node [", "edge [")) and line.endswith("];"):
            continue
        if match := _NODE.match(line):
            nodes.add(_unquote(match[1]))
        elif match := _EDGE.match(line):
            edges.add((_unquote(match[1]), _unquote(match[2]), _unquote(match[3] or "")))
        else:
            assert _RANK.match(line), f"not a DOT statement: {line!r}"
    assert {n for e in edges for n in e[:2]} <= nodes
    return _unquote(header[1]), nodes, edges


def _label_boxes(diagram: Diagram) -> tuple[list, list, list[str]]:
    """The drawn edge-label and node boxes (window extents of their bbox patches) and the
    label texts."""
    figure = draw(diagram)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    texts = figure.axes[0].texts
    labels = [t for t in texts if t.get_gid() == "edge-label"]
    nodes = [t for t in texts if t.get_gid() == "node"]
    return ([t.get_bbox_patch().get_window_extent(renderer) for t in labels],
            [t.get_bbox_patch().get_window_extent(renderer) for t in nodes],
            [t.get_text() for t in labels])


def assert_labels_clear(diagram: Diagram) -> None:
    """Every label is drawn once, and no label box overlaps another label or a node."""
    labels, nodes, texts = _label_boxes(diagram)
    assert sorted(texts) == sorted(e.label for e in diagram.edges if e.label)
    for a, b in itertools.combinations(labels, 2):
        assert not a.overlaps(b), (a, b)
    for label, node in itertools.product(labels, nodes):
        assert not label.overlaps(node)


def _darts_edges(pairs: list) -> set[tuple[str, str, str]]:
    names = ["c_{k-2}", "c_{k-1}", "0", "1", "2", "3"]
    edges = {(names[source], str(position // 2), op) for position, (op, source) in
             enumerate(pairs)}
    return edges | {(str(i), "c_{k}", "") for i in range(len(pairs) // 2)}


def test_dot_of_a_darts_cell_has_every_node_and_op_edge() -> None:
    pairs = ZOO["darts_v2"].spec["normal"]
    name, nodes, edges = parse_dot(to_dot(cell_diagram(pairs, "normal cell")))
    assert name == "normal cell"
    assert nodes == {"c_{k-2}", "c_{k-1}", "0", "1", "2", "3", "c_{k}"}
    assert edges == _darts_edges(pairs)
    assert len(edges) == 12


def test_dot_quotes_and_escapes_names_and_labels() -> None:
    diagram = Diagram('a "b" c', (Node("x\\1", "input", 0, 0), Node("y", "output", 1, 0)),
                      (Edge("x\\1", "y", 'op "q"'),))
    text = to_dot(diagram)
    assert '"x\\\\1" -> "y" [label="op \\"q\\""];' in text
    assert parse_dot(text) == ('a "b" c', {"x\\1", "y"}, {("x\\1", "y", 'op "q"')})


@pytest.mark.parametrize("name", sorted(ZOO))
def test_published_cells_are_drawn_without_overlapping_labels(name: str) -> None:
    spec = ZOO[name].spec
    for key in cell_keys(1):
        assert_labels_clear(cell_diagram(spec[key], f"{key} cell"))


@pytest.mark.parametrize("seed", range(6))
def test_random_cells_with_long_labels_are_drawn_without_overlaps(seed: int) -> None:
    """Sampled darts cells, their ops labelled with an activation as A-DARTS does (the longest
    labels), with 4 and 5 intermediate nodes."""
    rng = np.random.default_rng(seed)
    nodes = 4 + seed % 2
    space = make_space("darts", {"nodes": nodes}, DIGITS)
    pairs = space.sample(rng).spec["normal"]
    long_pairs = [[f"{op} (leaky_relu)", source] for op, source in pairs]
    assert len(long_pairs) == 2 * nodes
    assert_labels_clear(cell_diagram(long_pairs, "normal cell"))


def test_multi_level_and_connection_cells_write_png_pdf_and_dot(tmp_path: Path) -> None:
    space = make_space("darts", {"connection_cell": True}, DIGITS)
    spec = {**ZOO["darts_v1"].spec, "normal_2": ZOO["darts_v2"].spec["normal"],
            "connection": "conv_1x1_g4"}
    paths = space.plot(Architecture("darts", spec), str(tmp_path / "cell"))
    keys = ("normal", "normal_2", "reduce", "connection")
    assert sorted(Path(p).name for p in paths) == sorted(
        f"cell_{k}.{ext}" for k in keys for ext in ("png", "pdf", "dot"))
    for path in paths:
        assert Path(path).stat().st_size > 0
    title, _, edges = parse_dot((tmp_path / "cell_normal_2.dot").read_text())
    assert title == "normal cell, level 2 of 2"
    assert edges == _darts_edges(ZOO["darts_v2"].spec["normal"])
    _, nodes, edges = parse_dot((tmp_path / "cell_connection.dot").read_text())
    assert edges == {("c_{k-i}", "c'_{k-i}", "conv_1x1_g4")} and len(nodes) == 2
    assert_labels_clear(connection_diagram("conv_1x1_g4"))


def test_nb201_cell_diagram_leaves_out_none_edges(tmp_path: Path) -> None:
    space = make_space("nb201", {}, DIGITS)
    ops = ["nor_conv_3x3", "none", "avg_pool_3x3", "skip_connect", "none", "nor_conv_1x1"]
    paths = space.plot(space.architecture(ops), str(tmp_path / "cell"))
    assert [Path(p).name for p in paths] == ["cell.png", "cell.pdf", "cell.dot"]
    _, nodes, edges = parse_dot((tmp_path / "cell.dot").read_text())
    assert nodes == {"0", "1", "2", "3"}
    assert edges == {("0", "1", "nor_conv_3x3"), ("1", "2", "avg_pool_3x3"),
                     ("0", "3", "skip_connect"), ("2", "3", "nor_conv_1x1")}
    assert_labels_clear(nb201_diagram(["avg_pool_3x3"] * 6))
