"""``nas bench rcdarts``: the cost of a projection against the Phase I it follows, and a short
constrained search whose derived network is measured.

**timing** (in this process): an ``rcdarts`` search at the paper's size (``darts``, C = 16,
8 cells, batch 64) on random 3-channel images; Phase I seconds = e_u x the median seconds of a
search step (weights + architecture step, after one untimed step); the projection is timed
twice: as it runs (it stops once the expected costs are feasible) and for all e_p steps (the
worst case). Target (documented, not tested): the worst-case projection under 10% of Phase I.

**search** (a ``nas run`` subprocess): ``rcdarts`` on digits resized to ``image_size`` with the
paper's bounds (params 1.8e5..2.0e5, FLOPs = multiply-adds 2.8e7..3.3e7), shorter phases so that
a few-epoch run projects several times; reports, per Phase II, each expected cost (Eq. 6) before
and after against the bounds (the reach of e_p Adam steps), whether the argmax architecture of
the search met the bounds or which edges the constraint handler's repair changed, and the
derived network's measured params and multiply-adds. The paper's FLOPs bounds are for 32x32
inputs: at 16x16 the ``darts`` network reaches at most ~2.0e7 multiply-adds, and the run stops
with the reachable range (pass bounds scaled by 1/4 for 16x16).

Both default to the paper's headline search (three levels, connection cells).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import torch

from nascore import DataInfo, SearchContext, build_config, registry
from nascore.bench.supernet import seconds_per_search_step
from nascore.events import EventLog
from nascore_rcdarts.projection import Projection
from nascore_rcdarts.strategy import RCDartsStrategy

#: The paper's bounds (RC-DARTS, Sec. 4.1), as ``--constraint`` specs.
PAPER_BOUNDS = ("params:1.8e5..2.0e5", "flops:2.8e7..3.3e7")
#: Worst-case projection seconds over Phase I seconds.
TARGET_PROJECTION_VS_PHASE1 = 0.10


def _constraints(specs: Sequence[str]) -> list[Any]:
    out = []
    for spec in specs:
        name, _, bounds = spec.partition(":")
        out.append(registry().get("constraint", name).from_spec(bounds))
    return out


def bench_timing(
    space: str = "darts",
    channels: int = 16,
    layers: int = 8,
    image_size: int = 32,
    batch_size: int = 64,
    steps: int = 3,
    bounds: Sequence[str] = PAPER_BOUNDS,
    levels: int = 3,
    connection_cell: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Seconds of one projection against the e_u-step Phase I before it (see the module doc)."""
    space_cls = registry().get("space", space)
    sizes = {"channels": channels, "layers": layers, "connection_cell": connection_cell}
    built = space_cls(
        build_config(space_cls.config_cls, sizes, "space"),
        DataInfo(in_channels=3, image_size=image_size, num_classes=10),
    )
    context = SearchContext(
        space=built, seed=seed, device=torch.device("cpu"), events=EventLog(None),
        constraints=_constraints(bounds),
    )
    config = RCDartsStrategy.configure({"batch_size": batch_size, "levels": levels})
    search = RCDartsStrategy(config, context)
    generator = torch.Generator().manual_seed(seed)
    step = seconds_per_search_step(search, image_size, batch_size, steps, generator)
    phase1 = step * config.phase1_steps
    handler = search.part(Projection.name)
    as_run = handler.project()
    worst = handler.project(stop_when_feasible=False)
    return {
        "space": space,
        "channels": channels,
        "layers": layers,
        "levels": levels,
        "connection_cell": connection_cell,
        "image_size": image_size,
        "batch_size": batch_size,
        "bounds": list(bounds),
        "seconds_per_step": round(step, 4),
        "phase1_steps": config.phase1_steps,
        "phase1_seconds": round(phase1, 2),
        "projection_steps_as_run": as_run.steps,
        "projection_seconds_as_run": round(as_run.seconds, 4),
        "projection_feasible_as_run": as_run.feasible,
        "projection_steps_worst": worst.steps,
        "projection_seconds_worst": round(worst.seconds, 4),
        "worst_vs_phase1": round(worst.seconds / phase1, 5),
        "target": TARGET_PROJECTION_VS_PHASE1,
        "met": worst.seconds / phase1 < TARGET_PROJECTION_VS_PHASE1,
        "threads": torch.get_num_threads(),
    }


