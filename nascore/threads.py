"""Torch threads per process when several processes share a machine.

Each process of a pool (an executor's workers, the ranks of a data-parallel search on one
machine) gets its share of the cores: ``max(1, cores // processes)``, and never more than an
``OMP_NUM_THREADS`` the user (or a launcher) set. Oversubscribed OpenMP threads are far slower
than idle cores: two processes with two threads each on two cores run many times slower than
with one thread each.
"""

from __future__ import annotations

import os

import torch


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS reports it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def thread_share(processes: int) -> int:
    """Threads for one of ``processes`` processes sharing this machine (see the module doc)."""
    threads = max(1, available_cores() // max(1, processes))
    configured = os.environ.get("OMP_NUM_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        threads = min(threads, int(configured))
    return threads


def use_thread_share(processes: int, threads: int = 0) -> int:
    """Set torch's thread count to ``threads`` (0: :func:`thread_share` of ``processes``) and
    return it."""
    count = threads if threads > 0 else thread_share(processes)
    torch.set_num_threads(count)
    return count
