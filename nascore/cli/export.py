"""``nas export``: a trained network in any registered export format (timm, onnx, pt2, plugins')."""

from __future__ import annotations

import click


class RegistryChoice(click.Choice):
    """A choice among the names registered for one component kind, read when first needed (so
    plugins' names appear in ``--help`` and in the validation message)."""

    def __init__(self, kind: str) -> None:  # no super().__init__: the choices are a property
        self.kind = kind
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        from nascore.plugins import registry

        return tuple(registry().names(self.kind))


class _ExportCommand(click.Command):
    """Lists the registered formats and their descriptions at the end of ``--help``."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from nascore.plugins import registry

        formats = registry().components["export_format"]
        with formatter.section("Formats"):
            formatter.write_dl([(name, formats[name].description) for name in sorted(formats)])


@click.command("export", cls=_ExportCommand)
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt", type=RegistryChoice("export_format"), default="timm",
              show_default=True, help="Export format (listed below; plugins add more).")
@click.option("--out", type=click.Path(),
              help="Output path (default: in the train run: export-timm/, model.onnx, model.pt2).")
@click.option("--weights", type=click.Choice(["last", "best"]), default="last", show_default=True,
              help="The last weights, or the best by held-out validation accuracy (runs with "
                   "train.valid_fraction > 0).")
def export_command(run_dir: str, fmt: str, out: str | None, weights: str) -> None:
    """Export the trained network of a train run (or of RUN_DIR/train for a search run).

    Every file written is printed; how to load it and the parity check go to stderr.
    """
    from nascore.exporters.formats import export
    from nascore.exporters.trained import load_trained

    report = export(load_trained(run_dir, weights), fmt, out)
    for path in report.files:
        click.echo(f"wrote {path}")
    for note in report.notes:
        click.echo(note, err=True)
