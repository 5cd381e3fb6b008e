"""The run's event log: ``events.jsonl`` (one JSON object per line) mirrored to TensorBoard."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from nascore.errors import RunDirError


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
    """Appends records to ``events.jsonl``; scalar fields also go to TensorBoard.

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
                raise RunDirError(
                    f"cannot append to {self.path}: {exc.strerror}; free space on that disk or "
                    "make the run directory writable, then `nas resume` the run"
                ) from None
        if self._writer is not None:
            kind = data.get("type", "event")
            x = step if step is not None else data.get("epoch", len(self.records))
            for key, value in data.items():
                if (
                    isinstance(value, (int, float))
                    and not isinstance(value, bool)
                    and key != "epoch"
                ):
                    self._writer.add_scalar(f"{kind}/{key}", value, x)
            self._writer.flush()

    def close(self) -> None:
        """Flush and close TensorBoard files."""
        if self._writer is not None:
            self._writer.close()


def read_events(path: str | Path) -> list[dict[str, Any]]:
    """All records of an ``events.jsonl`` (a torn last line from a crash is skipped)."""
    records = []
    for line in Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records
