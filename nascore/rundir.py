"""Run directories: creation that never clobbers, atomic checkpoints, RNG capture.

Layout::

    RUN/config.toml        resolved config, every default spelled out
    RUN/run.json           config as JSON + versions of core and plugins + command kind
    RUN/events.jsonl       one JSON object per epoch / event
    RUN/tensorboard/       TensorBoard event files
    RUN/checkpoints/last.pt  latest checkpoint (atomically replaced)
    RUN/architecture.json  final architecture (+ genotype.txt where the space has a string form)
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nascore.errors import CheckpointError, RunDirError

CHECKPOINT = "last.pt"


def versions() -> dict[str, str]:
    """Versions of nascore, torch and every installed plugin distribution."""
    from nascore import __version__
    from nascore.plugins import registry

    found = {"nascore": __version__, "torch": torch.__version__}
    for record in registry().plugins:
        if record.distribution and record.version:
            found[record.distribution] = record.version
    return found


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` that never leaves a half-written file at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint (``weights_only=True``); a corrupt file raises CheckpointError."""
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}; the run has not finished an epoch yet")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a nascore checkpoint "
            f"({type(exc).__name__}); restore it from a backup or start a new run"
        ) from None
    if not isinstance(state, dict) or "format" not in state:
        raise CheckpointError(f"checkpoint {path} is not a nascore checkpoint")
    return state


def rng_state() -> dict[str, Any]:
    """The global torch, numpy and random RNG states (checkpoint-safe types only)."""
    return {
        "torch": torch.get_rng_state(),
        "numpy": json.dumps(np.random.get_state(legacy=False), default=_np_default),
        "python": json.dumps(random.getstate()),
    }


def _np_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.integer):
        return int(value)
    raise TypeError(type(value))


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    np_state = json.loads(state["numpy"])
    np_state["state"]["key"] = np.asarray(np_state["state"]["key"], dtype=np.uint32)
    np.random.set_state(np_state)
    py = json.loads(state["python"])
    random.setstate((py[0], tuple(py[1]), py[2]))


def seed_everything(seed: int) -> None:
    """Seed torch, numpy and random."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


class RunDir:
    """A run directory on disk. Use :meth:`create` for new runs and :meth:`open` to resume."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, path: str | Path, meta: Mapping[str, Any], config_toml: str) -> RunDir:
        """Create a new run; an existing non-empty directory is refused, never overwritten."""
        target = Path(path)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise RunDirError(
                f"{target} already exists and is not empty; choose another --out, "
                f"or continue it with `nas resume {target}`"
            )
        target.mkdir(parents=True, exist_ok=True)
        run = cls(target)
        atomic_write_bytes(run.path / "config.toml", config_toml.encode())
        atomic_write_bytes(run.path / "run.json", (json.dumps(meta, indent=2) + "\n").encode())
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """Open an existing run directory (must hold ``run.json``)."""
        run = cls(path)
        if not (run.path / "run.json").is_file():
            raise RunDirError(f"{run.path} is not a nascore run directory (no run.json)")
        return run

    @property
    def meta(self) -> dict[str, Any]:
        """The contents of ``run.json``."""
        try:
            return json.loads((self.path / "run.json").read_text())
        except json.JSONDecodeError as exc:
            raise RunDirError(f"{self.path / 'run.json'} is corrupt: {exc}") from None

    @property
    def checkpoint_path(self) -> Path:
        """Where the latest checkpoint lives."""
        return self.path / "checkpoints" / CHECKPOINT

    def save_checkpoint(self, state: Mapping[str, Any]) -> None:
        """Atomically replace the latest checkpoint."""
        atomic_torch_save({"format": 1, **state}, self.checkpoint_path)

    def load_checkpoint(self) -> dict[str, Any]:
        """The latest checkpoint (see :func:`load_checkpoint`)."""
        return load_checkpoint(self.checkpoint_path)

    def write_json(self, name: str, data: Any) -> None:
        """Atomically write a JSON file in the run directory."""
        atomic_write_bytes(self.path / name, (json.dumps(data, indent=2) + "\n").encode())

    def write_text(self, name: str, text: str) -> None:
        """Atomically write a text file in the run directory."""
        atomic_write_bytes(self.path / name, text.encode())

    def truncate_events(self, keep: int) -> list[dict[str, Any]]:
        """Keep the first ``keep`` records of ``events.jsonl`` (those a checkpoint covers).

        Records written after the checkpoint are dropped because the resumed run writes them
        again; the kept records are returned.
        """
        from nascore.events import read_events

        path = self.path / "events.jsonl"
        records = read_events(path)[:keep] if path.exists() else []
        self.write_text("events.jsonl", "".join(json.dumps(r) + "\n" for r in records))
        return records
