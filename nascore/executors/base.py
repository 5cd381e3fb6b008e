"""The executor interface, the inline executor, the worker-side call wrapper and the config.

An :class:`Executor` runs independent calls ``fn(item)`` and returns their results in the order
of the items (:meth:`Executor.map`), whatever order they finish in. ``fn`` and the items must be
picklable for executors whose workers are other processes. A call that raises on a worker ends
the map with :class:`TaskFailed`, which names the item's index and the worker's exception.
"""

from __future__ import annotations

import importlib
import pickle
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

import attrs

from nascore.config import field, non_negative, one_of, positive
from nascore.errors import ConfigError, NascoreError

T = TypeVar("T")
R = TypeVar("R")

KINDS = ("inline", "process", "ray")


@attrs.frozen
class Failure:
    """A worker's exception, in a form that always pickles: its class and message."""

    module: str
    name: str
    message: str
    traceback: str = ""

    @classmethod
    def of(cls, exc: BaseException) -> Failure:
        kind = type(exc)
        text = "".join(traceback.format_exception(exc))
        return cls(kind.__module__, kind.__qualname__, str(exc), text)

    def summary(self) -> str:
        """``Name: message`` (the message's first line)."""
        first = self.message.strip().splitlines()[0] if self.message.strip() else ""
        return f"{self.name}: {first}" if first else self.name

    def nascore_error(self) -> NascoreError | None:
        """The worker's :class:`NascoreError` rebuilt here (its class when it takes the message
        alone), or ``None`` for any other exception."""
        try:
            kind = getattr(importlib.import_module(self.module), self.name)
        except (ImportError, AttributeError):
            return None
        if not (isinstance(kind, type) and issubclass(kind, NascoreError)):
            return None
        try:
            return kind(self.message)
        except TypeError:
            return NascoreError(self.message)


class TaskFailed(NascoreError):
    """A call of :meth:`Executor.map` failed on a worker: ``index`` of the item, ``failure``."""

    def __init__(self, index: int, failure: Failure) -> None:
        super().__init__(f"task {index} failed on a worker: {failure.summary()}")
        self.index = index
        self.failure = failure


def guarded_call(fn: Callable[[T], R], item: T) -> tuple[bool, R | Failure]:
    """``(True, fn(item))``, or ``(False, Failure)`` when it raises (run on the worker, so that
    the failure travels back as plain data)."""
    try:
        return True, fn(item)
    except Exception as exc:  # every failure of a candidate is reported, never lost
        return False, Failure.of(exc)


class Executor(ABC):
    """Runs independent calls in parallel (see the module docstring). ``workers``: how many
    run at once; ``parallel``: whether the calls leave this process."""

    kind: ClassVar[str]
    parallel: ClassVar[bool] = True

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers

    @abstractmethod
    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(item) for item in items]``, computed by the workers, in item order."""

    def close(self) -> None:
        """Release the workers (the executor starts them again when used after this)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()


class InlineExecutor(Executor):
    """Every call in this process, one after another (exceptions propagate unchanged)."""

    kind = "inline"
    parallel = False

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        return [fn(item) for item in items]


def check_picklable(value: Any, what: str) -> None:
    """A one-line error when ``value`` cannot be sent to another process."""
    try:
        pickle.dumps(value)
    except Exception as exc:
        raise ConfigError(
            f"{what} cannot be sent to the workers ({type(exc).__name__}: {exc}); use the "
            "inline executor or make it picklable"
        ) from None


def _check(inst: Any, _attribute: attrs.Attribute, _value: Any) -> None:
    if inst.kind == "inline" and inst.workers > 1:
        raise ConfigError(
            f"executor.workers={inst.workers} needs a parallel executor; add --executor process "
            "(this machine) or --executor ray"
        )
    if inst.address and inst.kind != "ray":
        raise ConfigError("executor.address names a Ray cluster; add --executor ray")


@attrs.frozen
class ExecutorConfig:
    """Where a discrete search (and ``nas bpe search``) evaluates its candidates."""

    kind: str = field(
        "inline", "inline (this process), process (a pool of processes on this machine) or ray "
        "(a Ray cluster; pip install 'nascore[ray]')", validator=one_of(*KINDS),
    )
    workers: int = field(
        1, "candidates evaluated at once (pool processes or Ray tasks); set strategy.batch_size "
        "to at least this", validator=positive,
    )
    address: str | None = field(
        None, "Ray cluster to join: ray://HOST:10001 (Ray Client) or auto (the cluster `ray "
        "start` runs on this machine); None: a local Ray instance on this machine's cores",
        validator=_check,
    )
    threads: int = field(
        0, "torch threads of each worker (0: this machine's cores // workers, at least 1)",
        validator=non_negative,
    )


def make_executor(config: ExecutorConfig) -> Executor:
    """The executor ``config`` describes (workers start when it is first used)."""
    if config.kind == "process":
        from nascore.executors.process import ProcessExecutor

        return ProcessExecutor(config.workers, config.threads)
    if config.kind == "ray":
        from nascore.executors.ray_cluster import RayExecutor

        return RayExecutor(config.workers, config.address, config.threads)
    return InlineExecutor()
