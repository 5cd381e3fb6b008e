"""``nas bench``: ``supernet`` (seconds per search step and peak memory of one-shot strategies) and
``nb201`` (search quality of discrete strategies on the NAS-Bench-201 table)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from nascore.bench.supernet import SUPERNETS
from nascore.config import parse_value
from nascore.errors import ConfigError
from nascore.estimators.nb201_table import DATASETS

DEFAULT_STRATEGIES = ("darts", "pcdarts", "gdas")
DEFAULT_SIZES = (16, 32)
_COLUMNS = (
    ("space", "space", "{}"),
    ("strategy", "strategy", "{}"),
    ("supernet", "supernet", "{}"),
    ("image_size", "size", "{}"),
    ("seconds_per_step", "s/step", "{:.3f}"),
    ("cpu_seconds_per_step", "cpu s/step", "{:.3f}"),
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


def format_naive_ratios(ratios: dict[str, dict[str, float]], targets: dict[str, float]) -> str:
    """One line per ``strategy/space/size``: nascore's step time and peak memory over the naive
    supernet's, with the darts targets."""
    lines = []
    for key, value in ratios.items():
        line = (f"nascore vs naive {key}: time {value['time']:.2f}x "
                f"(cpu {value['cpu_time']:.2f}x), memory {value['memory']:.2f}x")
        if key.startswith("darts/"):
            line += (f" (targets <= {targets['darts_step_vs_naive']}x, "
                     f"<= {targets['darts_peak_vs_naive']}x)")
        lines.append(line)
    return "\n".join(lines)


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` strings (``--set``) as a dict of parsed values."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        options[key.strip()] = parse_value(value.strip())
    return options


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
@click.option("--device", default="auto", show_default=True,
              help="auto (a GPU when there is one), cpu, cuda or cuda:N.")
@click.option("--supernet", "supernets", multiple=True, type=click.Choice(SUPERNETS),
              default=SUPERNETS, show_default=True,
              help="nascore's supernet and/or the naive mixture baseline (repeatable).")
@click.option("--repeats", type=click.IntRange(min=1), default=2, show_default=True,
              help="Fresh-process measurements per row; the best time and lowest peak are kept.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Strategy config value of nascore's rows, e.g. memory_format=contiguous "
              "(repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON result.")
def supernet_command(
    strategies: tuple[str, ...],
    sizes: tuple[int, ...],
    spaces: tuple[str, ...],
    channels: int,
    layers: int,
    batch_size: int,
    steps: int,
    device: str,
    supernets: tuple[str, ...],
    repeats: int,
    overrides: tuple[str, ...],
    as_json: bool,
) -> None:
    """Seconds per search step (weights + architecture step) and peak memory of one-shot
    strategies on nascore's supernet and on the naive mixture supernet, each measured in a fresh
    process on random images.

    Prints a table, the nascore-vs-naive ratios and the step-time ratios vs darts (strategy vs
    the darts strategy, space vs the darts space), then JSON with the rows, both kinds of ratios
    and the documented targets.
    """
    from nascore.bench.supernet import TARGETS, bench_supernet, naive_ratios, step_ratios
    from nascore.plugins import registry

    options = parse_overrides(overrides)
    for name in spaces:
        registry().get("space", name)  # fail fast on an unknown space
    for name in strategies:
        registry().get("strategy", name).configure(options)  # and on a bad --set
    rows = bench_supernet(strategies, sizes, channels, layers, batch_size, steps, spaces,
                          supernets=tuple(dict.fromkeys(supernets)), repeats=repeats,
                          options=options, device=device)
    result = {"rows": rows, "naive_ratios": naive_ratios(rows), "ratios": step_ratios(rows),
              "targets": TARGETS}
    if not as_json:
        click.echo(format_table(rows))
        if result["naive_ratios"]:
            click.echo(format_naive_ratios(result["naive_ratios"], TARGETS))
        for key, value in result["ratios"].items():
            click.echo(f"{key}: {value:.2f}")
    click.echo(json.dumps(result, indent=2))


@click.command("nb201")
@click.option("--strategy", "strategies", multiple=True,
              help="Discrete strategy (repeatable; default: random, evolution and reinforce).")
@click.option("--queries", default=100, show_default=True, help="Estimator queries per search.")
@click.option("--repeats", default=100, show_default=True, help="Searches (one seed each).")
@click.option(
    "--dataset",
    type=click.Choice(DATASETS),
    default="cifar10",
    show_default=True,
    help="Which accuracies of the table.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the first repeat.")
@click.option(
    "--preset",
    "presets",
    multiple=True,
    help="Also run each strategy that has this preset with it, e.g. tuned (repeatable).",
)
@click.option(
    "--warmup",
    "warmups",
    multiple=True,
    metavar="PROXY",
    help="Also run each strategy with this zero-cost warm-up (strategy.warmup_proxy), e.g. "
    "synflow from the zerocost plugin (repeatable; warmup_samples via --set).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config value of the strategies that have it, e.g. population=20.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def bench_nb201_command(
    strategies: tuple[str, ...],
    queries: int,
    repeats: int,
    dataset: str,
    seed: int,
    presets: tuple[str, ...],
    warmups: tuple[str, ...],
    overrides: tuple[str, ...],
    as_json: bool,
) -> None:
    """Search quality of discrete strategies on the NAS-Bench-201 table (200-epoch test accuracy
    of the selected cells, selected by 12-epoch validation accuracy), with the published
    defaults and, beside them, any --preset and --warmup; closes with the paper's figures."""
    options = parse_overrides(overrides)
    from nascore.bench.nb201 import BASELINES, bench_nb201, bench_plan, format_results

    plan = bench_plan(strategies or BASELINES, presets, options, warmups)
    results = []
    for strategy, values in plan:
        results.append(bench_nb201(strategy, queries, repeats, dataset, seed, values))
        if not as_json:
            click.echo(f"{results[-1]['label']}: done in {results[-1]['seconds']:.1f}s", err=True)
    click.echo(json.dumps(results, indent=2) if as_json else format_results(results))


@click.command("scale")
@click.option("--estimates", default=16, show_default=True,
              help="Train-estimator evaluations (tiny budget, digits).")
@click.option("--executor", "kind", type=click.Choice(["ray", "process"]), default="ray",
              show_default=True, help="Executor compared with inline evaluation.")
@click.option("--workers", default=2, show_default=True, help="Executor workers.")
@click.option("--processes", default=2, show_default=True,
              help="Data-parallel processes of the darts step measurement.")
@click.option("--batch-size", default=64, show_default=True,
              help="Global batch of the darts step (split over the processes).")
@click.option("--repeats", type=click.IntRange(min=1), default=2, show_default=True,
              help="Timed rounds of the estimates on each side (the best is kept).")
@click.option("--skip", type=click.Choice(["estimates", "ddp"]), multiple=True,
              help="Leave out a measurement (repeatable).")
def scale_command(estimates: int, kind: str, workers: int, processes: int, batch_size: int,
                  repeats: int, skip: tuple[str, ...]) -> None:
    """Parallel candidate evaluation vs inline, and a data-parallel darts step vs one process
    (see nascore.bench.scale); prints JSON with the targets."""
    from nascore.bench.scale import TARGETS, bench_ddp, bench_estimates

    result: dict[str, Any] = {"targets": TARGETS}
    if "estimates" not in skip:
        result["estimates"] = bench_estimates(estimates, workers, kind, repeats=repeats)
    if "ddp" not in skip:
        result["ddp"] = bench_ddp(processes, batch_size=batch_size)
    click.echo(json.dumps(result, indent=2))
