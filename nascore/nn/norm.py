"""BatchNorm bookkeeping shared by modules that run ``F.batch_norm`` themselves."""

from __future__ import annotations

from torch import nn


def count_training_batch(norm: nn.modules.batchnorm._BatchNorm) -> float:
    """Count one training batch in ``norm.num_batches_tracked`` and return the momentum it
    enters the running statistics with, as ``nn.BatchNorm2d`` does (the cumulative average's
    ``1 / batches`` when ``norm.momentum`` is ``None``)."""
    norm.num_batches_tracked.add_(1)
    return 1.0 / float(norm.num_batches_tracked) if norm.momentum is None else norm.momentum
