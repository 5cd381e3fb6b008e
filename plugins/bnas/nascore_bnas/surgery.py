"""Module surgery: turn the convolutions of any module (e.g. a DARTS op) into binarized ones, and
sum the amplitude loss of a network (BNAS Eq. 6, added to the task loss as in Eq. 7)."""

from __future__ import annotations

from typing import Any

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
    module: nn.Module,
    mode: str,
    *,
    scaling: str = "channel",
    binarize_input: bool = False,
    amplitude_theta: float | None = None,
    input_scaling: bool = True,
) -> nn.Module:
    """Replace every :class:`~torch.nn.Conv2d` inside ``module`` by its binarized twin.

    The twin has the same hyper-parameters, device, dtype, training mode, ``weight`` and ``bias``
    (copied); a PCNN twin's amplitude starts at ``mean |W|`` of the copied weights. Convolutions
    that are already binarized are left alone. Works in place and returns ``module`` (or the twin
    when ``module`` itself is a convolution). ``scaling`` and ``input_scaling`` (XNOR-Net's ``K``
    on binarized inputs) apply to XNOR only; with ``amplitude_theta`` the twins record ``L_A``
    in their forward pass (see :class:`~nascore_bnas.binary.BinaryConv2d`).
    """
    if mode not in BINARIZERS:
        raise ConfigError(
            f"unknown binarization {mode!r}; choose one of {', '.join(BINARIZERS)}"
        )
    if scaling not in XNOR_SCALINGS:
        raise ConfigError(
            f"unknown XNOR scaling {scaling!r}; choose one of {', '.join(XNOR_SCALINGS)}"
        )
    options: dict[str, Any] = {"amplitude_theta": amplitude_theta}
    if mode == "xnor":
        options.update(scaling=scaling, input_scaling=input_scaling)
    return _binarize(module, mode, binarize_input, options)


def _binarize(
    module: nn.Module, mode: str, binarize_input: bool, options: dict[str, Any]
) -> nn.Module:
    if isinstance(module, BinaryConv2d):
        return module
    if isinstance(module, nn.Conv2d):
        return _binary_twin(module, mode, binarize_input, options)
    for name, child in module.named_children():
        setattr(module, name, _binarize(child, mode, binarize_input, options))
    return module


def _binary_twin(
    conv: nn.Conv2d, mode: str, binarize_input: bool, options: dict[str, Any]
) -> BinaryConv2d:
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


def strip_relus(module: nn.Module) -> nn.Module:
    """Replace every :class:`~torch.nn.ReLU` inside ``module`` by an :class:`~torch.nn.Identity`
    (in place; returns ``module``). Binarized activations need it: ``sign(ReLU(x))`` is +1
    everywhere, so in front of a convolution that binarizes its input the sign is the
    nonlinearity (XNOR-Net's block order ``BN -> sign -> conv``)."""
    if isinstance(module, nn.ReLU):
        return nn.Identity()
    for name, child in module.named_children():
        setattr(module, name, strip_relus(child))
    return module


def amplitude_loss(module: nn.Module, theta: float = AMPLITUDE_THETA) -> torch.Tensor:
    """``L_A`` of BNAS Eq. 6 summed over every binarized convolution in ``module`` (a scalar;
    zero when there is none)."""
    losses = [m.amplitude_loss(theta) for m in module.modules() if isinstance(m, BinaryConv2d)]
    if not losses:
        return torch.zeros(())
    return torch.stack(losses).sum()
