"""Extra loss terms recorded by modules during a forward pass (e.g. the amplitude loss of
binarized convolutions), summed into the training loss of search steps and ``nas train``.

A module calls :func:`record_extra_loss` in its ``forward``; the trainer calls
:func:`pop_extra_loss` on the whole network right after the forward pass. Recording during the
forward (rather than computing from parameters afterwards) means that only modules that actually
ran contribute, and that a forward under ``torch.func.functional_call`` (second-order DARTS)
records the term at the weights it ran with.
"""

from __future__ import annotations

import torch
from torch import nn

_ATTRIBUTE = "_nascore_extra_loss"


def record_extra_loss(module: nn.Module, value: torch.Tensor) -> None:
    """Add ``value`` to ``module``'s extra loss of the current forward pass (only when training
    with gradients: evaluation and export passes record nothing)."""
    if not (module.training and torch.is_grad_enabled()):
        return
    previous = module.__dict__.get(_ATTRIBUTE)
    module.__dict__[_ATTRIBUTE] = value if previous is None else previous + value


def pop_extra_loss(network: nn.Module) -> torch.Tensor | None:
    """The sum of the extra losses recorded in ``network`` since the last call (``None`` when
    nothing was recorded); the records are cleared."""
    total = None
    for module in network.modules():
        value = module.__dict__.pop(_ATTRIBUTE, None)
        if value is not None:
            total = value if total is None else total + value
    return total
