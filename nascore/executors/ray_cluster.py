"""The ``ray`` executor: ``workers`` resident Ray actors, on a local Ray instance or a cluster.

Ray is the optional extra ``nascore[ray]``. Without ``address`` the executor starts a local
instance with this machine's cores (unless the process already called ``ray.init``, which it
then uses as it is) and stops it when closed; with ``address`` (``ray://HOST:10001`` or
``auto``) it joins that cluster, whose nodes need nascore and the run's plugins installed.

Each worker is an actor that reserves ``threads`` CPUs and uses as many torch threads. Actors
live as long as the executor, so whatever a call builds on its worker (an estimator with its
data, see :mod:`nascore.executors.estimation`) stays there for the next calls, and a batch of
``workers`` items starts one item on every worker. Items go to idle workers as they free up;
results come back in item order.
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


class _Worker:
    """The actor behind one worker: fixed torch threads, calls guarded like every executor's."""

    def __init__(self, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)

    def call(self, fn: Callable[[T], R], item: T) -> tuple[bool, R | Failure]:
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
    """``workers`` Ray actors; ``address`` of a cluster (``None``: local); ``threads`` torch
    threads per actor (0: this machine's cores // workers)."""

    kind = "ray"

    def __init__(self, workers: int = 2, address: str | None = None, threads: int = 0) -> None:
        super().__init__(workers)
        self.address = address
        self.threads = threads or thread_share(workers)
        self._owned = False
        self._actors: list[Any] = []

    def _started(self) -> Any:
        ray = _ray()
        if not ray.is_initialized():
            if self.address:  # a cluster's warnings (e.g. unschedulable actors) matter
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
        if not self._actors:
            actor = ray.remote(num_cpus=self.threads)(_Worker)
            self._actors = [actor.remote(self.threads) for _ in range(self.workers)]
        return ray

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        check_picklable(fn, "the task")
        ray = self._started()
        shared = ray.put(fn)
        results: list[Any] = [None] * len(items)
        idle = list(self._actors)
        running: dict[Any, tuple[int, Any]] = {}
        submitted = 0
        try:
            while submitted < len(items) or running:
                while submitted < len(items) and idle:
                    actor = idle.pop(0)
                    running[actor.call.remote(shared, items[submitted])] = (submitted, actor)
                    submitted += 1
                done, _ = ray.wait(list(running), num_returns=1)
                index, actor = running.pop(done[0])
                try:
                    ok, value = ray.get(done[0])
                except Exception as exc:  # the actor died or Ray failed
                    self._drop_actors()
                    raise TaskFailed(index, Failure.of(exc)) from None
                if not ok:
                    raise TaskFailed(index, value)
                results[index] = value
                idle.append(actor)
            return results
        finally:
            for ref in running:
                ray.cancel(ref)

    def _drop_actors(self) -> None:
        for actor in self._actors:
            _ray().kill(actor)
        self._actors = []

    def close(self) -> None:
        if self._actors and _ray().is_initialized():
            self._drop_actors()
        self._actors = []
        if self._owned:
            _ray().shutdown()
            self._owned = False
