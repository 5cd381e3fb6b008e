"""Cell diagrams: a directed graph drawn with matplotlib so that no two labels overlap, and the
same graph as graphviz DOT text (written by us; no graphviz needed).

A :class:`Diagram` lists nodes at grid positions and (optionally labelled) edges. :func:`draw`
lays it out in inches: every edge is a quadratic curve bent just enough to clear the other
nodes, and every edge label sits on its own edge, at the point nearest the edge's middle whose
box overlaps no node, arrow tip or other label and is crossed by the fewest other edges. When
some label finds no free place the grid is spread out and the layout done again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch
from matplotlib.path import Path as CurvePath

COLOURS = {"input": "#a8d5a2", "node": "#9ecae1", "output": "#fdd0a2"}
_NODE_FONT, _LABEL_FONT, _TITLE_FONT = 10, 7, 11
_NODE_PAD, _LABEL_PAD = 0.35, 0.2  # box padding, in font sizes (matplotlib's boxstyle pad)
_GAP = 3 / 72  # inches kept free around every box
_SAMPLES = 400  # points per edge curve (dense enough that a line cannot slip past a box)
_NEAR = 0.1  # inches: curves closer than this over a stretch run together (avoided by bending)
_STRETCH = 4  # middle samples (of every 8th) near other curves that count as running together
_BENDS = (0.0, 0.12, -0.12, 0.25, -0.25, 0.4, -0.4, 0.6, -0.6)  # control-point offsets / length
_SPOTS = tuple(sorted((round(0.15 + 0.025 * i, 3) for i in range(29)), key=lambda t: abs(t - 0.5)))
_SPREADS = tuple(1.2**i for i in range(12))  # grid unit in inches, tried in turn
_WIDER = 2  # spreads tried beyond the first complete layout to free labels of crossing edges
_MARGIN = 0.2  # inches around the drawing

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in inches


@attrs.frozen
class Node:
    """A node at grid position ``(x, y)``; ``kind`` (input, node, output) sets its colour;
    ``tex`` draws the name as math text (``c_{k-2}``)."""

    name: str
    kind: str
    x: float
    y: float
    tex: bool = False


@attrs.frozen
class Edge:
    """An edge from ``source`` to ``target`` (node names) with an optional label."""

    source: str
    target: str
    label: str = ""


@attrs.frozen
class Diagram:
    """A titled directed graph."""

    title: str
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(diagram: Diagram) -> str:
    """The diagram as a graphviz ``digraph`` (left to right, inputs first, outputs last)."""
    lines = [
        f"digraph {_quote(diagram.title)} {{",
        f"  graph [rankdir=LR, label={_quote(diagram.title)}, labelloc=t];",
        '  node [shape=box, style="rounded,filled", fontname=Helvetica];',
        "  edge [fontname=Helvetica, fontsize=10];",
    ]
    lines += [f"  {_quote(n.name)} [fillcolor={_quote(COLOURS[n.kind])}];" for n in diagram.nodes]
    for rank, kind in (("source", "input"), ("sink", "output")):
        names = [_quote(n.name) for n in diagram.nodes if n.kind == kind]
        if names:
            lines.append(f"  {{ rank={rank}; {'; '.join(names)}; }}")
    for edge in diagram.edges:
        attributes = f" [label={_quote(edge.label)}]" if edge.label else ""
        lines.append(f"  {_quote(edge.source)} -> {_quote(edge.target)}{attributes};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _node_text(node: Node) -> str:
    return f"${node.name}$" if node.tex else node.name


def _measure(texts: Sequence[tuple[str, int]]) -> list[tuple[float, float]]:
    """Width and height in inches of each ``(text, font size)``."""
    figure = Figure()
    renderer = FigureCanvasAgg(figure).get_renderer()
    sizes = []
    for text, size in texts:
        extent = figure.text(0, 0, text, fontsize=size).get_window_extent(renderer)
        sizes.append((extent.width / figure.dpi, extent.height / figure.dpi))
    return sizes


def _box(center: np.ndarray, size: tuple[float, float], pad: float) -> Box:
    half_w, half_h = size[0] / 2 + pad, size[1] / 2 + pad
    return (center[0] - half_w, center[1] - half_h, center[0] + half_w, center[1] + half_h)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _inside(points: np.ndarray, box: Box) -> np.ndarray:
    return ((points[:, 0] > box[0]) & (points[:, 0] < box[2])
            & (points[:, 1] > box[1]) & (points[:, 1] < box[3]))


def _grow(box: Box, by: float) -> Box:
    return (box[0] - by, box[1] - by, box[2] + by, box[3] + by)


@attrs.frozen
class _Curve:
    """An edge's quadratic curve sampled at ``ts``, and the visible part between its nodes."""

    ts: np.ndarray
    points: np.ndarray
    visible: np.ndarray  # bool per sample: outside both end boxes

    @classmethod
    def make(cls, start: np.ndarray, end: np.ndarray, bend: float, ends: tuple[Box, Box]
             ) -> _Curve:
        delta = end - start
        control = (start + end) / 2 + bend * np.array([-delta[1], delta[0]])
        ts = np.linspace(0.0, 1.0, _SAMPLES)[:, None]
        points = (1 - ts) ** 2 * start + 2 * ts * (1 - ts) * control + ts**2 * end
        visible = ~_inside(points, _grow(ends[0], _GAP)) & ~_inside(points, _grow(ends[1], _GAP))
        return cls(ts[:, 0], points, visible)

    def at(self, t: float) -> np.ndarray:
        return np.array([np.interp(t, self.ts, self.points[:, i]) for i in (0, 1)])

    def shown(self) -> np.ndarray:
        """The visible samples (from the source's box to the target's)."""
        return self.points[self.visible]


