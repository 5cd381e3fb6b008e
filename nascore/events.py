"""The run's event log: ``events.jsonl`` (one JSON object per line) mirrored to TensorBoard.

TensorBoard (``RUN/tensorboard``) gets, besides each record's scalar fields (``epoch/valid_acc``
...): every step's metrics (``step/loss`` ... against the global step, :meth:`EventLog.log_step`),
a histogram of every field that maps names to numeric lists and a heatmap image of each such
2-D list (``arch_weights/normal``: edges x candidates, one per epoch), and at the end of a run
the resolved config with the final metrics in the HParams dashboard (:meth:`EventLog.log_hparams`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nascore.errors import StorageError

#: Heatmap colours of the values 0 and 1 (white to dark blue) and the pixels per matrix cell.
_LOW, _HIGH = np.array([255.0, 255.0, 255.0]), np.array([8.0, 48.0, 107.0])
_CELL_PIXELS = 12


def to_jsonable(value: Any) -> Any:
    """Tensors, numpy values and tuples as plain JSON values; non-finite floats as strings."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().tolist()
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple, str)):
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class EventLog:
    """Appends records to ``events.jsonl``; scalar fields, step metrics, arrays and the final
    hparams also go to TensorBoard (see the module docstring).

    With ``directory=None`` records are kept in memory only (``records``) until :meth:`attach`
    gives the log its run directory.
    """

    def __init__(self, directory: str | Path | None = None, tensorboard: bool = True) -> None:
        self.records: list[dict[str, Any]] = []
        self.path: Path | None = None
        self.tensorboard = tensorboard
        self._writer = None
        if directory:
            self.attach(directory)

    def attach(self, directory: str | Path) -> None:
        """Write to ``directory`` from now on (records logged before stay in memory only)."""
        self.path = Path(directory) / "events.jsonl"
        if self.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(Path(directory) / "tensorboard"))

    def log(self, record: Mapping[str, Any], step: int | None = None) -> None:
        """Append one record; its ``type`` says what it is (``epoch``, ``prune``, ``query``...)."""
        data = to_jsonable(dict(record))
        self.records.append(data)
        if self.path is not None:
            line = json.dumps(data) + "\n"
            try:
                with self.path.open("a") as fh:
                    fh.write(line)
            except OSError as exc:
                from nascore.rundir import write_error

                raise StorageError(
                    f"{write_error(self.path, exc, existed=False)}, then `nas resume` the run"
                ) from None
        if self._writer is not None:
            kind = data.get("type", "event")
            x = step if step is not None else data.get("epoch", len(self.records))
            for key, value in data.items():
                if _is_number(value) and key != "epoch":
                    self._writer.add_scalar(f"{kind}/{key}", value, x)
                elif isinstance(value, Mapping):
                    self._log_arrays(key, value, x)
            self._writer.flush()

    def _log_arrays(self, key: str, groups: Mapping[str, Any], x: int) -> None:
        """``{name: numeric list}`` fields: a histogram per name, and a heatmap of 2-D lists."""
        arrays = {}
        for name, value in groups.items():
            array = _numeric_array(value)
            if array is None:
                return
            arrays[name] = array
        for name, array in arrays.items():
            self._writer.add_histogram(f"{key}/{name}", array, x)
            if array.ndim == 2:
                self._writer.add_image(f"{key}/{name}", heatmap(array), x, dataformats="HWC")

    def log_step(self, metrics: Mapping[str, Any], step: int) -> None:
        """One training step's metrics as TensorBoard scalars ``step/<name>`` at global step
        ``step`` (not in ``events.jsonl``)."""
        if self._writer is not None:
            for key, value in metrics.items():
                self._writer.add_scalar(f"step/{key}", float(value), step)

    def log_hparams(self, config: Mapping[str, Mapping[str, Any]]) -> None:
        """The run's resolved ``config`` (its scalar values, as ``section.key``) with its final
        metrics (the last epoch record's numbers, updated by the ``final`` record's) in the
        TensorBoard HParams dashboard; the metrics are also scalars ``hparams/<name>``."""
        if self._writer is None:
            return
        from torch.utils.tensorboard.summary import hparams

        values = {
            f"{section}.{key}": value
            for section, entries in config.items()
            for key, value in entries.items()
            if isinstance(value, (bool, int, float, str))
        }
        metrics: dict[str, float] = {}
        for kind in ("epoch", "final"):
            last = next((r for r in reversed(self.records) if r.get("type") == kind), {})
            metrics.update({
                f"hparams/{k}": float(v) for k, v in last.items()
                if _is_number(v) and k not in ("epoch", "seconds", "cpu_seconds")
            })
        for summary in hparams(values, metrics):
            self._writer.file_writer.add_summary(summary)
        for tag, value in metrics.items():
            self._writer.add_scalar(tag, value)
        self._writer.flush()

    def close(self) -> None:
        """Flush and close TensorBoard files."""
        if self._writer is not None:
            self._writer.close()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numeric_array(value: Any) -> np.ndarray | None:
    """A non-empty 1-D or rectangular 2-D list of finite numbers as an array, else ``None``."""
    if not isinstance(value, list) or not value:
        return None
    rows = value if isinstance(value[0], list) else [value]
    if any(not isinstance(r, list) or len(r) != len(rows[0]) or not r for r in rows):
        return None
    if not all(_is_number(v) and math.isfinite(v) for r in rows for v in r):
        return None
    array = np.asarray(rows, dtype=np.float64)
    return array if isinstance(value[0], list) else array[0]


def heatmap(matrix: np.ndarray) -> np.ndarray:
    """``[rows, cols]`` values as an ``HxWx3`` uint8 image, :data:`_CELL_PIXELS` square pixels per
    value, from white (0, or the minimum if negative) to dark blue (the matrix's largest
    value)."""
    low, high = min(float(matrix.min()), 0.0), float(matrix.max())
    scaled = (matrix - low) / (high - low) if high > low else np.zeros_like(matrix)
    colours = _LOW + scaled[..., None] * (_HIGH - _LOW)
    image = np.repeat(np.repeat(colours, _CELL_PIXELS, axis=0), _CELL_PIXELS, axis=1)
    return image.round().astype(np.uint8)


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """All records of an ``events.jsonl`` (a torn last line from a crash is skipped)."""
    records = []
    for line in Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def epoch_records(run_dir: str | Path) -> list[dict[str, Any]]:
    """The ``epoch`` records of a run directory's ``events.jsonl`` (none when it has none)."""
    path = Path(run_dir) / "events.jsonl"
    return [r for r in read_events(path) if r.get("type") == "epoch"] if path.exists() else []
