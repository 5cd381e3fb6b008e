"""Activation recomputation: a module's forward pass keeps only its inputs for backward and runs
again there (``torch.utils.checkpoint``), with the same outputs, gradients and BatchNorm running
statistics as a plain forward pass; and the switch of ops that recompute their own intermediate
maps (:class:`RecomputingOp`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint


class Recomputable(nn.Module):
    """A module whose forward pass can be recomputed in backward: subclasses run their forward
    work through :meth:`recomputed`; :attr:`recompute` switches it on (off by default)."""

    recompute: bool = False

    def recomputed(self, fn: Callable[..., torch.Tensor], *args: Any) -> torch.Tensor:
        """``fn(*args)``; with :attr:`recompute` on and autograd recording, only the inputs are
        kept for backward and ``fn`` runs again there."""
        if not (self.recompute and torch.is_grad_enabled()):
            return fn(*args)
        replay = _Replay(self)
        return checkpoint(fn, *args, use_reentrant=False,
                          context_fn=lambda: (replay.record(), replay.replay()))


class _Replay:
    """What the recomputation must see as the first pass did: each parameter's
    ``requires_grad`` (the one-shot arch step freezes the weights only while it runs forward), and
    BatchNorm running statistics that the second pass must not update again."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.requires_grad: list[bool] = []

    @contextlib.contextmanager
    def record(self) -> Iterator[None]:
        self.requires_grad = [p.requires_grad for p in self.module.parameters()]
        yield

    @contextlib.contextmanager
    def replay(self) -> Iterator[None]:
        params = list(self.module.parameters())
        now = [p.requires_grad for p in params]
        norms = [m for m in self.module.modules()
                 if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training
                 and m.track_running_stats]
        saved = [(m.momentum, m.num_batches_tracked.clone()) for m in norms]
        try:
            for p, flag in zip(params, self.requires_grad, strict=True):
                p.requires_grad_(flag)
            for m in norms:
                m.momentum = 0.0  # running = 1 * running + 0 * batch: unchanged
            yield
        finally:
            for p, flag in zip(params, now, strict=True):
                p.requires_grad_(flag)
            for m, (momentum, count) in zip(norms, saved, strict=True):
                m.momentum = momentum
                m.num_batches_tracked.copy_(count)


def _switch(module: nn.Module, kind: type, attribute: str, on: bool) -> int:
    """Set ``attribute`` to ``on`` on every ``kind`` in ``module``; returns how many."""
    found = [m for m in module.modules() if isinstance(m, kind)]
    for m in found:
        setattr(m, attribute, on)
    return len(found)


def set_recompute(module: nn.Module, on: bool) -> int:
    """Switch recomputation of every :class:`Recomputable` in ``module`` on or off; returns how
    many there are."""
    return _switch(module, Recomputable, "recompute", on)


class RecomputingOp:
    """Mixin of ops that, on their fast path, keep only their input for backward and recompute
    their intermediate maps there (:attr:`recompute_maps`, the default), or keep those maps
    (off: less work in backward, more memory); the DARTS sep and dil convs
    (:func:`~nascore.nn.conv.separable_chain`)."""

    recompute_maps: bool = True


def set_op_recompute(module: nn.Module, on: bool) -> int:
    """Switch :attr:`RecomputingOp.recompute_maps` of every op in ``module``; returns how many
    there are."""
    return _switch(module, RecomputingOp, "recompute_maps", on)
