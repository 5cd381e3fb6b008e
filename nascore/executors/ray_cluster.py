"""The ``ray`` executor: calls as Ray tasks, on a local Ray instance or an existing cluster.

Ray is the optional extra ``nascore[ray]``. Without ``address`` the executor starts a local
instance with this machine's cores (unless the process already called ``ray.init``, which it
then uses as it is) and stops it when closed; with ``address`` (``ray://HOST:10001`` or
``auto``) it joins that cluster, whose nodes need nascore and the run's plugins installed.
Each task reserves ``threads`` CPUs and uses as many torch threads; at most ``workers`` tasks
are in flight, and results come back in item order.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from nascore.errors import ConfigError
from nascore.executors.base import Executor, Failure, TaskFailed, check_picklable, guarded_call
from nascore.threads import available_cores, thread_share

T = TypeVar("T")
R = TypeVar("R")


def _task(fn: Callable[[T], R], item: T, threads: int) -> tuple[bool, R | Failure]:
    import torch

    torch.set_num_threads(threads)
    return guarded_call(fn, item)


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "executor ray needs Ray; install it with pip install 'nascore[ray]' or choose "
            "--executor process"
        ) from None
    return ray


class RayExecutor(Executor):
    """``workers`` Ray tasks at a time; ``address`` of a cluster (``None``: local);
    ``threads`` torch threads per task (0: this machine's cores // workers)."""

    kind = "ray"

    def __init__(self, workers: int = 2, address: str | None = None, threads: int = 0) -> None:
        super().__init__(workers)
        self.address = address
        self.threads = threads or thread_share(workers)
        self._owned = False
        self._remote: Any = None

    def _started(self) -> Any:
        ray = _ray()
        if not ray.is_initialized():
            if self.address:  # a cluster's warnings (e.g. unschedulable tasks) matter
                options: dict[str, Any] = {"address": self.address,
                                           "logging_level": logging.WARNING}
            else:
                options = {"num_cpus": available_cores(), "include_dashboard": False,
                           "logging_level": logging.ERROR}
                self.threads = min(self.threads, available_cores())
            keep = signal.getsignal(signal.SIGTERM)  # ray.init makes SIGTERM exit at once;
            try:  # the run engine's handler checkpoints first
                ray.init(**options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = self.address or "a local instance"
                raise ConfigError(
                    f"cannot start Ray on {where} ({str(exc).splitlines()[0][:200]}); check "
                    "executor.address or run `ray start --head` first"
                ) from None
            finally:
                if threading.current_thread() is threading.main_thread():
                    signal.signal(signal.SIGTERM, keep)
            self._owned = True
        if self._remote is None:
            self._remote = ray.remote(num_cpus=self.threads)(_task)
        return ray

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        check_picklable(fn, "the task")
        ray = self._started()
        shared = ray.put(fn)
        results: list[Any] = [None] * len(items)
        running: dict[Any, int] = {}
        submitted = 0
        try:
            while submitted < len(items) or running:
                while submitted < len(items) and len(running) < self.workers:
                    ref = self._remote.remote(shared, items[submitted], self.threads)
                    running[ref] = submitted
                    submitted += 1
                done, _ = ray.wait(list(running), num_returns=1)
                index = running.pop(done[0])
                try:
                    ok, value = ray.get(done[0])
                except Exception as exc:  # the worker died or Ray failed
                    raise TaskFailed(index, Failure.of(exc)) from None
                if not ok:
                    raise TaskFailed(index, value)
                results[index] = value
            return results
        finally:
            for ref in running:
                ray.cancel(ref)

    def close(self) -> None:
        if self._owned:
            _ray().shutdown()
            self._owned = False
            self._remote = None
