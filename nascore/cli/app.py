"""The ``nas`` command line."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import click

from nascore.cli.lazy import PluginGroup
from nascore.errors import NascoreError, UsageError

_RUN_OPTIONS = [
    click.option("--strategy", help="Search strategy (see `nas plugins`)."),
    click.option("--space", help="Search space (see `nas plugins`)."),
    click.option(
        "--dataset", help="digits (default), fashion-mnist, cifar10, cifar100, imagefolder."
    ),
    click.option("--data-dir", help="Local folder of the dataset (never downloaded)."),
    click.option("--epochs", type=int, help="Search epochs (strategy.epochs)."),
    click.option("--batch-size", type=int, help="Batch size (strategy.batch_size)."),
    click.option("--channels", type=int, help="Initial channels of the supernet (space.channels)."),
    click.option("--layers", type=int, help="Number of cells (space.layers)."),
    click.option("--seed", type=int, help="Seed (run.seed)."),
    click.option("--estimator", help="Estimator for discrete strategies (train, nb201, ...)."),
    click.option("--budget", help="Named budget preset (see `nas plugins`)."),
    click.option("--log-every", type=int, metavar="N",
                 help="Also log a line every N steps (run.log_every; default: epochs only)."),
    click.option("--device", help="auto (default: a GPU when there is one), cpu, cuda, cuda:N."),
    click.option("--executor", type=click.Choice(["inline", "process", "ray"]),
                 help="Where a discrete search evaluates candidates (executor.kind)."),
    click.option("--workers", type=int,
                 help="Candidates evaluated at once by --executor (executor.workers)."),
    click.option(
        "--constraint",
        "constraints",
        multiple=True,
        help="Resource bound NAME:LOW..HIGH, e.g. params:1M..2M (repeatable).",
    ),
    click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False),
        help="TOML file with [run]/[data]/[space]/[strategy]/... sections.",
    ),
    click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="SECTION.KEY=VALUE",
        help="Override one config value (repeatable).",
    ),
]


#: ``--threads`` of the commands that run (run, resume, train).
THREADS_OPTION = click.option(
    "--threads", type=click.IntRange(min=0), default=0, show_default=True,
    help="Torch threads of this run (0: chosen from the free cores and the size of the work, "
         "so that runs sharing a machine do not oversubscribe it).",
)


def use_threads(requested: int, kind: str, tree: dict[str, Any]) -> None:
    """Set torch's thread count for a ``kind`` run (search or train) of config ``tree``."""
    from nascore.threads import activations, use_run_threads

    if kind == "train":
        use_run_threads(requested, activations(tree, "train", "train"))
    else:
        use_run_threads(requested, activations(tree, "strategy", "space"))


def _run_options(func: Any) -> Any:
    for option in reversed(_RUN_OPTIONS):
        func = option(func)
    return func


def _resolve(options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    from nascore.config import load_toml
    from nascore.runner import resolve_config

    file_tree = load_toml(options.pop("config_file")) if options.get("config_file") else None
    overrides = list(options.pop("overrides", ()))
    strategy, space = options.pop("strategy"), options.pop("space")
    constraints = options.pop("constraints", ())
    if constraints:
        overrides.append("run.constraints=" + repr(list(constraints)).replace("'", '"'))
    options.pop("config_file", None)
    return resolve_config(strategy, space, options, file_tree, overrides)


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="nascore")
def main() -> None:
    """nascore: neural architecture search with pluggable spaces, strategies and estimators.

    Plugins add commands too (listed here when they declare them as entry points; `nas plugins`
    lists every plugin, its plugin API version and what it provides).
    """


@main.command()
@_run_options
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (must not exist).")
@THREADS_OPTION
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--nproc", type=int,
              help="Data-parallel processes on this machine (one-shot strategies; torchrun).")
@click.option("--dry-run", is_flag=True,
              help="Check everything a run checks before it writes (config, components, "
                   "constraints, --out, data, the supernet), then stop: nothing is written.")
def run(out: str | None, quiet: bool, nproc: int | None, dry_run: bool, **options: Any) -> None:
    """Search an architecture and write a run directory."""
    threads = options.pop("threads")
    tree = _resolve(options)
    use_threads(threads, "search", tree)
    if dry_run:
        from nascore.runner import dry_run as check_run

        for line in check_run(tree, out):
            click.echo(line)
        click.echo("dry run: nothing written", err=True)
        return
    if nproc is not None and nproc > 1:
        from nascore.launch import launch_run

        raise click.exceptions.Exit(launch_run(tree, out, nproc, quiet))
    from nascore.distributed import is_main
    from nascore.runner import start_run

    run_dir, _arch = start_run(tree, out, progress=not quiet)
    if is_main():
        _print_result(run_dir.path)


def _print_result(path: Any) -> None:
    import json
    from pathlib import Path

    result = json.loads((Path(path) / "result.json").read_text())
    click.echo(result["text"])
    for spec, check in result.get("constraints", {}).items():
        verdict = "met" if check["satisfied"] else "NOT met"
        predicted = f", table predicted {check['predicted']:.6g}" if "predicted" in check else ""
        click.echo(f"constraint {spec}: {check['value']:.6g} ({verdict}{predicted})")
    if "constraint_repair" in result:
        from nascore.oneshot.constraints import describe_repair

        click.echo(describe_repair(result["constraint_repair"]))
    if "constraint_recheck" in result:
        from nascore.constraint import describe_recheck

        click.echo(describe_recheck(result["constraint_recheck"]))
    click.echo(f"wrote {Path(path) / 'architecture.json'}", err=True)