def bench_search(
    image_size: int = 32,
    epochs: int = 3,
    bounds: Sequence[str] = PAPER_BOUNDS,
    levels: int = 3,
    connection_cell: bool = True,
    phase1_steps: int = 5,
    warm_start_steps: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """A short ``rcdarts`` search at the paper's size on digits (see the module doc); its
    derived network's measured params and multiply-adds against ``bounds``."""
    setting = {"image_size": image_size, "epochs": epochs, "levels": levels,
               "connection_cell": connection_cell, "bounds": list(bounds)}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        args = [
            sys.executable, "-m", "nascore", "run", "--strategy", "rcdarts", "--space", "darts",
            "--dataset", "digits", "--epochs", str(epochs), "--seed", str(seed), "--quiet",
            "--out", str(out), "--set", f"data.image_size={image_size}",
            "--set", f"strategy.phase1_steps={phase1_steps}",
            "--set", f"strategy.warm_start_steps={warm_start_steps}",
            "--set", f"strategy.levels={levels}",
            "--set", f"space.connection_cell={str(connection_cell).lower()}",
        ]
        for spec in bounds:
            args += ["--constraint", spec]
        proc = subprocess.run(args, capture_output=True, text=True, env=dict(os.environ))
        seconds = round(time.perf_counter() - started, 1)
        if proc.returncode != 0:
            lines = proc.stderr.strip().splitlines()
            return {**setting, "seconds": seconds,
                    "error": lines[-1] if lines else f"exit code {proc.returncode}"}
        result = json.loads((out / "result.json").read_text())
        events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    epochs_done = [e for e in events if e.get("type") == "epoch"]
    phases = phase_two_gaps(epochs_done, bounds)
    measured = result["constraints"]
    repair = result.get("constraint_repair", {})
    return {
        **setting,
        "genotype": result["text"],
        "measured": {spec: check["value"] for spec, check in measured.items()},
        "inside_all_bounds": all(check["satisfied"] for check in measured.values()),
        "projections": len(phases),
        "projection_steps": [p["steps"] for p in phases],
        "projections_ending_feasible": sum(p["feasible"] for p in phases),
        "phase_two": phases,
        "argmax_met_bounds": repair.get("argmax_met"),
        "argmax_costs": repair.get("argmax"),
        "repair_changed": repair.get("changed"),
        "expected_at_end": repair.get("expected"),
        "seconds": seconds,
    }


def phase_two_gaps(epochs: Sequence[dict[str, Any]], bounds: Sequence[str]) -> list[dict[str, Any]]:
    """Per Phase II of a run's epoch events: its epoch, lambda, Adam steps, and each expected
    cost before and after with its relative gap to the bounds (``(value - bound) / bound`` for
    the bound it breaks, 0 inside)."""
    limits = {c.spec(): c for c in _constraints(bounds)}

    def gap(spec: str, value: float) -> float:
        c = limits[spec]
        if c.low is not None and value < c.low:
            return round((value - c.low) / c.low, 5)
        if c.high is not None and value > c.high:
            return round((value - c.high) / c.high, 5)
        return 0.0

    phases = []
    for event in epochs:
        p = event["projection"]
        for i, steps in enumerate(p["steps"]):
            before, after = p["expected_before"][i], p["expected_after"][i]
            phases.append({
                "epoch": event["epoch"],
                "lambda": p["lambdas"][i],
                "steps": steps,
                "feasible": p["feasible"][i],
                "expected_before": {k: round(v, 1) for k, v in before.items()},
                "expected_after": {k: round(v, 1) for k, v in after.items()},
                "gap_before": {k: gap(k, v) for k, v in before.items()},
                "gap_after": {k: gap(k, v) for k, v in after.items()},
            })
    return phases


@click.command("rcdarts")
@click.option("--part", "parts", multiple=True, type=click.Choice(("timing", "search")),
              default=("timing", "search"), show_default=True, help="what to measure")
@click.option("--space", default="darts", show_default=True, help="space of the timing")
@click.option("--levels", default=3, show_default=True,
              help="normal-cell levels (the paper's headline search: 3)")
@click.option("--connection-cell/--no-connection-cell", default=True, show_default=True,
              help="search connection cells (the paper's headline search does)")
@click.option("--image-size", default=32, show_default=True,
              help="image size (the paper's FLOPs bounds are for 32x32)")
@click.option("--steps", default=3, show_default=True, help="timed search steps")
@click.option("--epochs", default=3, show_default=True, help="epochs of the search")
@click.option("--constraint", "bounds", multiple=True, default=PAPER_BOUNDS, show_default=True,
              help="bounds NAME:LOW..HIGH (repeatable)")
def bench_command(
    parts: tuple[str, ...],
    space: str,
    levels: int,
    connection_cell: bool,
    image_size: int,
    steps: int,
    epochs: int,
    bounds: tuple[str, ...],
) -> None:
    """RC-DARTS: projection seconds vs Phase I, and a constrained search measured (JSON)."""
    report: dict[str, Any] = {}
    if "timing" in parts:
        report["timing"] = bench_timing(
            space, image_size=image_size, steps=steps, bounds=bounds, levels=levels,
            connection_cell=connection_cell,
        )
    if "search" in parts:
        report["search"] = bench_search(image_size, epochs, bounds, levels, connection_cell)
    click.echo(json.dumps(report, indent=2))


bench_command.nascore_group = "bench"
