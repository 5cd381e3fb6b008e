"""``nas compare``: strategies against random architectures of the same space, one protocol."""

from __future__ import annotations

from typing import Any

import click

from nascore.cli.app import THREADS_OPTION
from nascore.errors import UsageError

#: ``nas run`` options every search of the study shares.
SEARCH_FLAGS = ("dataset", "data_dir", "epochs", "batch_size", "channels", "layers",
                "estimator", "budget", "device")


@click.command("compare")
@click.option("--space", help="The study's space: rows search it unless they name their own, "
              "and the random architectures come from it.")
@click.option("--strategies", metavar="A,B,...",
              help="Rows: STRATEGY or STRATEGY@SPACE (e.g. darts,gdas,darts@adarts).")
@click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
              help="Searches (and retrainings) per row, seeds 0..N-1.")
@click.option("--random", "random_count", type=click.IntRange(min=0), default=8,
              show_default=True, help="Random architectures of --space, retrained alike.")
@click.option("--out", type=click.Path(file_okay=False), help="New study directory.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Continue a killed study (finished runs are reused).")
@click.option("--dataset", help="digits (default), fashion-mnist, cifar10, cifar100, imagefolder.")
@click.option("--data-dir", help="Local folder of the dataset (never downloaded).")
@click.option("--epochs", type=int, help="Search epochs (strategy.epochs).")
@click.option("--batch-size", type=int, help="Search batch size (strategy.batch_size).")
@click.option("--channels", type=int, help="Initial channels of the search network.")
@click.option("--layers", type=int, help="Cells of the search network.")
@click.option("--estimator", help="Estimator of discrete strategies (nb201: tabular study).")
@click.option("--budget", help="Named budget preset of the estimator.")
@click.option("--device", help="auto (default), cpu, cuda, cuda:N.")
@click.option("--set", "overrides", multiple=True, metavar="[ROW:]SECTION.KEY=VALUE",
              help="A search setting (ROW: only that row's), or train.KEY=VALUE for every "
                   "retraining (repeatable).")
@click.option("--train-set", "train_overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Any other setting of the retrainings, e.g. data.subset=5000 (repeatable).")
@click.option("--executor", type=click.Choice(["inline", "process", "ray"]), default="inline",
              show_default=True, help="Where the study's runs go (independent runs at once).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs at once (--executor process or ray); each gets its share of threads.")
@THREADS_OPTION
def compare_command(space: str | None, strategies: str | None, seeds: int, random_count: int,
                    out: str | None, resume_dir: str | None, overrides: tuple[str, ...],
                    train_overrides: tuple[str, ...], executor: str, workers: int,
                    threads: int, **flags: Any) -> None:
    """Search with each strategy over seeds, retrain every derived network and random ones of
    the same space under one training protocol, and write report.md/.json/.png.

    Retraining follows `nas train`'s recipe (set its size with --set train.epochs=...,
    train.channels=..., train.layers=...). With --estimator nb201 nothing is trained: the
    table's test accuracy of each selected cell is compared, by query budget
    (--set strategy.queries=N).
    """
    from pathlib import Path

    from nascore.compare import compare, resume
    from nascore.compare.report import REPORT_MD

    pool = {"kind": executor, "workers": workers, "threads": threads}
    if resume_dir:
        given = [k for k, v in (("--space", space), ("--strategies", strategies), ("--out", out),
                                *((f"--{k.replace('_', '-')}", v) for k, v in flags.items()))
                 if v is not None] + (["--set"] if overrides else []) + (
                     ["--train-set"] if train_overrides else [])
        if given:
            raise UsageError(f"--resume continues a study with its own settings; drop "
                             f"{', '.join(given)}")
        resume(resume_dir, pool)
        click.echo((Path(resume_dir) / REPORT_MD).read_text())
        return
    if not (space and strategies and out):
        raise UsageError("give --space, --strategies and --out (or --resume DIR)")
    if executor == "inline" and workers > 1:
        raise UsageError(f"--workers {workers} needs --executor process (or ray)")
    if executor == "inline" and threads:
        from nascore.threads import use_thread_share

        use_thread_share(1, threads)
    chosen = {k: v for k, v in flags.items() if v is not None and k in SEARCH_FLAGS}
    compare(space, strategies.split(","), seeds=seeds, random=random_count, out=out,
            flags=chosen, overrides=overrides, train_overrides=train_overrides, executor=pool)
    click.echo((Path(out) / REPORT_MD).read_text())
