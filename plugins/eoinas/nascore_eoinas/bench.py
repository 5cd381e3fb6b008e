"""``nas bench eoinas``: seconds per search step before any pruning and after each stage.

A step is one weights step plus the architecture step(s) of :class:`EoiNASStrategy` on random
images, timed as the median over ``steps`` steps after one untimed step, for hard sampling (the
paper: one op per edge runs) and soft sampling (the released code: every unpruned op runs). The
pruning stages are applied one after another with the strategy's own rule.

Target (documented, not tested; CPU, ``channels=16``, ``layers=8``, ``batch_size=64``): with soft
sampling, the step at 2 ops per edge takes at most 0.4x the step with all 8 ops.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
import torch

from nascore import DataInfo, SearchContext, build_config, registry
from nascore.bench.supernet import seconds_per_search_step
from nascore.events import EventLog
from nascore_eoinas.pruning import GradualPruning
from nascore_eoinas.strategy import EoiNASStrategy

MODES = ("hard", "soft")
#: Soft-sampling step at 2 ops per edge over the step at all ops.
TARGET_SOFT_2_OPS = 0.4


def _strategy(
    mode: str, space: str, channels: int, layers: int, size: int, batch_size: int, seed: int
) -> EoiNASStrategy:
    space_cls = registry().get("space", space)
    built = space_cls(
        build_config(space_cls.config_cls, {"channels": channels, "layers": layers}, "space"),
        DataInfo(in_channels=3, image_size=size, num_classes=10),
    )
    context = SearchContext(space=built, seed=seed, device=torch.device("cpu"), events=EventLog())
    config = EoiNASStrategy.configure({"batch_size": batch_size, "hard_sampling": mode == "hard"})
    return EoiNASStrategy(config, context)


def bench_pruning(
    modes: Sequence[str] = MODES,
    space: str = "darts",
    channels: int = 16,
    layers: int = 8,
    image_size: int = 16,
    batch_size: int = 64,
    steps: int = 3,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """One row per (mode, pruning stage): ops left per edge, seconds per step and the ratio to
    the unpruned step of the same mode."""
    rows = []
    for mode in modes:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use {' or '.join(MODES)}")
        strategy = _strategy(mode, space, channels, layers, image_size, batch_size, seed)
        generator = torch.Generator().manual_seed(seed)
        pruning = strategy.part(GradualPruning.name)
        full = None
        for stage in range(len(pruning.schedule) + 1):
            if stage:
                pruning.prune_stage(epoch=stage - 1)
            seconds = seconds_per_search_step(strategy, image_size, batch_size, steps, generator)
            full = full or seconds
            left = max(int(strategy.masks[g.name].sum(dim=1).max()) for g in pruning.groups)
            rows.append({
                "mode": mode,
                "space": space,
                "stage": stage,
                "ops_per_edge": left,
                "seconds_per_step": round(seconds, 4),
                "vs_unpruned": round(seconds / full, 3),
                "channels": channels,
                "layers": layers,
                "image_size": image_size,
                "batch_size": batch_size,
                "threads": torch.get_num_threads(),
            })
    return rows


def soft_target(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The soft-sampling ratio at 2 ops per edge against :data:`TARGET_SOFT_2_OPS`."""
    found = [r for r in rows if r["mode"] == "soft" and r["ops_per_edge"] == 2]
    if not found:
        return None
    ratio = found[0]["vs_unpruned"]
    return {"soft_2_ops_vs_unpruned": ratio, "target": TARGET_SOFT_2_OPS,
            "met": ratio <= TARGET_SOFT_2_OPS}


@click.command("eoinas")
@click.option("--mode", "modes", multiple=True, type=click.Choice(MODES), default=MODES,
              show_default=True, help="sampling: hard (paper) and/or soft (released code)")
@click.option("--space", default="darts", show_default=True, help="space with a supernet")
@click.option("--channels", default=16, show_default=True)
@click.option("--layers", default=8, show_default=True)
@click.option("--image-size", default=16, show_default=True)
@click.option("--batch-size", default=64, show_default=True)
@click.option("--steps", default=3, show_default=True, help="timed steps per stage")
def bench_command(
    modes: tuple[str, ...],
    space: str,
    channels: int,
    layers: int,
    image_size: int,
    batch_size: int,
    steps: int,
) -> None:
    """EoiNAS: seconds per search step before pruning and after each pruning stage (JSON)."""
    rows = bench_pruning(modes, space, channels, layers, image_size, batch_size, steps)
    click.echo(json.dumps({"rows": rows, "target": soft_target(rows)}, indent=2))


bench_command.nascore_group = "bench"
