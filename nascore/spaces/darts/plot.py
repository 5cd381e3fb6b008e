"""Cell diagrams with matplotlib (no graphviz): inputs c_{k-2}, c_{k-1}, nodes 0.., output c_{k};
and the one-edge connection cell of RC-DARTS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_BOX = {"boxstyle": "round,pad=0.35", "linewidth": 1.0}
_BEND = 0.2  # curvature of op edges, so edges that skip a node do not cross it
_LABEL_AT = 0.35  # where along its edge an op label sits (crossings are mid-edge)
_COLOURS = {"input": "#a8d5a2", "node": "#9ecae1", "output": "#fdd0a2"}


def _positions(nodes: int) -> dict[str, tuple[float, float]]:
    """Inputs on the left, intermediate nodes on a descending diagonal, output on the right."""
    height = 1.2 * max(nodes - 1, 1)
    pos = {"c_{k-2}": (0.0, height * 0.7), "c_{k-1}": (0.0, height * 0.3)}
    for i in range(nodes):
        pos[str(i)] = (2.0 + 1.5 * i, height * (1 - i / max(nodes - 1, 1)))
    pos["c_{k}"] = (1.5 + 1.5 * nodes + 1.0, height * 0.5)
    return pos


def _state_name(source: int) -> str:
    return ("c_{k-2}", "c_{k-1}")[source] if source < 2 else str(source - 2)


def cell_title(key: str, levels: int) -> str:
    """The diagram title of cell ``key``: ``"normal cell"``, ``"reduce cell"`` or, with
    ``levels`` > 1, ``"normal cell, level 2 of 3"``."""
    if levels == 1 or not key.startswith("normal"):
        return f"{key} cell"
    level = 1 if key == "normal" else int(key.rsplit("_", 1)[1])
    return f"normal cell, level {level} of {levels}"


def _save(figure: Figure, path_stem: str) -> list[str]:
    paths = [f"{path_stem}.png", f"{path_stem}.pdf"]
    for path in paths:
        figure.savefig(path, bbox_inches="tight", dpi=150)
    return paths


def plot_connection(op: str, path_stem: str) -> list[str]:
    """Draw the connection cell (input -> ``op`` -> output, in front of every cell) to
    ``path_stem`` + ``.png``/``.pdf``."""
    figure = Figure(figsize=(4.5, 1.4))
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.set_axis_off()
    ax.set_title("connection cell (in front of every cell)")
    ax.annotate("", xy=(3.0, 0.0), xytext=(0.0, 0.0),
                arrowprops={"arrowstyle": "-|>", "color": "0.35", "shrinkA": 18, "shrinkB": 18})
    ax.text(1.5, 0.12, op, fontsize=8, ha="center", va="bottom")
    ax.text(0.0, 0.0, "$c_{k-i}$", ha="center", va="center", bbox={**_BOX, "fc": _COLOURS["input"]})
    ax.text(3.0, 0.0, "0", ha="center", va="center", bbox={**_BOX, "fc": _COLOURS["node"]})
    ax.set_xlim(-0.6, 3.6)
    ax.set_ylim(-0.5, 0.6)
    return _save(figure, path_stem)


def plot_cell(pairs: Sequence[Sequence[Any]], title: str, path_stem: str) -> list[str]:
    """Draw one cell (``[op, input]`` pairs, two per node) to ``path_stem`` + ``.png``/``.pdf``."""
    nodes = len(pairs) // 2
    pos = _positions(nodes)
    figure = Figure(figsize=(3.0 + 1.8 * nodes, 1.5 + 1.2 * nodes))
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    edges = [(_state_name(source), str(position // 2), op) for position, (op, source) in
             enumerate(pairs)]
    edges += [(str(i), "c_{k}", "") for i in range(nodes)]
    for start, end, label in edges:
        (x0, y0), (x1, y1) = pos[start], pos[end]
        bend = _BEND if label else 0.0
        ax.annotate(
            "", xy=(x1, y1), xytext=(x0, y0),
            arrowprops={"arrowstyle": "-|>", "color": "0.35", "shrinkA": 14, "shrinkB": 14,
                        "connectionstyle": f"arc3,rad={bend}"},
        )
        if label:  # a point of matplotlib's arc3 curve (a quadratic Bezier), near the start
            cx, cy = (x0 + x1) / 2 + bend * (y1 - y0), (y0 + y1) / 2 - bend * (x1 - x0)
            t = _LABEL_AT
            x = (1 - t) ** 2 * x0 + 2 * t * (1 - t) * cx + t**2 * x1
            y = (1 - t) ** 2 * y0 + 2 * t * (1 - t) * cy + t**2 * y1
            ax.text(x, y, label, fontsize=7, ha="center", va="center",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
    for name, (x, y) in pos.items():
        kind = "input" if name.startswith("c_{k-") else "output" if name == "c_{k}" else "node"
        ax.text(x, y, f"${name}$" if name.startswith("c_") else name, ha="center", va="center",
                bbox={**_BOX, "fc": _COLOURS[kind]})
    xs = [x for x, _ in pos.values()]
    ys = [y for _, y in pos.values()]
    ax.set_xlim(min(xs) - 0.5, max(xs) + 0.5)
    ax.set_ylim(min(ys) - 0.5, max(ys) + 0.5)
    return _save(figure, path_stem)
