"""``nas train``: retrain the network of a searched or published architecture."""

from __future__ import annotations

from typing import Any

import click

from nascore.cli.app import THREADS_OPTION, use_threads
from nascore.errors import UsageError


@click.command("train")
@click.argument("run_dir", required=False, type=click.Path())
@click.option("--arch", "arch_name", metavar="NAME",
              help="A published architecture (e.g. darts_v2; `nas plugins` lists them).")
@click.option("--genotype", metavar="TEXT", help="An architecture string, e.g. \"Genotype(...)\".")
@click.option("--arch-file", type=click.Path(dir_okay=False),
              help="architecture.json, or a file with the space's text form (genotype.txt).")
@click.option("--space", help="Space of --genotype / text --arch-file (default: darts).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), metavar="TRAIN_DIR",
              help="Continue an interrupted train run (only --set and --quiet may accompany it).")
@click.option("--epochs", type=int, help="Training epochs (train.epochs).")
@click.option("--batch-size", type=int, help="Batch size (train.batch_size).")
@click.option("--channels", type=int, help="Initial channels C (train.channels).")
@click.option("--layers", type=int, help="Number of cells (train.layers).")
@click.option("--lr", type=float, help="Initial learning rate (train.lr).")
@click.option("--seed", type=int, help="Seed (train.seed).")
@click.option("--log-every", type=int, metavar="N",
              help="Also log a line every N steps (train.log_every; default: epochs only).")
@click.option("--dataset", help="digits (default), fashion-mnist, cifar10, cifar100, imagefolder.")
@click.option("--data-dir", help="Local folder of the dataset (never downloaded).")
@click.option("--device", help="auto (default: a GPU when there is one), cpu, cuda, cuda:N.")
@click.option("--out", type=click.Path(file_okay=False),
              help="Train run directory (default RUN_DIR/train or runs/train-<name>-<time>).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML file with [train]/[data]/[space] sections.")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override one config value, e.g. train.cutout=0 (repeatable).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@THREADS_OPTION
def train_command(
    run_dir: str | None, arch_name: str | None, genotype: str | None, arch_file: str | None,
    space: str | None, resume_dir: str | None, out: str | None, config_file: str | None,
    overrides: tuple[str, ...], quiet: bool, threads: int, **flags: Any,
) -> None:
    """Retrain a derived network (DARTS evaluation recipe by default) and write a train run.

    The architecture comes from a finished search RUN_DIR, --arch, --genotype or --arch-file.
    Defaults: 600 epochs, batch 96, SGD lr 0.025 cosine, cutout 16, drop path 0.2, auxiliary
    0.4, C=36, 20 cells; ImageNet-style folders use the ImageNet recipe.
    """
    from nascore.config import load_toml
    from nascore.distributed import launched
    from nascore.rundir import RunDir
    from nascore.training import resume_training, start_training
    from nascore.training.source import default_out, resolve_source, resolve_tree

    if launched():
        raise UsageError("nas train runs in one process; start it without torchrun")

    if resume_dir:
        extra = [name for name, value in (
            ("RUN_DIR", run_dir), ("--arch", arch_name), ("--genotype", genotype),
            ("--arch-file", arch_file), ("--space", space), ("--out", out),
            ("--config", config_file), *((f"--{k.replace('_', '-')}", v) for k, v in flags.items()),
        ) if value is not None]
        if extra:
            raise UsageError(
                f"--resume continues a run with its own settings; drop {', '.join(extra)} "
                "(use --set SECTION.KEY=VALUE to change a setting)"
            )
        run = RunDir.open(resume_dir)
        use_threads(threads, "train", run.meta.get("config", {}))
        results = resume_training(run, list(overrides), progress=not quiet)
        report_training(resume_dir, results)
        return
    source = resolve_source(run_dir, arch_name, genotype, arch_file, space)
    file_tree = load_toml(config_file) if config_file else None
    base = {"data": dict(source.data_options), "space": dict(source.space_options)}
    tree = resolve_tree(base, source.space, file_tree, flags, list(overrides), source.recipe)
    use_threads(threads, "train", tree)
    target = out or default_out(source)
    run, results = start_training(tree, source, target, progress=not quiet)
    report_training(str(run.path), results)


def report_training(path: str, results: dict[str, Any]) -> None:
    """Print a finished training run's accuracy and files."""
    line = f"test accuracy {results['test_acc']:.4f} after {results['epochs']} epochs"
    if results.get("best_epoch") is not None:
        line += (f" (best validation accuracy {results['best_valid_acc']:.4f} at epoch "
                 f"{results['best_epoch']})")
    click.echo(line)
    files = ", ".join(f"{path}/{name}" for name in ("result.json", *results["weights"].values()))
    click.echo(f"wrote {files}", err=True)
