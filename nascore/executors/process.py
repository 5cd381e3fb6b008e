"""The ``process`` executor: a pool of worker processes on this machine.

Workers are spawned (fresh interpreters, so they import the installed plugins like any
``nas`` process), each with its share of the cores as torch threads, and they ignore SIGINT:
Ctrl-C stops the search after the running batch, through the run engine's checkpoint.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

from nascore.executors.base import Executor, Failure, TaskFailed, check_picklable, guarded_call
from nascore.threads import thread_share

T = TypeVar("T")
R = TypeVar("R")


def _start_worker(threads: int) -> None:
    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)


class ProcessExecutor(Executor):
    """``workers`` spawned processes; ``threads`` torch threads each (0: the cores' share)."""

    kind = "process"

    def __init__(self, workers: int = 2, threads: int = 0) -> None:
        super().__init__(workers)
        self.threads = threads or thread_share(workers)
        self._pool: ProcessPoolExecutor | None = None

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker, initargs=(self.threads,),
            )
        return self._pool

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        check_picklable(fn, "the task")
        pool = self._started()
        futures: list[Future] = [pool.submit(guarded_call, fn, item) for item in items]
        try:
            results = []
            for index, future in enumerate(futures):
                try:
                    ok, value = future.result()
                except Exception as exc:  # the pool broke: a worker died
                    self.close()
                    raise TaskFailed(index, Failure.of(exc)) from None
                if not ok:
                    raise TaskFailed(index, value)
                results.append(value)
            return results
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
