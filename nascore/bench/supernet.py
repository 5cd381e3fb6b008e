"""``nas bench supernet``: seconds per search step and peak memory of one-shot strategies, for
nascore's supernet and the naive mixture supernet (:mod:`nascore.bench.naive`).

Each measurement runs in a fresh process (``multiprocessing`` spawn), so its peak resident set
size (``ru_maxrss``) belongs to that strategy, supernet and image size alone. A step is one
weights step plus the architecture step(s), on random images of a space's supernet (``darts`` by
default, or any space with a supernet, e.g. ``adarts``); the time is the median over ``steps``
steps after one untimed warm-up step. With ``repeats`` > 1 every measurement is repeated (the
supernets alternating) and the best time and the lowest peak are kept. The naive supernet runs
with the loop's defaults except ``memory_format = "contiguous"`` (the reference code's layout);
``options`` (strategy config values, e.g. ``{"recompute": "cells"}`` or
``{"memory_format": "contiguous"}``) apply to nascore's rows only. ``docs/performance.md`` shows
the figures.

Targets (documented, not tested; CPU, ``channels=16``, ``layers=8``, ``batch_size=64``):

* ``darts`` step <= 0.6x and peak memory <= 0.5x the naive supernet's (16x16 and 32x32);
* ``gdas`` step <= 0.2x the ``darts`` step (one op per edge instead of seven);
* ``pcdarts`` step <= 0.5x the ``darts`` step (ops on a quarter of the channels);
* ``darts`` peak memory at 16x16 below 2.5 GB;
* a strategy's step on ``adarts`` <= 1.3x its step on ``darts`` (the activation factor).
"""

from __future__ import annotations

import multiprocessing
import resource
import statistics
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

TARGETS = {
    "darts_step_vs_naive": 0.6,
    "darts_peak_vs_naive": 0.5,
    "gdas_step_vs_darts": 0.2,
    "pcdarts_step_vs_darts": 0.5,
    "darts_peak_gb_16x16": 2.5,
    "adarts_step_vs_darts": 1.3,
}

#: Strategies whose step time is compared with ``darts``' (same space and image size).
COMPARED_STRATEGIES = ("gdas", "pcdarts")

#: The supernets a row can measure: nascore's and the naive baseline.
SUPERNETS = ("nascore", "naive")

#: Strategy settings of the naive baseline's rows.
NAIVE_OPTIONS = {"memory_format": "contiguous"}


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_times(
    search: Any, size: int, batch_size: int, steps: int, generator: Any = None
) -> tuple[float, float]:
    """Median wall-clock and median CPU seconds (this process, all threads) of ``steps``
    ``search.search_step`` calls on random 3-channel images of ``size`` (after one untimed
    warm-up step). ``search`` is a ``OneShotStrategy``. CPU time is less disturbed by other
    processes on a shared machine."""
    import torch

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(batch_size, 3, size, size, generator=generator)
        return x, torch.randint(0, 10, (batch_size,), generator=generator)

    wall, cpu = [], []
    for step in range(steps + 1):
        train, arch = batch(), batch()
        started, started_cpu = time.perf_counter(), time.process_time()
        search.search_step(train, arch, step)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return statistics.median(wall[1:]), statistics.median(cpu[1:])


def seconds_per_search_step(
    search: Any, size: int, batch_size: int, steps: int, generator: Any = None
) -> float:
    """Median wall-clock seconds of :func:`step_times`."""
    return step_times(search, size, batch_size, steps, generator)[0]


