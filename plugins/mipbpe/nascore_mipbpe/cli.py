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
