"""The pruning timeline of an EoiNAS run, drawn from its ``prune`` events (``nas show``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

#: Above this many epochs the timeline's cells are not annotated with their counts.
ANNOTATE_EPOCHS = 40


@attrs.frozen
class Timeline:
    """One decision group's pruning history.

    ``remaining[e, t]``: ops left on edge ``edges[e]`` at the end of epoch ``t`` (0-based);
    ``pruned_at[e, c]``: the epoch (0-based) at whose end ``candidates[c]`` left edge ``e``,
    ``-1`` if it never did.
    """

    group: str
    edges: list[str]
    candidates: list[str]
    remaining: np.ndarray
    pruned_at: np.ndarray


def timeline(prunes: Sequence[dict[str, Any]], group: str, epochs: int) -> Timeline:
    """The :class:`Timeline` of ``group`` over ``epochs`` epochs from its ``prune`` events.

    Candidates are listed alphabetically (the events do not carry the group's order).
    """
    own = [p for p in prunes if p["group"] == group]
    edges = list(dict.fromkeys(p["edge"] for p in own))
    candidates = sorted({p["op"] for p in own} | {c for p in own for c in p["remaining"]})
    first = {edge: next(p for p in own if p["edge"] == edge) for edge in edges}
    remaining = np.empty((len(edges), epochs), dtype=int)
    pruned_at = np.full((len(edges), len(candidates)), -1, dtype=int)
    for e, edge in enumerate(edges):
        remaining[e, :] = len(first[edge]["remaining"]) + 1
        for p in own:
            if p["edge"] == edge:
                remaining[e, p["epoch"]:] -= 1
                pruned_at[e, candidates.index(p["op"])] = p["epoch"]
    return Timeline(group, edges, candidates, remaining, pruned_at)


def _ink(value: float, top: float) -> str:
    """A label colour readable on the colour of ``value`` in a light-to-dark scale to ``top``."""
    return "white" if value > 0.6 * top else "black"


def plot_pruning(events: Sequence[dict[str, Any]], path_stem: str) -> list[str]:
    """Write ``<path_stem>_pruning.png``: per op group, the ops left on every edge over the
    epochs (top) and the epoch each op was pruned from each edge (bottom). Returns the written
    paths (none when the events hold no ``prune`` record)."""
    prunes = [e for e in events if e.get("type") == "prune"]
    if not prunes:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = 1 + max(
        int(e["epoch"]) for e in events if e.get("type") in ("epoch", "prune") and "epoch" in e
    )
    groups = list(dict.fromkeys(p["group"] for p in prunes))
    lines = [timeline(prunes, g, epochs) for g in groups]
    rows = max(len(t.edges) for t in lines)
    fig, axes = plt.subplots(
        2, len(lines), figsize=(max(6.0, 0.3 * epochs + 3) * len(lines), 0.35 * rows * 2 + 3),
        squeeze=False,
    )
    for col, t in enumerate(lines):
        top, bottom = axes[0, col], axes[1, col]
        top_max = int(t.remaining.max())
        image = top.imshow(
            t.remaining, aspect="auto", cmap="YlGn", vmin=0, vmax=top_max, interpolation="nearest"
        )
        top.set_title(f"{t.group}: ops left per edge")
        top.set_xlabel("epoch")
        top.set_xticks(range(epochs), [str(i + 1) for i in range(epochs)], fontsize=6)
        top.set_yticks(range(len(t.edges)), t.edges, fontsize=7)
        fig.colorbar(image, ax=top)
        if epochs <= ANNOTATE_EPOCHS:
            for (e, x), value in np.ndenumerate(t.remaining):
                top.text(x, e, str(value), ha="center", va="center", fontsize=6,
                         color=_ink(value, top_max))
        shown = np.ma.masked_less(t.pruned_at + 1, 1)
        bottom.imshow(
            shown, aspect="auto", cmap="YlOrBr", vmin=0, vmax=epochs, interpolation="nearest"
        )
        bottom.set_title(f"{t.group}: epoch each op was pruned")
        bottom.set_xticks(range(len(t.candidates)), t.candidates, rotation=45, ha="right",
                          fontsize=7)
        bottom.set_yticks(range(len(t.edges)), t.edges, fontsize=7)
        for (e, c), value in np.ndenumerate(t.pruned_at):
            label = "kept" if value < 0 else str(value + 1)
            bottom.text(c, e, label, ha="center", va="center", fontsize=6,
                        color=_ink(value + 1, epochs))
    fig.tight_layout()
    path = f"{path_stem}_pruning.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path]
