"""``nas bench supernet``: seconds per search step and peak memory of one-shot strategies."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

DEFAULT_STRATEGIES = ("darts", "pcdarts", "gdas")
DEFAULT_SIZES = (16, 32)
_COLUMNS = (
    ("space", "space", "{}"),
    ("strategy", "strategy", "{}"),
    ("image_size", "size", "{}"),
    ("seconds_per_step", "s/step", "{:.3f}"),
    ("peak_rss_mb", "peak MB", "{:.0f}"),
    ("base_rss_mb", "base MB", "{:.0f}"),
    ("threads", "threads", "{}"),
)


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows of :func:`~nascore.bench.supernet.bench_supernet` as an aligned text table."""
    cells = [[title for _key, title, _fmt in _COLUMNS]]
    cells += [[fmt.format(row[key]) for key, _title, fmt in _COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True))
        for line in cells
    )


@click.command("supernet")
@click.option("--strategy", "strategies", multiple=True, default=DEFAULT_STRATEGIES,
              show_default=True, help="One-shot strategy to measure (repeatable).")
@click.option("--size", "sizes", multiple=True, type=int, default=DEFAULT_SIZES,
              show_default=True, help="Image size (repeatable).")
@click.option("--space", "spaces", multiple=True, default=("darts",), show_default=True,
              help="Search space of the supernet, e.g. darts or adarts (repeatable).")
@click.option("--channels", type=int, default=16, show_default=True,
              help="Initial channels C of the supernet.")
@click.option("--layers", type=int, default=8, show_default=True, help="Number of cells.")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Batch size.")
@click.option("--steps", type=int, default=3, show_default=True,
              help="Timed steps (after one untimed warm-up step); the median is reported.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON result.")
def supernet_command(
    strategies: tuple[str, ...],
    sizes: tuple[int, ...],
    spaces: tuple[str, ...],
    channels: int,
    layers: int,
    batch_size: int,
    steps: int,
    as_json: bool,
) -> None:
    """Seconds per search step (weights + architecture step) and peak memory of one-shot
    strategies, each measured in a fresh process on random images.

    Prints a table, then JSON with the rows, the step-time ratios vs darts (strategy vs the darts
    strategy, space vs the darts space) and the documented targets.
    """
    from nascore.bench.supernet import TARGETS, bench_supernet, step_ratios
    from nascore.components import component_class

    for name in spaces:
        component_class("space", name)  # fail fast on an unknown space
    for name in strategies:
        component_class("strategy", name)
    rows = bench_supernet(strategies, sizes, channels, layers, batch_size, steps, spaces)
    result = {"rows": rows, "ratios": step_ratios(rows), "targets": TARGETS}
    if not as_json:
        click.echo(format_table(rows))
        for key, value in result["ratios"].items():
            click.echo(f"{key}: {value:.2f}")
    click.echo(json.dumps(result, indent=2))