@main.command()
@click.argument("run_dir", type=click.Path())
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="SECTION.KEY=VALUE",
    help="Change a setting before continuing (recorded in run.json).",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--nproc", type=int,
              help="Data-parallel processes of a one-shot search (use the run's own number).")
@THREADS_OPTION
def resume(run_dir: str, overrides: tuple[str, ...], quiet: bool, nproc: int | None,
           threads: int) -> None:
    """Continue an interrupted search (or training) run from its last checkpoint."""
    from nascore import distributed
    from nascore.rundir import RunDir

    if nproc is not None and nproc > 1:
        from nascore.launch import launch_resume

        raise click.exceptions.Exit(launch_resume(run_dir, overrides, nproc, quiet))
    if distributed.launched():  # a process of a data-parallel search: rank 0 reads the run
        from nascore.runner import resume_run

        resume_run(run_dir, list(overrides), progress=not quiet)
        if distributed.is_main():
            _print_result(run_dir)
        return
    meta = RunDir.open(run_dir).meta
    kind = meta.get("kind")
    use_threads(threads, kind, meta.get("config", {}))
    if kind not in ("search", "train"):
        raise UsageError(
            f"{run_dir} is a {kind} run; continue it with the command that made it "
            "(e.g. `nas bpe search --resume RUN`)"
        )
    if kind == "train":
        from nascore.cli.train import report_training
        from nascore.training import resume_training

        results = resume_training(RunDir.open(run_dir), list(overrides), progress=not quiet)
        report_training(run_dir, results)
        return
    from nascore.runner import resume_run

    resume_run(run_dir, list(overrides), progress=not quiet)
    _print_result(run_dir)


@main.command()
@_run_options
def config(**options: Any) -> None:
    """Print the full resolved config (every default) as TOML."""
    from nascore.config import dump_toml
    from nascore.runner import config_help

    tree = _resolve(options)
    click.echo(dump_toml(tree, config_help(tree)))


@main.command()
def plugins() -> None:
    """List installed plugins, their versions and what they provide."""
    from nascore.plugins import registry

    reg = registry()
    reg.collect_all()
    for record in reg.plugins:
        origin = f"{record.distribution} {record.version}" if record.distribution else "?"
        api = "" if record.api is None else f", plugin API {record.api}"
        click.echo(f"{record.name}  ({origin}, module {record.module}{api})")
        if record.error:
            click.echo(f"    FAILED TO LOAD: {record.error}")
            continue
        if record.note:
            click.echo(f"    note: {record.note}")
        for kind, names in sorted(record.provides.items()):
            click.echo(f"    {kind}: {', '.join(sorted(names))}")


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
def show(run_dir: str) -> None:
    """Print a run's architecture, costs and results; write cell diagrams and curves."""
    from nascore.show import show_run

    show_run(run_dir)


@main.group(cls=PluginGroup, slot="bench")
def bench() -> None:
    """Benchmarks that print figures (speed, memory, search quality)."""


def _attach_commands() -> None:
    """Attach every command now: built-in, declared and those of the plugins' hooks (``nas``
    itself finds them when needed instead; see :class:`~nascore.cli.lazy.PluginGroup`)."""
    from nascore.cli.lazy import declared_commands
    from nascore.plugins import registry

    hooked = registry().components["command"]
    commands = [*((name, c) for (_slot, name), c in declared_commands().items()), *hooked.items()]
    for name, command in commands:
        target = bench if getattr(command, "nascore_group", None) == "bench" else main
        if name not in target.commands:
            target.add_command(command, name)


@contextlib.contextmanager
def _console_logging() -> Iterator[None]:
    """Send the ``nascore`` logger's lines (progress, epochs, notes) to stderr while the CLI
    runs; the logger is left as it was afterwards (in-process callers, tests)."""
    import logging
    import os

    logger = logging.getLogger("nascore")
    if logger.handlers:  # configured by the embedding application: leave it alone
        yield
        return
    saved = (logger.level, logger.propagate)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    main = os.environ.get("RANK", "0") == "0"  # a launcher's other processes stay quiet
    logger.setLevel(logging.INFO if main else logging.WARNING)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.level, logger.propagate = saved


def entry(args: list[str] | None = None) -> None:
    """Run the CLI, turning nascore errors into one-line messages and exit codes."""
    import warnings

    # deprecated config keys still work; say so on the console in one line (Python hides the
    # warning by default)
    warnings.filterwarnings("default", message="config key ", category=DeprecationWarning)
    show = warnings.showwarning

    def show_config_key(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
        if str(message).startswith("config key "):
            click.echo(f"warning: {message}", err=True)
        else:
            show(message, category, *args, **kwargs)

    warnings.showwarning = show_config_key
    try:
        with _console_logging():
            main.main(args=args, standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except NascoreError as exc:
        from nascore import distributed
        from nascore.engine import Interrupted

        if distributed.is_main():
            click.echo(f"error: {exc}", err=True)
        elif not isinstance(exc, (distributed.MirroredError, Interrupted)):
            click.echo(f"error (rank {distributed.rank()}): {exc}", err=True)
        sys.exit(exc.exit_code)
    finally:
        warnings.showwarning = show
