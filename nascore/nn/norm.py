"""BatchNorm bookkeeping shared by modules that run ``F.batch_norm`` themselves, and the
supernet's weighted BatchNorm."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def count_training_batch(norm: nn.modules.batchnorm._BatchNorm) -> float:
    """Count one training batch in ``norm.num_batches_tracked`` and return the momentum it
    enters the running statistics with, as ``nn.BatchNorm2d`` does (the cumulative average's
    ``1 / batches`` when ``norm.momentum`` is ``None``)."""
    norm.num_batches_tracked.add_(1)
    return 1.0 / float(norm.num_batches_tracked) if norm.momentum is None else norm.momentum


def training_statistics(
    norm: nn.modules.batchnorm._BatchNorm,
) -> tuple[torch.Tensor | None, torch.Tensor | None, float]:
    """``(running_mean, running_var, momentum)`` that one training pass of ``norm`` updates,
    with the batch counted (:func:`count_training_batch`); ``(None, None, 0.0)`` when it keeps no
    running statistics."""
    if not (norm.track_running_stats and norm.running_mean is not None):
        return None, None, 0.0
    return norm.running_mean, norm.running_var, count_training_batch(norm)


def channel_weight(weight: torch.Tensor | None, channels: int) -> torch.Tensor | None:
    """A scalar output weight as a BatchNorm's per-channel weight: a dense vector, since torch's
    CPU channels_last backward misreads an expanded (stride-0) one and returns wrong input
    gradients (torch 2.x)."""
    return None if weight is None else weight.expand(channels).contiguous()


class WeightedBatchNorm2d(nn.BatchNorm2d):
    """A BatchNorm2d whose output a caller may multiply by a scalar weight inside the
    normalisation: while :attr:`output_weight` is set, ``forward(x)`` returns
    ``output_weight * BN(x)`` (the weight enters as the BN's per-channel scale), so autograd keeps
    only what the BatchNorm keeps, not the output as well (a separate multiplication would, for
    the weight's gradient). Unset, it is a plain BatchNorm2d; its state dict is a BatchNorm2d's.
    Only for BatchNorms without affine parameters (the supernet's)."""

    output_weight: torch.Tensor | None = None

    @classmethod
    def replacing(cls, bn: nn.BatchNorm2d) -> WeightedBatchNorm2d:
        """A weighted BatchNorm holding ``bn``'s settings and running statistics."""
        if bn.affine:
            raise ValueError("only a BatchNorm2d without affine parameters can be weighted")
        new = cls(bn.num_features, bn.eps, bn.momentum, False, bn.track_running_stats)
        new.load_state_dict(bn.state_dict())
        new.train(bn.training)
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.output_weight
        if weight is None:
            return super().forward(x)
        if self.training:
            running_mean, running_var, momentum = training_statistics(self)
        else:  # None without running statistics: batch statistics then
            running_mean, running_var, momentum = self.running_mean, self.running_var, 0.0
        return F.batch_norm(
            x,
            running_mean,
            running_var,
            channel_weight(weight, self.num_features),
            None,
            self.training or running_mean is None,
            momentum,
            self.eps,
        )
