"""``nas bench latency``: how well a space's latency table predicts measured latencies (see
:mod:`nascore.bench.latency`)."""

from __future__ import annotations

import json

import click

from nascore.cli.bench import parse_overrides


@click.command("latency")
@click.option("--samples", type=click.IntRange(min=2), default=50, show_default=True,
              help="Random architectures measured.")
@click.option("--space", "space_name", default="darts", show_default=True,
              help="Space with a latency table.")
@click.option("--channels", type=int, default=8, show_default=True, help="Initial channels C.")
@click.option("--layers", type=int, default=5, show_default=True, help="Number of cells.")
@click.option("--image-size", type=int, default=16, show_default=True, help="Input height/width.")
@click.option("--in-channels", type=int, default=3, show_default=True, help="Input channels.")
@click.option("--seed", default=0, show_default=True, help="Seed of the sampled architectures.")
@click.option("--threads", type=int, default=1, show_default=True,
              help="Torch threads of the measurements (0: torch's default).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Latency setting, e.g. clock=cpu, batch=8, backend=onnxruntime (see "
              "constraint.latency.* in `nas config`; repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON result.")
def latency_command(samples: int, space_name: str, channels: int, layers: int, image_size: int,
                    in_channels: int, seed: int, threads: int, device: str,
                    overrides: tuple[str, ...], as_json: bool) -> None:
    """How well the latency table's sum predicts the measured latency of built networks:
    Pearson/Spearman correlation and mean absolute/relative error over sampled architectures
    (the table is measured once per device, threads and shape and cached, see
    docs/latency.md)."""
    import torch

    from nascore.bench.latency import bench_latency, format_summary
    from nascore.config import build_config
    from nascore.latency import LatencyConfig
    from nascore.space import DataInfo

    if threads > 0:
        torch.set_num_threads(threads)
    config = build_config(LatencyConfig, parse_overrides(overrides), "constraint.latency")
    result = bench_latency(
        space_name, {"channels": channels, "layers": layers},
        DataInfo(in_channels=in_channels, image_size=image_size, num_classes=10),
        samples, seed, config, device,
    )
    if not as_json:
        click.echo(format_summary(result))
    else:
        click.echo(json.dumps(result, indent=2))
