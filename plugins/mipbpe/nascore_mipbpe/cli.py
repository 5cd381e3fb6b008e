"""``nas bpe``: ``analyze`` a table of budgets, ``search`` a budget with Algorithm 1."""

from __future__ import annotations

import json

import click

from nascore_mipbpe.tables import READERS


@click.group("bpe")
def bpe() -> None:
    """MIP-BPE: analyse budgets for performance estimation and search them (Algorithm 1)."""


@bpe.command("analyze")
@click.argument("table", type=click.Path())
@click.option("--format", "table_format", default="auto", show_default=True,
              type=click.Choice(["auto", *READERS]), help="Format of TABLE.")
@click.option("--out", type=click.Path(file_okay=False),
              help="Write report.txt, analysis.json, importance.png and rs_vs_time.png here.")
@click.option("--time-weight", type=float, default=None,
              help="lambda of Eq. 1 per hour (default 0: rank by r_s).")
@click.option("--trees", type=int, default=None, help="Trees of the random forest (100).")
@click.option("--threshold", type=float, default=None, help="Eq. 9 importance threshold (0.1).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the forest.")
@click.option("--json", "as_json", is_flag=True, help="Print the analysis as JSON instead.")
def analyze_command(table: str, table_format: str, out: str | None, time_weight: float | None,
                    trees: int | None, threshold: float | None, seed: int,
                    as_json: bool) -> None:
    """Spearman r_s of every budget of TABLE, Eq. 1, Eq. 7-8 importances and Eq. 9.

    TABLE is a directory of budgets and per-architecture accuracies, such as the MIP-BPE
    authors' released measurements (budgets.csv and accuracies.csv).
    """
    from nascore import build_config, registry
    from nascore_mipbpe.analysis import analyze, format_report, to_json, write_report
    from nascore_mipbpe.costs import table_cost
    from nascore_mipbpe.mip import MIPSettings
    from nascore_mipbpe.tables import read_table

    given = {"time_weight": time_weight, "trees": trees, "threshold": threshold}
    settings = build_config(MIPSettings, {k: v for k, v in given.items() if v is not None},
                            "mip")
    loaded = read_table(table, table_format)
    cost = None
    if loaded.space and loaded.data and loaded.architectures:
        cost = table_cost(loaded.space, loaded.data, loaded.architectures)
    analysis = analyze(loaded, cost, settings, seed, registry().components["budget"])
    if as_json:
        click.echo(json.dumps(to_json(analysis), indent=2))
    else:
        click.echo(format_report(analysis))
    if out:
        for path in write_report(analysis, out):
            click.echo(f"wrote {path}", err=True)


@bpe.command("search")
@click.option("--space", help="Space the architectures come from (run.space; default darts).")
@click.option("--estimator", help="train (live training) or nb201 (the tabular benchmark).")
@click.option("--dataset", help="digits (default), fashion-mnist, cifar10, ... (data.dataset).")
@click.option("--data-dir", help="Local folder of the dataset (never downloaded).")
@click.option("--archs", type=int, help="Architectures in the sample G (archs.count; 100).")
@click.option("--samples", type=int, help="Budgets sampled per round, K (mip.samples; 10).")
@click.option("--final", help="Final accuracies: report:KEY, table:PATH, full, a preset or "
              "a budget file (archs.final; auto).")
@click.option("--seed", type=int, help="Seed (run.seed).")
@click.option("--executor", type=click.Choice(["inline", "process", "ray"]),
              help="Where the architectures are estimated (executor.kind).")
@click.option("--workers", type=int, help="Estimates at once (executor.workers).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="TOML file with [run]/[data]/[space]/[estimator]/[archs]/[mip]/[budget]/"
              "[grid] sections.")
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override one value, e.g. grid.epochs=[1,2] (repeatable).")
@click.option("--out", type=click.Path(file_okay=False), help="Run directory (must not exist).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False),
              help="Continue the search in this run directory (other options are ignored).")
@click.option("--print-config", is_flag=True, help="Print the resolved config and stop.")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def search_command(config_file: str | None, overrides: tuple[str, ...], out: str | None,
                   resume_dir: str | None, print_config: bool, quiet: bool,
                   **flags: object) -> None:
    """Search a budget with Minimum Importance Pruning (Algorithm 1) and write it as TOML.

    Draws G architectures, gets their final accuracies, then repeatedly samples budgets near
    the cheapest (Eq. 2), estimates G under each, fits a random forest of r_s on the budgets
    and fixes the least important hyper-parameter (Eq. 7-9) until one is left.
    """
    from nascore.config import dump_toml, load_toml
    from nascore_mipbpe.search import (
        config_help,
        resolve_search_config,
        resume_search,
        start_search,
    )

    if resume_dir:
        run, result = resume_search(resume_dir, progress=not quiet)
    else:
        file_tree = load_toml(config_file) if config_file else None
        tree = resolve_search_config(flags, file_tree, list(overrides))
        if print_config:
            click.echo(dump_toml(tree, config_help(tree)))
            return
        run, result = start_search(tree, out, progress=not quiet)
    shown = ", ".join(f"{k}={v}" for k, v in result["budget"].items() if v is not None)
    click.echo(f"best budget: {shown}")
    click.echo(f"r_s {result['r_s']:.4f}, {result['seconds']:.3f} s per estimate")
    click.echo(f"wrote {run.path / 'budget.toml'}", err=True)