@attrs.frozen
class _Layout:
    """Node centres and boxes, edge curves and label boxes in inches (a label box is ``None``
    for an unlabelled edge or when no free place was found: then ``complete`` is false)."""

    centres: dict[str, np.ndarray]
    node_boxes: dict[str, Box]
    curves: list[_Curve]
    labels: list[Box | None]
    complete: bool
    crossings: int  # (label, other edge) pairs where the edge runs through the label's box


def _run_together(curve: _Curve, others: Sequence[_Curve]) -> int:
    """How far the middle of ``curve`` (away from its nodes, where edges meet anyway) runs
    within :data:`_NEAR` of ``others``: 0 for crossings, more for longer shared stretches."""
    middle = curve.points[(curve.ts > 0.2) & (curve.ts < 0.8)][::8]
    if not others or not len(middle):
        return 0
    pool = np.concatenate([c.shown()[::2] for c in others])
    near = np.linalg.norm(middle[:, None, :] - pool[None, :, :], axis=-1).min(1) < _NEAR
    return max(int(near.sum()) - _STRETCH + 1, 0)


def _bent_curve(edge: Edge, centres: dict[str, np.ndarray], boxes: dict[str, Box],
                drawn: Sequence[_Curve]) -> _Curve:
    """The curve of ``edge`` that keeps clear of every other node's box, then runs along the
    ``drawn`` curves least, then is bent least."""
    ends = (boxes[edge.source], boxes[edge.target])
    others = [_grow(b, _GAP) for name, b in boxes.items() if name not in (edge.source, edge.target)]
    best, best_score = None, None
    for bend in _BENDS:
        curve = _Curve.make(centres[edge.source], centres[edge.target], bend, ends)
        hits = sum(int(_inside(curve.points, box).sum()) for box in others)
        score = (hits, _run_together(curve, drawn))
        if best_score is None or score < best_score:
            best, best_score = curve, score
    assert best is not None
    return best


