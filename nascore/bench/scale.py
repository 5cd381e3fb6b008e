"""``nas bench scale``: what scaling out buys on this machine.

* ``estimates``: wall time of ``count`` train-estimator evaluations (the ``tiny`` budget on
  digits) inline, with 1 thread and with every core as torch threads, and on ``workers``
  executor workers with ``cores // workers`` threads each, best of ``repeats``. Both sides are
  warmed up first by one untimed estimate per worker: the inline estimator is built before its
  clock starts, so the workers' start (the Ray instance, imports, data, estimator) is reported
  apart as ``start_seconds``, paid once per search. ``ratio`` is over the faster inline time.
  Target: 2 Ray workers on 2 cores take at most 0.65x the inline time.
* ``ddp``: seconds per ``darts`` search step (weights + architecture step) of a data-parallel
  search with ``processes`` gloo processes (``cores // processes`` threads each) and of one
  process with 1 thread and with every core, at the same global batch, in fresh processes;
  ``ratio`` is over the faster single process.

Nothing here is a test: the figures depend on the machine and its load (on a busy machine,
more threads than free cores make OpenMP far slower, which the 1-thread figures show).
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import statistics
import time
from typing import Any

TARGETS = {"estimates_vs_inline_2_workers": 0.65}


def _train_estimator(executor: Any, subset: int | None) -> Any:
    import torch

    from nascore.budget import TINY
    from nascore.context import SearchContext
    from nascore.data import DataConfig, SearchData
    from nascore.estimators.train import TrainEstimator, TrainEstimatorConfig
    from nascore.events import EventLog
    from nascore.plugins import make_space

    data = SearchData(DataConfig(subset=subset), seed=0)
    space = make_space("darts", {}, data.info)  # the budget sets the trained network's size
    context = SearchContext(space=space, seed=0, device=torch.device("cpu"), events=EventLog(),
                            data=data, budget=TINY, executor=executor)
    return TrainEstimator(TrainEstimatorConfig(cache=False), context)


def bench_estimates(count: int = 16, workers: int = 2, kind: str = "ray",
                    subset: int | None = None, repeats: int = 2) -> dict[str, Any]:
    """Inline vs ``kind`` (``ray`` or ``process``) executor time of ``count`` estimates, best
    of ``repeats`` each, both sides warmed up by ``workers`` untimed estimates."""
    import numpy as np
    import torch

    from nascore.executors import ExecutorConfig, make_executor
    from nascore.threads import available_cores

    cores = available_cores()
    inline = _train_estimator(None, subset)
    space = inline.context.space
    archs = [space.sample(np.random.default_rng(i)) for i in range(count)]
    warmup = [space.sample(np.random.default_rng(count + i)) for i in range(workers)]
    threads = torch.get_num_threads()
    inline_seconds: dict[int, float] = {}
    inline_scores = {}
    try:
        inline.estimate_many(warmup)
        for _ in range(repeats):
            for count_threads in sorted({1, cores}):
                torch.set_num_threads(count_threads)
                seconds, inline_scores[count_threads] = _timed_scores(inline, archs)
                inline_seconds[count_threads] = min(
                    seconds, inline_seconds.get(count_threads, seconds))
    finally:
        torch.set_num_threads(threads)
    executor = make_executor(ExecutorConfig(kind=kind, workers=workers))
    try:
        began = time.perf_counter()
        parallel = _train_estimator(executor, subset)
        parallel.estimate_many(warmup)  # one estimate per worker: start, imports, data
        start_seconds = time.perf_counter() - began
        runs = [_timed_scores(parallel, archs) for _ in range(repeats)]
    finally:
        executor.close()
    seconds = min(run[0] for run in runs)
    return {
        "estimates": count, "cores": cores, "executor": kind, "workers": workers,
        "worker_threads": executor.threads, "repeats": repeats,
        "inline_seconds_by_threads": inline_seconds, "start_seconds": start_seconds,
        "parallel_seconds": seconds, "ratio": seconds / min(inline_seconds.values()),
        "same_scores_as_inline_with_threads": [
            n for n, found in inline_scores.items() if found == runs[0][1]
        ],
    }


def _timed_scores(estimator: Any, archs: list[Any]) -> tuple[float, list[float]]:
    began = time.perf_counter()
    scores = [e.score for e in estimator.estimate_many(archs)]
    return time.perf_counter() - began, scores


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _step_process(rank: int, world: int, port: int, options: dict[str, Any],
                  results: Any) -> None:
    """One process of :func:`bench_ddp`: time search steps on its share of random batches."""
    import torch

    from nascore import distributed
    from nascore.context import SearchContext
    from nascore.events import EventLog
    from nascore.plugins import make_space, registry
    from nascore.space import DataInfo
    from nascore.threads import use_thread_share

    if world > 1:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                          LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                          LOCAL_WORLD_SIZE=str(world))
        distributed.join()
    else:
        use_thread_share(1, options["threads"])
    size, batch = options["size"], options["batch_size"]
    torch.manual_seed(0)
    space = make_space("darts", {"channels": options["channels"], "layers": options["layers"]},
                       DataInfo(3, size, 10))
    context = SearchContext(space=space, seed=0, device=torch.device("cpu"), events=EventLog())
    cls = registry().get("strategy", "darts")
    search = cls(cls.configure({"batch_size": batch, "warmup_epochs": 0}), context)
    generator = torch.Generator().manual_seed(0)
    times = []
    for step in range(options["steps"] + 1):
        pair = []
        for _ in range(2):
            x = torch.randn(batch, 3, size, size, generator=generator)
            y = torch.randint(0, 10, (batch,), generator=generator)
            pair.append((x[rank::world], y[rank::world]))
        began = time.perf_counter()
        search.search_step(pair[0], pair[1], step)
        times.append(time.perf_counter() - began)
    if rank == 0:
        results.put({"seconds": statistics.median(times[1:]),
                     "threads": torch.get_num_threads()})
    distributed.leave()


def _time_steps(world: int, options: dict[str, Any]) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    results = context.SimpleQueue()
    port = _free_port()
    procs = [context.Process(target=_step_process, args=(r, world, port, options, results))
             for r in range(world)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    if any(proc.exitcode for proc in procs):
        raise RuntimeError(f"a benchmark process failed: {[p.exitcode for p in procs]}")
    return results.get()


def bench_ddp(processes: int = 2, channels: int = 16, layers: int = 8, batch_size: int = 64,
              size: int = 16, steps: int = 3) -> dict[str, Any]:
    """Seconds per darts search step on ``processes`` data-parallel processes vs one process,
    at the global ``batch_size``."""
    from nascore.threads import available_cores

    options = {"channels": channels, "layers": layers, "batch_size": batch_size, "size": size,
               "steps": steps}
    single = {n: _time_steps(1, {**options, "threads": n})["seconds"]
              for n in sorted({1, available_cores()})}
    parallel = _time_steps(processes, {**options, "threads": 0})
    return {
        **options, "processes": processes, "single_seconds_by_threads": single,
        "parallel_seconds": parallel["seconds"], "parallel_threads": parallel["threads"],
        "ratio": parallel["seconds"] / min(single.values()),
    }
