"""``nas export``: a trained network as a timm folder or an ONNX file."""

from __future__ import annotations

import click


@click.command("export")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--format", "fmt", type=click.Choice(["timm", "onnx"]), default="timm",
              show_default=True, help="timm folder (config.json + model.safetensors) or ONNX file.")
@click.option("--out", type=click.Path(),
              help="Output folder (timm) or .onnx file (default: RUN/export-timm, RUN/model.onnx).")
@click.option("--weights", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="Which weights of the train run to export.")
def export_command(run_dir: str, fmt: str, out: str | None, weights: str) -> None:
    """Export the trained network of a train run (or of RUN_DIR/train for a search run).

    timm: `import nascore, timm; timm.create_model("local-dir:OUT", pretrained=True)`.
    ONNX: dynamic batch; its outputs are checked against PyTorch with ONNX Runtime.
    """
    from nascore.export.trained import load_trained

    trained = load_trained(run_dir, weights)
    if fmt == "timm":
        from nascore.export.timm_export import export_timm

        target = export_timm(trained, out or trained.run.path / "export-timm")
        click.echo(f"wrote {target}")
        click.echo(f'load with: import nascore, timm; '
                   f'timm.create_model("local-dir:{target}", pretrained=True)', err=True)
        return
    from nascore.export.onnx_export import export_onnx, onnx_max_difference

    path = export_onnx(trained, out or trained.run.path / "model.onnx")
    click.echo(f"wrote {path}")
    click.echo(f"ONNX Runtime vs PyTorch: max abs difference "
               f"{onnx_max_difference(trained, path):.2e}", err=True)
