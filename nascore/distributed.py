"""Data-parallel search over several processes: the process group and the collectives it uses.

``torchrun --nproc_per_node N -m nascore run ...`` (or ``nas run --nproc N``) starts N copies of
``nas run`` with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``MASTER_ADDR``/``MASTER_PORT`` in
their environment. :func:`join` turns that into a process group (gloo for CPU tensors, nccl for
GPU tensors) and gives each process its share of the cores as torch threads;
:func:`local_device` puts each process on ``cuda:LOCAL_RANK`` when it searches on GPUs.

Every helper is the identity (or a no-op) on a single process, so the search calls them without
branches. Rank 0 is the *main* process: it alone reads and writes the run directory; the others
compute the same steps on their share of each batch and learn what rank 0 decided through
:func:`main_first`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import nn

from nascore.context import device_of
from nascore.errors import NascoreError
from nascore.threads import use_thread_share

T = TypeVar("T")

_OPS = {"sum": "SUM", "mean": "SUM", "max": "MAX", "min": "MIN"}


class MirroredError(NascoreError):
    """An error the main process raised, raised again on the other processes (the main process
    prints it; the others exit with its code quietly)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def launched() -> bool:
    """Whether a launcher (torchrun) started this process as one of several."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """Whether this process is in a process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Number of processes of the search (1 without a process group)."""
    return dist.get_world_size() if active() else 1


def rank() -> int:
    """This process's rank (from the environment before :func:`join`; 0 on one process)."""
    if active():
        return dist.get_rank()
    return int(os.environ.get("RANK", "0")) if launched() else 0


def is_main() -> bool:
    """Whether this process is rank 0, the one that writes the run directory."""
    return rank() == 0


def local_device(name: str) -> torch.device:
    """The device of this process: :func:`~nascore.context.device_of` ``name``, with a bare
    ``cuda`` (or ``auto`` on a GPU machine) becoming ``cuda:LOCAL_RANK`` under a launcher (and
    made the process's current GPU)."""
    device = device_of(name)
    if launched() and device.type == "cuda":
        if device.index is None:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return device


def join() -> None:
    """Join the process group a launcher describes (once; nothing without a launcher)."""
    if launched() and not dist.is_initialized():
        backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
        use_thread_share(int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"])))


def leave() -> None:
    """Leave the process group (after a search; nothing without one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce(tensor: torch.Tensor, op: str = "mean") -> torch.Tensor:
    """``tensor`` reduced over all processes (``sum``, ``mean``, ``max`` or ``min``), as a new
    tensor on ``tensor``'s device; ``tensor`` itself on one process. Every process gets the
    same bits."""
    if not active():
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out, op=getattr(dist.ReduceOp, _OPS[op]))
    if op == "mean":
        out /= dist.get_world_size()
    return out


def all_reduce_many(tensors: Sequence[torch.Tensor], op: str = "mean") -> list[torch.Tensor]:
    """:func:`all_reduce` of several tensors of one dtype in a single collective."""
    if not active() or not tensors:
        return list(tensors)
    flat = all_reduce(torch.cat([t.detach().reshape(-1) for t in tensors]), op)
    sizes = [t.numel() for t in tensors]
    return [piece.view_as(t) for piece, t in zip(flat.split(sizes), tensors, strict=True)]


def all_ranks(flag: bool) -> bool:
    """Whether ``flag`` holds on every process."""
    if not active():
        return flag
    return bool(all_reduce(torch.tensor([int(flag)]), "min").item())


def any_rank(flag: bool) -> bool:
    """Whether ``flag`` holds on some process."""
    return not all_ranks(not flag)


def broadcast_object(value: T) -> T:
    """Rank 0's ``value`` on every process (picklable values)."""
    if not active():
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0, device=torch.device("cpu"))
    return holder[0]


def main_first(fn: Callable[[], T], share: bool = False) -> T | None:
    """Run ``fn`` on the main process only; a :class:`NascoreError` it raises is raised on every
    process (as :class:`MirroredError` on the others). Returns ``fn()`` on the main process and,
    with ``share``, on every process (else ``None`` on the others)."""
    if not active():
        return fn()
    if is_main():
        try:
            result = fn()
        except NascoreError as exc:
            broadcast_object(("error", str(exc), exc.exit_code))
            raise
        except Exception as exc:
            broadcast_object(("error", f"the main process failed: {type(exc).__name__}", 1))
            raise
        broadcast_object(("ok", result if share else None, 0))
        return result
    status, payload, code = broadcast_object(None)
    if status == "error":
        raise MirroredError(payload, code)
    return payload


def broadcast_buffers(module: nn.Module) -> None:
    """Give every process rank 0's buffers of ``module`` (e.g. batch-norm running statistics,
    which each process updates on its own share of the data)."""
    if not active():
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)


def data_parallel(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` under :class:`~torch.nn.parallel.DistributedDataParallel`: gradients are
    averaged over the processes in the backward pass. Parameters a forward pass leaves unused
    (sampled-out or pruned candidates) are allowed and keep ``grad = None`` as on one process."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)
