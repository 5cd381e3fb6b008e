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

import contextlib
import errno
import fcntl
import json
import os
import random
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nascore.errors import CheckpointError, RunBusyError, RunDirError, StorageError

CHECKPOINT = "last.pt"
LOCK = ".lock"
#: The file holding a run's architecture (see :meth:`RunDir.architecture`).
ARCHITECTURE = "architecture.json"


def versions() -> dict[str, str]:
    """Versions of nascore, torch and every installed plugin distribution."""
    from nascore import __version__
    from nascore.plugins import registry

    found = {"nascore": __version__, "torch": torch.__version__}
    for record in registry().plugins:
        if record.distribution and record.version:
            found[record.distribution] = record.version
    return found


#: Prefix-and-suffix of the temporary files of atomic writes (``.NAME.XXXX.tmp``).
TEMP_SUFFIX = ".tmp"


#: What to do about a failed write, by ``errno``.
_WRITE_ADVICE = {
    errno.ENOSPC: "free space on that disk",
    errno.EDQUOT: "free space within your disk quota",
    errno.EFBIG: "raise the file-size limit (`ulimit -f`) of this shell",
    errno.EROFS: "choose a writable directory",
    errno.EACCES: "choose a writable directory",
    errno.EPERM: "choose a writable directory",
}


def write_error(path: Path, exc: OSError, existed: bool | None = None) -> StorageError:
    """The one-line error of a failed write: what failed and what to free or change.

    ``existed`` says whether ``path`` was there before the write (default: whether it is there
    now); only then does the message promise that its previous version is unchanged."""
    reason = exc.strerror or type(exc).__name__
    advice = _WRITE_ADVICE.get(exc.errno or 0, "check that disk and the folder's permissions")
    if existed is None:
        existed = path.exists()
    kept = " (the previous version of the file is unchanged)" if existed else ""
    return StorageError(f"cannot write {path}: {reason}; {advice}{kept}")


@contextlib.contextmanager
def _atomic_target(path: Path) -> Iterator[str]:
    """A temporary file beside ``path`` that replaces it once the block succeeds; OS errors
    become :func:`write_error`, and the temporary file never outlives a failure."""
    existed = path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
        os.close(fd)
    except OSError as exc:
        raise write_error(path, exc, existed) from None
    try:
        yield tmp
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise write_error(path, exc, existed) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def umask() -> int:
    """The process's file-mode creation mask (read without changing it for long)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``."""
    with _atomic_target(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` that never leaves a half-written file at ``path``."""
    with _atomic_target(path) as tmp, open(tmp, "wb") as fh:
        sink = _RecordingFile(fh)
        try:
            torch.save(obj, sink)
        except RuntimeError as exc:  # torch turns the OSError of a failed write into this
            if sink.error is not None:
                raise sink.error from None
            raise OSError(errno.EIO, str(exc).splitlines()[0][:120] or "write failed") from None


class _RecordingFile:
    """A binary file for ``torch.save`` that keeps the ``OSError`` of a failed write (torch
    reports only a RuntimeError without its errno: a full disk and a file-size limit look
    alike)."""

    def __init__(self, fh: Any) -> None:
        self.fh, self.error = fh, None

    def write(self, data: Any) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.fh.flush()


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete the temporary files a killed atomic write left in ``directory`` (and below)."""
    stale = [p for p in directory.rglob(f".*{TEMP_SUFFIX}") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


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

    @staticmethod
    def check_free(path: str | Path) -> None:
        """Refuse an existing non-empty ``path`` (checked before any costly preparation)."""
        target = Path(path)
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise RunDirError(
                f"{target} already exists and is not empty; choose another --out, "
                f"or continue it with `nas resume {target}`"
            )

    @classmethod
    def create(cls, path: str | Path, meta: Mapping[str, Any], config_toml: str) -> RunDir:
        """Create a new run; an existing non-empty directory is refused, never overwritten.

        ``run.json`` gets a fresh ``run_id`` that every checkpoint of the run carries."""
        target = Path(path)
        cls.check_free(target)
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create {target}: {exc.strerror}; choose a writable --out"
            ) from None
        run = cls(target)
        meta = {**meta, "run_id": uuid.uuid4().hex}
        atomic_write_bytes(run.path / "config.toml", config_toml.encode())
        atomic_write_bytes(run.path / "run.json", (json.dumps(meta, indent=2) + "\n").encode())
        return run

    @property
    def run_id(self) -> str | None:
        """The identifier in ``run.json`` (runs made before it existed have none)."""
        return self.meta.get("run_id")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the run's exclusive lock (``RUN/.lock``, with this process's pid) while the
        block runs; a second process gets a one-line error naming the holder. Stale temporary
        files of a killed write are removed once the lock is held."""
        path = self.path / LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise write_error(path, exc) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                raise RunBusyError(
                    f"{self.path} is in use by process {holder}; wait for it to finish or stop "
                    "it before resuming"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            remove_stale_temporaries(self.path)
            yield
        finally:
            os.close(fd)

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

    def architecture(self) -> dict[str, Any] | None:
        """The run's architecture as ``architecture.json`` holds it: the one file every command
        (``show``, ``train``, ``export``) reads it from; ``None`` before the run has one.

        A hand edit that makes it differ from the copy the run recorded (``result.json`` of a
        search run, ``run.json`` of a train run) is refused with one line, by every command."""
        path = self.path / ARCHITECTURE
        if not path.is_file():
            return None
        try:
            arch = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise RunDirError(f"{path} is corrupt: {exc}") from None
        if self.meta.get("kind") == "train":
            recorded, where = self.meta.get("architecture"), "run.json"
        else:
            result = self.path / "result.json"
            recorded = json.loads(result.read_text()).get("architecture") \
                if result.is_file() else None
            where = "result.json"
        if recorded is not None and recorded != arch:
            raise RunDirError(
                f"{path} differs from the architecture the run recorded in {where} (edited "
                f"by hand?): restore it, or train the edited one as a new run with "
                f"`nas train --arch-file {path}`"
            )
        return arch

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

    def update_meta(self, meta: Mapping[str, Any], config_toml: str) -> None:
        """Rewrite ``run.json`` and ``config.toml`` (after ``--set`` overrides on resume)."""
        self.write_json("run.json", dict(meta))
        self.write_text("config.toml", config_toml)

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
