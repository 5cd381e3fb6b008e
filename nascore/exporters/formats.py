"""Export formats: what ``nas export --format NAME`` writes.

Formats are registered through the ``nascore_export_formats`` hook (``{name: Exporter}``); the
core registers ``timm``, ``onnx`` and ``pt2`` the same way, so a plugin adds a format by returning
one more :class:`Exporter`. This module stays cheap to import: each built-in exporter imports its
implementation (timm, onnx, ...) only when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from nascore.errors import RunDirError

if TYPE_CHECKING:
    from nascore.exporters.trained import TrainedNetwork


@attrs.frozen
class ExportReport:
    """What an export wrote (every file, so nothing is a surprise) and notes for the user (how
    to load it, parity checks)."""

    files: list[Path]
    notes: list[str] = attrs.field(factory=list)


@attrs.frozen
class Exporter:
    """One export format.

    ``write(trained, out)`` writes ``trained`` (a
    :class:`~nascore.exporters.trained.TrainedNetwork`: the eval-mode network, its architecture,
    space, build options, data info and ``metadata()``) to ``out``, which does not exist yet,
    and reports what it wrote. ``default_name`` is the output's name inside the train run when
    no ``--out`` is given; ``description`` is one line for ``nas export --help``.
    """

    write: Callable[[TrainedNetwork, Path], ExportReport]
    default_name: str
    description: str


def fresh_path(path: str | Path) -> Path:
    """``path`` if nothing is there (or an empty folder); never overwrite an export."""
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise RunDirError(f"{target} already exists; choose another --out or remove it first")
    return target


def export(
    trained: TrainedNetwork, format_name: str, out: str | Path | None = None
) -> ExportReport:
    """Export ``trained`` with the registered format ``format_name`` to ``out`` (default: the
    format's ``default_name`` in the train run); an existing output is never overwritten."""
    from nascore.plugins import registry

    exporter: Exporter = registry().get("export_format", format_name)
    target = fresh_path(out if out is not None else trained.run.path / exporter.default_name)
    return exporter.write(trained, target)


def _timm(trained: TrainedNetwork, out: Path) -> ExportReport:
    from nascore.exporters.timm_export import export_timm

    return export_timm(trained, out)


def _onnx(trained: TrainedNetwork, out: Path) -> ExportReport:
    from nascore.exporters.onnx_export import export_onnx

    return export_onnx(trained, out)


def _pt2(trained: TrainedNetwork, out: Path) -> ExportReport:
    from nascore.exporters.pt2_export import export_pt2

    return export_pt2(trained, out)


#: The core's formats (registered in :mod:`nascore.builtins`).
BUILTIN_FORMATS = {
    "timm": Exporter(_timm, "export-timm", "timm folder: config.json, model.safetensors, "
                     "README.md (loads with `import nascore.timm`)"),
    "onnx": Exporter(_onnx, "model.onnx", "one .onnx file, dynamic batch, mean/std in its "
                     "metadata"),
    "pt2": Exporter(_pt2, "model.pt2", "torch.export program (torch.export.load; nascore not "
                    "needed), dynamic batch"),
}
