"""The training and evaluation passes shared by ``nas train`` and the ``train`` estimator."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable

import attrs
import torch
from torch import nn

from nascore.errors import NonFiniteLossError
from nascore.extra_loss import pop_extra_loss
from nascore.training.network import split_output

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


@attrs.frozen
class EpochStats:
    """Mean loss and top-1 accuracy over the images of one pass."""

    loss: float
    accuracy: float
    images: int


def autocast_dtype(
    device: torch.device, precision: int, loss_scaling: bool = True
) -> torch.dtype | None:
    """The autocast type of ``precision`` 16 on ``device``: float16 on CUDA (the IEEE half
    precision the MIP-BPE budgets mean, with loss scaling, see :func:`grad_scaler`), bfloat16
    elsewhere (CPU autocast has no fast float16 kernels) and wherever the caller does no
    ``loss_scaling`` (float16 gradients would underflow); ``None`` (no autocast) for 32."""
    if precision != 16:
        return None
    return torch.float16 if device.type == "cuda" and loss_scaling else torch.bfloat16


def precision_name(device: torch.device, precision: int) -> str:
    """What ``precision`` trains in on ``device``: ``float16``, ``bfloat16`` or ``float32``."""
    dtype = autocast_dtype(device, precision)
    return "float32" if dtype is None else str(dtype).removeprefix("torch.")


def precision_context(
    device: torch.device, precision: int, loss_scaling: bool = True
) -> contextlib.AbstractContextManager:
    """Autocast to :func:`autocast_dtype` on ``device`` for ``precision`` 16, nothing for 32."""
    dtype = autocast_dtype(device, precision, loss_scaling)
    if dtype is not None:
        return torch.autocast(device.type, dtype=dtype)
    return contextlib.nullcontext()


def grad_scaler(device: torch.device, precision: int) -> torch.amp.GradScaler | None:
    """A loss scaler when ``precision`` trains in float16 (small gradients would underflow
    otherwise), else ``None`` (bfloat16 has float32's range)."""
    if autocast_dtype(device, precision) == torch.float16:
        return torch.amp.GradScaler(device.type)
    return None


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr


@attrs.frozen
class StepResult:
    """One training step: its loss and the correct predictions among its images."""

    loss: float
    correct: int
    images: int


def fit_step(
    network: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    device: torch.device,
    *,
    grad_clip: float = 0.0,
    auxiliary_weight: float = 0.0,
    precision: int = 32,
    scaler: torch.amp.GradScaler | None = None,
) -> StepResult:
    """One training step: forward (autocast for ``precision`` 16), loss (plus the weighted
    auxiliary loss if the network returns one, plus the extra losses its modules recorded, see
    :mod:`nascore.extra_loss`), backward (through ``scaler`` when given: float16 loss scaling),
    gradient clip (0: off), SGD step.

    Raises :class:`NonFiniteLossError` ("training loss became nan") before updating on a
    non-finite loss; callers add where and what to do.
    """
    network.train()
    x, y = x.to(device), y.to(device)
    with precision_context(device, precision):
        logits, aux = split_output(network(x))
        loss = criterion(logits, y)
        if aux is not None and auxiliary_weight > 0:
            loss = loss + auxiliary_weight * criterion(aux, y)
        extra = pop_extra_loss(network)
        if extra is not None:
            loss = loss + extra
    value = loss.item()
    if not math.isfinite(value):
        raise NonFiniteLossError(f"training loss became {value}")
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
    else:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    if grad_clip > 0:
        nn.utils.clip_grad_norm_(network.parameters(), grad_clip)
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()
    return StepResult(value, int((logits.detach().argmax(1) == y).sum()), len(y))


def fit_epoch(
    network: nn.Module,
    batches: Batches,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    device: torch.device,
    *,
    grad_clip: float = 0.0,
    auxiliary_weight: float = 0.0,
    precision: int = 32,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> EpochStats:
    """:func:`fit_step` over ``batches``; ``augment`` transforms each image batch on the CPU
    first. A batch of a single image is skipped (batch norm cannot train on it). Pass the same
    ``scaler`` (:func:`grad_scaler`) to every epoch of a float16 training."""
    loss_sum, correct, count = 0.0, 0, 0
    for step, (x, y) in enumerate(batches):
        if len(y) < 2:
            continue
        if augment is not None:
            x = augment(x)
        try:
            result = fit_step(network, x, y, optimizer, criterion, device, grad_clip=grad_clip,
                              auxiliary_weight=auxiliary_weight, precision=precision,
                              scaler=scaler)
        except NonFiniteLossError as exc:
            raise NonFiniteLossError(f"{exc} in step {step + 1}") from None
        loss_sum += result.loss * result.images
        correct += result.correct
        count += result.images
    return EpochStats(loss_sum / max(count, 1), correct / max(count, 1), count)


@torch.no_grad()
def evaluate_batches(
    network: nn.Module,
    batches: Batches,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> EpochStats:
    """Mean cross-entropy and top-1 accuracy of ``network`` in eval mode (``transform`` is
    applied to each image batch first)."""
    network.eval()
    device = next(network.parameters()).device
    loss_sum, correct, count = 0.0, 0, 0
    for x, y in batches:
        if transform is not None:
            x = transform(x)
        x, y = x.to(device), y.to(device)
        logits, _ = split_output(network(x))
        loss_sum += float(nn.functional.cross_entropy(logits.float(), y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
        count += len(y)
    return EpochStats(loss_sum / max(count, 1), correct / max(count, 1), count)


def resize_batch(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """``images`` resized to ``size`` x ``size`` (bilinear); unchanged if ``size`` is None or
    already their size."""
    if size is None or tuple(images.shape[-2:]) == (size, size):
        return images
    return nn.functional.interpolate(images, size=(size, size), mode="bilinear",
                                     align_corners=False)
