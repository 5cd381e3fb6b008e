"""Export formats: what ``nas export --format NAME`` writes.

Formats are registered through the ``nascore_export_formats`` hook (``{name: Exporter}``); the
core registers ``timm``, ``onnx`` and ``pt2`` the same way, so a plugin adds a format by returning
one more :class:`Exporter`. This module stays cheap to import: each built-in exporter imports its
implementation (timm, onnx, ...) only when it runs.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
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
    format's ``default_name`` in the train run); an existing output is never overwritten.

    The exporter writes into a hidden folder beside ``out``, renamed into place once complete:
    an error (a full disk, a read-only folder) leaves nothing behind and is a one-line
    :class:`~nascore.errors.StorageError`. The notes start with :meth:`TrainedNetwork.warnings`
    (e.g. a training that has not finished)."""
    from nascore.plugins import registry
    from nascore.rundir import write_error

    exporter: Exporter = registry().get("export_format", format_name)
    target = fresh_path(out if out is not None else trained.run.path / exporter.default_name)
    staging = _staging_dir(target)
    try:
        report = exporter.write(trained, staging / target.name)
        report = _publish(report, staging, target)
    except Exception as exc:
        cause = os_error_of(exc)
        if cause is None:
            raise
        raise write_error(target, cause, existed=False) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return attrs.evolve(report, notes=[*trained.warnings(), *report.notes])


def os_error_of(exc: BaseException) -> OSError | None:
    """The ``OSError`` behind ``exc``: itself, its cause or context, or the ``(os error N)``
    a library written in Rust (safetensors) puts in its message; ``None`` for other errors."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        found = re.search(r"\(os error (\d+)\)", str(seen))
        if found:
            number = int(found.group(1))
            return OSError(number, os.strerror(number))
        seen = seen.__cause__ or seen.__context__
    return None


def _staging_dir(target: Path) -> Path:
    """A fresh hidden folder beside ``target`` (``.NAME.XXXX.tmp``) the exporter writes into:
    nothing appears under the target's name until the export is complete."""
    from nascore.rundir import TEMP_SUFFIX, write_error

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.",
                                     suffix=TEMP_SUFFIX))
    except OSError as exc:
        raise write_error(target, exc, existed=False) from None


def _publish(report: ExportReport, staging: Path, target: Path) -> ExportReport:
    """Give the files in ``staging`` the modes of ordinary files (``0666 & ~umask``; some
    writers create theirs ``0600``), then rename them beside ``target`` (companion files, such
    as an ONNX weights sidecar, before the target itself); paths in ``report`` follow."""
    from nascore.rundir import umask

    mask = umask()
    for path in staging.rglob("*"):
        path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)
    entries = sorted(staging.iterdir(), key=lambda p: p.name == target.name)
    for entry in entries:
        fresh_path(target.parent / entry.name)
    for entry in entries:
        os.replace(entry, target.parent / entry.name)

    def moved(path: Path) -> Path:
        return target.parent / Path(path).relative_to(staging)

    notes = [note.replace(str(staging), str(target.parent)) for note in report.notes]
    return ExportReport([moved(path) for path in report.files], notes)


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