def _layout(diagram: Diagram, node_sizes: dict[str, tuple[float, float]],
            label_sizes: list[tuple[float, float]], unit: float) -> _Layout:
    centres = {n.name: np.array([n.x * unit, n.y * unit]) for n in diagram.nodes}
    node_pad = _NODE_PAD * _NODE_FONT / 72
    boxes = {name: _box(centres[name], node_sizes[name], node_pad) for name in centres}
    curves: list[_Curve] = []
    for edge in diagram.edges:
        curves.append(_bent_curve(edge, centres, boxes, curves))
    tips = [_box(c.shown()[-1], (0.0, 0.0), 0.06) for c in curves if c.visible.any()]
    taken = [_grow(b, _GAP) for b in [*boxes.values(), *tips]]
    label_pad = _LABEL_PAD * _LABEL_FONT / 72
    labels: list[Box | None] = [None] * len(curves)
    complete, crossings = True, 0
    for index, (edge, curve) in enumerate(zip(diagram.edges, curves, strict=True)):
        if not edge.label:
            continue
        crossing = [c.shown() for j, c in enumerate(curves) if j != index]
        best = None
        for t in _SPOTS:
            box = _box(curve.at(t), label_sizes[index], label_pad)
            if any(_overlap(_grow(box, _GAP), other) for other in taken):
                continue
            hits = sum(bool(_inside(points, _grow(box, _GAP)).any()) for points in crossing)
            if best is None or hits < best[0]:
                best = (hits, box)
            if hits == 0:
                break
        if best is None:
            complete = False
            continue
        crossings += best[0]
        labels[index] = best[1]
        taken.append(_grow(best[1], _GAP))
    return _Layout(centres, boxes, curves, labels, complete, crossings)


def draw(diagram: Diagram) -> Figure:
    """The diagram as a matplotlib figure of its own size (one axes unit is one inch); edge
    labels are texts with gid ``"edge-label"``, nodes texts with gid ``"node"``."""
    node_sizes = dict(zip(
        (n.name for n in diagram.nodes),
        _measure([(_node_text(n), _NODE_FONT) for n in diagram.nodes]), strict=True,
    ))
    label_sizes = _measure([(e.label, _LABEL_FONT) for e in diagram.edges])
    best: _Layout | None = None
    wider = 0
    for unit in _SPREADS:
        layout = _layout(diagram, node_sizes, label_sizes, unit)
        if best is None or (not layout.complete, layout.crossings) < (
                not best.complete, best.crossings):
            best = layout
        if best.complete:
            if best.crossings == 0 or wider == _WIDER:
                break
            wider += 1
    assert best is not None
    return _render(diagram, best)


def _render(diagram: Diagram, layout: _Layout) -> Figure:
    boxes = [*layout.node_boxes.values(), *(b for b in layout.labels if b is not None)]
    points = np.concatenate([np.array(boxes).reshape(-1, 2)]
                            + [c.shown() for c in layout.curves if c.visible.any()])
    (x0, y0), (x1, y1) = points.min(0) - _MARGIN, points.max(0) + _MARGIN
    title_height = 0.35
    figure = Figure(figsize=(x1 - x0, y1 - y0 + title_height))
    FigureCanvasAgg(figure)
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1 + title_height)
    ax.text((x0 + x1) / 2, y1 + title_height / 2, diagram.title, fontsize=_TITLE_FONT,
            ha="center", va="center")
    for curve in layout.curves:
        shown = curve.shown()
        if len(shown) >= 2:
            ax.add_patch(FancyArrowPatch(path=CurvePath(shown), arrowstyle="-|>",
                                         mutation_scale=10, color="0.35", linewidth=1.0))
    label_box = {"boxstyle": f"round,pad={_LABEL_PAD}", "fc": "white", "ec": "0.75",
                 "linewidth": 0.5}
    for edge, box in zip(diagram.edges, layout.labels, strict=True):
        if box is not None:
            ax.text((box[0] + box[2]) / 2, (box[1] + box[3]) / 2, edge.label, ha="center",
                    va="center", fontsize=_LABEL_FONT, gid="edge-label", bbox=label_box)
    for node in diagram.nodes:
        ax.text(*layout.centres[node.name], _node_text(node), fontsize=_NODE_FONT, ha="center",
                va="center", gid="node", bbox={"boxstyle": f"round,pad={_NODE_PAD}",
                                               "fc": COLOURS[node.kind], "linewidth": 1.0})
    return figure


def save(diagram: Diagram, path_stem: str) -> list[str]:
    """Write ``path_stem`` + ``.png``, ``.pdf`` (the drawing) and ``.dot`` (graphviz text);
    return the paths."""
    figure = draw(diagram)
    paths = [f"{path_stem}.png", f"{path_stem}.pdf", f"{path_stem}.dot"]
    for path in paths[:2]:
        figure.savefig(path, bbox_inches="tight", dpi=150)
    Path(paths[2]).write_text(to_dot(diagram))
    return paths
