"""``nas bench zerocost`` (see :mod:`nascore_zerocost.bench`)."""

from __future__ import annotations

import json

import click

#: The accuracy columns ``--metric`` takes: per dataset of the NB201 table, 200-epoch test,
#: 12-epoch validation and 12-epoch test accuracy (defined here, where ``--help`` needs no torch).
METRICS = tuple(f"{d}_{kind}" for d in ("cifar10", "cifar100", "imagenet16")
                for kind in ("test_200", "val_12", "test_12"))


@click.command("zerocost")
@click.option("--space", type=click.Choice(["nb201"]), default="nb201", show_default=True,
              help="Benchmark space (the NAS-Bench-201 table).")
@click.option("--sample", type=click.IntRange(min=2), default=1000, show_default=True,
              help="Cells drawn (seeded, without replacement); 15625 or more: all of them.")
@click.option("--proxies", default="synflow,params,flops", show_default=True,
              help="Comma-separated proxies, e.g. synflow,snip,params.")
@click.option("--seed", default=0, show_default=True, help="Seed of the cell sample and data.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Minibatch of the data-dependent proxies.")
@click.option("--data-dir", default=None,
              help="CIFAR-10 (python version) for the data-dependent proxies.")
@click.option("--metric", type=click.Choice(METRICS), default="cifar10_test_200",
              show_default=True,
              help="Accuracy column the proxies are correlated with (networks are built for its "
                   "dataset; data-dependent proxies need a cifar10 column).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def zerocost_command(space: str, sample: int, proxies: str, seed: int, batch_size: int,
                     data_dir: str | None, metric: str, as_json: bool) -> None:
    """Spearman and Kendall rank correlation of zero-cost proxies with NAS-Bench-201's CIFAR-10
    test accuracy (200 epochs; another column with --metric) over sampled cells at the
    benchmark's size, with seconds per network and the published Spearman values."""
    from nascore_zerocost.bench import bench_zerocost, format_table, parse_proxies

    result = bench_zerocost(parse_proxies(proxies), sample, seed, data_dir, batch_size, metric)
    click.echo(json.dumps(result, indent=2) if as_json else format_table(result))
