"""``nas bench supernet``: seconds per search step and peak memory of one-shot strategies.

Each measurement runs in a fresh process (``multiprocessing`` spawn), so its peak resident set
size (``ru_maxrss``) belongs to that strategy and image size alone. A step is one weights step
plus the architecture step(s), on random images of the ``darts`` space's supernet; the time is
the median over ``steps`` steps after one untimed warm-up step.

Targets (documented, not tested; CPU, ``channels=16``, ``layers=8``, ``batch_size=64``):

* ``gdas`` step <= 0.2x the ``darts`` step (one op per edge instead of seven);
* ``pcdarts`` step <= 0.5x the ``darts`` step (ops on a quarter of the channels);
* ``darts`` peak memory at 16x16 below 2.5 GB.
"""

from __future__ import annotations

import multiprocessing
import resource
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

TARGETS = {
    "gdas_step_vs_darts": 0.2,
    "pcdarts_step_vs_darts": 0.5,
    "darts_peak_gb_16x16": 2.5,
}


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_step(
    strategy: str,
    size: int,
    channels: int,
    layers: int,
    batch_size: int,
    steps: int,
    seed: int = 0,
) -> dict[str, Any]:
    """Time ``steps`` search steps of ``strategy`` in this process (see the module docstring)."""
    import torch

    from nascore.components import component_class, make_space
    from nascore.config import build_config
    from nascore.events import EventLog
    from nascore.space import DataInfo
    from nascore.strategy import SearchContext

    base_mb = _rss_mb()
    torch.manual_seed(seed)
    space = make_space("darts", {"channels": channels, "layers": layers}, DataInfo(3, size, 10))
    context = SearchContext(
        space=space, seed=seed, device=torch.device("cpu"), events=EventLog(None)
    )
    cls = component_class("strategy", strategy)
    config = build_config(cls.config_cls, {"batch_size": batch_size, "warmup_epochs": 0})
    search = cls(config, context)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        return torch.randn(batch_size, 3, size, size), torch.randint(0, 10, (batch_size,))

    times = []
    for step in range(steps + 1):
        train, arch = batch(), batch()
        started = time.perf_counter()
        search.search_step(train, arch, step)
        times.append(time.perf_counter() - started)
    return {
        "strategy": strategy,
        "image_size": size,
        "channels": channels,
        "layers": layers,
        "batch_size": batch_size,
        "steps": steps,
        "seconds_per_step": statistics.median(times[1:]),
        "peak_rss_mb": _rss_mb(),
        "base_rss_mb": base_mb,
        "threads": torch.get_num_threads(),
    }


def bench_supernet(
    strategies: Sequence[str] = ("darts", "pcdarts", "gdas"),
    sizes: Sequence[int] = (16, 32),
    channels: int = 16,
    layers: int = 8,
    batch_size: int = 64,
    steps: int = 3,
) -> list[dict[str, Any]]:
    """One row per (strategy, image size): seconds per step and peak RSS of a fresh process.

    ``base_rss_mb`` is the process's peak before the supernet was built (Python, torch);
    ``peak_rss_mb`` includes it.
    """
    context = multiprocessing.get_context("spawn")
    rows = []
    for size in sizes:
        for strategy in strategies:
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                rows.append(
                    pool.submit(
                        measure_step, strategy, size, channels, layers, batch_size, steps
                    ).result()
                )
    return rows