def measure_step(
    strategy: str,
    size: int,
    channels: int,
    layers: int,
    batch_size: int,
    steps: int,
    seed: int = 0,
    space_name: str = "darts",
    supernet: str = "nascore",
    options: Mapping[str, Any] | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Time ``steps`` search steps of ``strategy`` on ``space_name`` in this process on
    ``device``, with nascore's supernet (and strategy settings ``options``) or the ``"naive"``
    one (see the module docstring)."""
    import torch

    from nascore.bench.naive import make_naive
    from nascore.context import SearchContext, device_of
    from nascore.events import EventLog
    from nascore.plugins import make_space, registry
    from nascore.space import DataInfo

    if supernet not in SUPERNETS:
        raise ValueError(f"unknown supernet {supernet!r}; use {' or '.join(SUPERNETS)}")
    base_mb = _rss_mb()
    torch.manual_seed(seed)
    space = make_space(
        space_name, {"channels": channels, "layers": layers}, DataInfo(3, size, 10)
    )
    context = SearchContext(space=space, seed=seed, device=device_of(device), events=EventLog(None))
    cls = registry().get("strategy", strategy)
    settings = dict(NAIVE_OPTIONS if supernet == "naive" else options or {})
    config = cls.configure({"batch_size": batch_size, "warmup_epochs": 0, **settings})
    search = cls(config, context)
    if supernet == "naive":
        make_naive(search.supernet)

    seconds, cpu_seconds = step_times(search, size, batch_size, steps)
    return {
        "strategy": strategy,
        "space": space_name,
        "supernet": supernet,
        "image_size": size,
        "channels": channels,
        "layers": layers,
        "batch_size": batch_size,
        "steps": steps,
        "options": settings,
        "seconds_per_step": seconds,
        "cpu_seconds_per_step": cpu_seconds,
        "peak_rss_mb": _rss_mb(),
        "base_rss_mb": base_mb,
        "threads": torch.get_num_threads(),
        "device": str(context.device),
    }


def _fresh(*args: Any) -> dict[str, Any]:
    """:func:`measure_step` in a fresh process."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(measure_step, *args).result()


def bench_supernet(
    strategies: Sequence[str] = ("darts", "pcdarts", "gdas"),
    sizes: Sequence[int] = (16, 32),
    channels: int = 16,
    layers: int = 8,
    batch_size: int = 64,
    steps: int = 3,
    spaces: Sequence[str] = ("darts",),
    supernets: Sequence[str] = ("nascore",),
    repeats: int = 1,
    options: Mapping[str, Any] | None = None,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """One row per (space, image size, strategy, supernet): seconds per step and peak RSS of a
    fresh process, the best of ``repeats`` measurements (the supernets alternating).
    ``supernets``: any of :data:`SUPERNETS` (default nascore's only; the CLI measures both).

    ``base_rss_mb`` is the process's peak before the supernet was built (Python, torch);
    ``peak_rss_mb`` includes it.
    """
    rows = []
    for space_name in spaces:
        for size in sizes:
            for strategy in strategies:
                runs: dict[str, list[dict[str, Any]]] = {name: [] for name in supernets}
                for _ in range(repeats):
                    for name in supernets:
                        runs[name].append(_fresh(
                            strategy, size, channels, layers, batch_size, steps, 0,
                            space_name, name, options, device,
                        ))
                for name in supernets:
                    best = min(runs[name], key=lambda r: r["seconds_per_step"])
                    rows.append({
                        **best,
                        "cpu_seconds_per_step": min(r["cpu_seconds_per_step"] for r in runs[name]),
                        "peak_rss_mb": min(r["peak_rss_mb"] for r in runs[name]),
                        "repeats": repeats,
                    })
    return rows


def naive_ratios(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """``"<strategy>/<space>/<size>"`` -> nascore's step time, CPU time per step and peak RSS
    over the naive supernet's (``{"time": ..., "cpu_time": ..., "memory": ...}``), for the pairs
    present in ``rows``."""
    found = {(r["strategy"], r["space"], r["image_size"], r["supernet"]): r for r in rows}
    ratios = {}
    for (strategy, space_name, size, supernet), row in found.items():
        naive = found.get((strategy, space_name, size, "naive"))
        if supernet == "nascore" and naive is not None:
            ratios[f"{strategy}/{space_name}/{size}"] = {
                "time": row["seconds_per_step"] / naive["seconds_per_step"],
                "cpu_time": row["cpu_seconds_per_step"] / naive["cpu_seconds_per_step"],
                "memory": row["peak_rss_mb"] / naive["peak_rss_mb"],
            }
    return ratios


def step_ratios(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Step-time ratios among nascore's ``rows`` of :func:`bench_supernet`, for the
    :data:`TARGETS`.

    ``"<strategy>_vs_darts/<space>/<size>"``: a :data:`COMPARED_STRATEGIES` strategy's step over
    ``darts``' step on the same space and size; ``"<strategy>/<space>_vs_darts/<size>"``: a
    strategy's step on another space over its step on ``darts`` at the same size. Only pairs
    present in ``rows`` appear.
    """
    seconds = {
        (r["strategy"], r["space"], r["image_size"]): r["seconds_per_step"]
        for r in rows
        if r.get("supernet", "nascore") == "nascore"
    }
    ratios = {}
    for (strategy, space_name, size), value in seconds.items():
        darts_strategy = seconds.get(("darts", space_name, size))
        if strategy in COMPARED_STRATEGIES and darts_strategy:
            ratios[f"{strategy}_vs_darts/{space_name}/{size}"] = value / darts_strategy
        darts_space = seconds.get((strategy, "darts", size))
        if space_name != "darts" and darts_space:
            ratios[f"{strategy}/{space_name}_vs_darts/{size}"] = value / darts_space
    return ratios
