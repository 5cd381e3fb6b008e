"""Torch threads per process when several processes share a machine.

A run (``nas run``, ``nas resume``, ``nas train``) takes ``--threads N``, or by default
:func:`use_run_threads` of the free cores and the size of its work.

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


#: Activations per step (batch x channels x height x width at the network's input resolution)
#: worth one thread: a tiny search (batch 16, 4 channels, 8x8 digits) runs fastest on one thread,
#: and a thread more only pays once there is this much work per step to split.
ACTIVATIONS_PER_THREAD = 2**16


def free_cores() -> int:
    """The available cores not kept busy by other processes: :func:`available_cores` minus the
    one-minute load average, at least 1."""
    try:
        load = os.getloadavg()[0]
    except OSError:  # not reported on this platform
        load = 0.0
    return max(1, available_cores() - int(load + 0.5))


def activations(tree: dict, batch_section: str, channels_section: str) -> int:
    """Activations per step of a config tree: ``batch_size`` of ``batch_section`` x
    ``channels`` of ``channels_section`` x the image area (``data.image_size`` or the
    dataset's own)."""
    from nascore.data import NATIVE_SIDE

    data = tree.get("data", {})
    side = data.get("image_size") or NATIVE_SIDE.get(data.get("dataset", ""), 32)
    batch = tree.get(batch_section, {}).get("batch_size") or 64
    channels = tree.get(channels_section, {}).get("channels") or 16
    return int(batch) * int(channels) * int(side) ** 2


def use_run_threads(requested: int, work: int) -> int:
    """Set torch's thread count for one run and return it: ``requested`` (``--threads``) when
    > 0, else the fewest of the cores this process may use (:func:`thread_share`), the
    :func:`free_cores` and one per :data:`ACTIVATIONS_PER_THREAD` of ``work``; so two runs on
    one machine share it instead of oversubscribing it."""
    count = requested if requested > 0 else max(
        1, min(thread_share(1), free_cores(), work // ACTIVATIONS_PER_THREAD))
    torch.set_num_threads(count)
    return count
