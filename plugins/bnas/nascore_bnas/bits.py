"""Model size in bits (BNAS Tab. 1: "1 bit" per binarized weight, "32 bits" otherwise) and the
``bits`` constraint."""

from __future__ import annotations

import torch
from torch import nn

from nascore import Constraint
from nascore_bnas.binary import BinaryConv2d

#: Bits of one full-precision number.
FLOAT_BITS = 32


def model_bits(module: nn.Module, exclude: tuple[str, ...] = ()) -> int:
    """Storage of ``module`` in bits: 1 per weight of a :class:`BinaryConv2d`, 32 per other
    parameter, plus 32 per scaling factor a binarized convolution derives from its weights
    (XNOR's ``A``: one per output channel, or one per tensor).

    "Other parameters" are the biases, BatchNorm affine parameters, PCNN amplitudes and every
    full-precision layer (stem, classifier, ...); buffers (BatchNorm running statistics) are not
    counted, as in the ``params`` metric. Parameters and modules whose name starts with a prefix
    in ``exclude`` are skipped (e.g. ``("auxiliary",)``).
    """

    def excluded(name: str) -> bool:
        return any(name.startswith(prefix) for prefix in exclude)

    binary_weights: set[int] = set()
    bits = 0
    for name, sub in module.named_modules():
        if isinstance(sub, BinaryConv2d) and not excluded(name):
            binary_weights.add(id(sub.weight))
            bits += FLOAT_BITS * sub.scale_count
    for name, param in module.named_parameters():
        if not excluded(name):
            bits += param.numel() * (1 if id(param) in binary_weights else FLOAT_BITS)
    return bits


class BitsConstraint(Constraint):
    """Model size in bits (see :func:`model_bits`; auxiliary heads excluded). One-shot
    strategies enforce it through the space's ``bits`` cost table (the ``bnas`` space has
    one)."""

    name = "bits"
    metric = "bits"

    def measure(self, network: nn.Module, example: torch.Tensor) -> float:
        return float(model_bits(network, exclude=("auxiliary",)))
