"""How the one-shot loop lays out and runs its supernet: settings that change speed and memory,
never the math (``memory_format``, ``recompute``; see ``nas bench supernet`` for the figures)."""

from __future__ import annotations

import torch

#: Values of ``OneShotConfig.memory_format``.
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")

#: Values of ``OneShotConfig.recompute``: ``auto`` (``ops`` unless the ops run on partial
#: channels), ``none``, ``ops`` (the sep and dil convs' intermediate maps,
#: :class:`~nascore.nn.recompute.RecomputingOp`) or every supernet cell
#: (:class:`~nascore.nn.recompute.Recomputable`).
RECOMPUTE = ("auto", "none", "ops", "cells")


def recompute_ops(setting: str, partial_channels: int = 1) -> bool:
    """Whether the supernet's ops recompute their intermediate maps in backward: with
    ``recompute = ops``, or ``auto`` when the ops run on every channel (on a quarter of them,
    PC-DARTS, the extra convolutions cost more than the memory they save: 1.08x the naive step
    time vs 0.91x, docs/performance.md). A recomputed cell keeps its ops' maps only while its
    backward runs, so ``cells`` keeps them."""
    return setting == "ops" or (setting == "auto" and partial_channels == 1)


def memory_format(setting: str, device: torch.device,
                  partial_channels: int = 1) -> torch.memory_format:
    """The layout of the supernet's weights and images: ``auto`` is channels_last on CPU (where
    it was measured to pay) unless the ops run on 1/K of the channels (PC-DARTS: torch's CPU
    channels_last BatchNorm is slow on few channels), contiguous elsewhere."""
    if setting == "channels_last" or (
        setting == "auto" and device.type == "cpu" and partial_channels == 1
    ):
        return torch.channels_last
    return torch.contiguous_format
