"""Module surgery: turn the convolutions of any module (e.g. a DARTS op) into binarized ones, and
sum the amplitude loss of a network (BNAS Eq. 6, added to the task loss as in Eq. 7)."""

from __future__ import annotations

import torch
from torch import nn

from nascore import ConfigError
from nascore_bnas.binary import (
    AMPLITUDE_THETA,
    XNOR_SCALINGS,
    BinaryConv2d,
    PCNNConv2d,
    XNORConv2d,
)

#: Binarization name -> convolution class (the values of ``--set space.binarize=...``).
BINARIZERS: dict[str, type[BinaryConv2d]] = {"xnor": XNORConv2d, "pcnn": PCNNConv2d}


def binarize(
    module: nn.Module, mode: str, *, scaling: str = "channel", binarize_input: bool = False
) -> nn.Module:
    """Replace every :class:`~torch.nn.Conv2d` inside ``module`` by its binarized twin.

    The twin has the same hyper-parameters, device, dtype, training mode, ``weight`` and ``bias``
    (copied); a PCNN twin's amplitude starts at ``mean |W|`` of the copied weights. Convolutions
    that are already binarized are left alone. Works in place and returns ``module`` (or the twin
    when ``module`` itself is a convolution). ``scaling`` applies to XNOR only.
    """
    if mode not in BINARIZERS:
        raise ConfigError(
            f"unknown binarization {mode!r}; choose one of {', '.join(BINARIZERS)}"
        )
    if scaling not in XNOR_SCALINGS:
        raise ConfigError(
            f"unknown XNOR scaling {scaling!r}; choose one of {', '.join(XNOR_SCALINGS)}"
        )
    return _binarize(module, mode, scaling, binarize_input)


def _binarize(module: nn.Module, mode: str, scaling: str, binarize_input: bool) -> nn.Module:
    if isinstance(module, BinaryConv2d):
        return module
    if isinstance(module, nn.Conv2d):
        return _binary_twin(module, mode, scaling, binarize_input)
    for name, child in module.named_children():
        setattr(module, name, _binarize(child, mode, scaling, binarize_input))
    return module


def _binary_twin(conv: nn.Conv2d, mode: str, scaling: str, binarize_input: bool) -> BinaryConv2d:
    options = {"scaling": scaling} if mode == "xnor" else {}
    twin = BINARIZERS[mode](
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
        binarize_input=binarize_input,
        **options,
    )
    with torch.no_grad():
        twin.weight.copy_(conv.weight)
        if conv.bias is not None:
            twin.bias.copy_(conv.bias)
    if isinstance(twin, PCNNConv2d):
        twin.reset_amplitude()
    return twin.train(conv.training)


def amplitude_loss(module: nn.Module, theta: float = AMPLITUDE_THETA) -> torch.Tensor:
    """``L_A`` of BNAS Eq. 6 summed over every :class:`PCNNConv2d` in ``module`` (a scalar; zero
    when there is none, e.g. under XNOR)."""
    losses = [m.amplitude_loss(theta) for m in module.modules() if isinstance(m, PCNNConv2d)]
    if not losses:
        return torch.zeros(())
    return torch.stack(losses).sum()
