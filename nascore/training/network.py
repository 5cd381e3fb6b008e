"""Building a space's evaluation network with options it may not all understand, and its costs.

Every space with the ``network`` capability accepts ``channels``, ``layers``, ``num_classes`` and
``in_channels``. ``auxiliary`` (an auxiliary head) and ``variant`` (the ImageNet stem) are
*optional*: a space whose networks have no such thing rejects them, and they are then left out
(with a note), so one recipe trains the networks of every space.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from nascore.architecture import Architecture
from nascore.costs import count_macs, count_params
from nascore.errors import ConfigError, IncompatibleError
from nascore.space import DataInfo, SearchSpace

log = logging.getLogger("nascore")

#: Options a space may reject; they are dropped when it does.
OPTIONAL_OPTIONS = ("auxiliary", "variant")
#: Parameter-name prefix of auxiliary heads (not counted, not exported).
AUXILIARY_PREFIX = "auxiliary"


def require_network(space: SearchSpace) -> None:
    """Fail with a clear message if ``space`` cannot build discrete networks."""
    if "network" not in space.capabilities:
        raise IncompatibleError(
            f"space '{space.name}' cannot build networks (capabilities: "
            f"{', '.join(sorted(space.capabilities)) or 'none'}); it cannot be trained or exported"
        )


def build_network(
    space: SearchSpace, arch: Architecture, options: Mapping[str, Any], quiet: bool = False
) -> tuple[nn.Module, dict[str, Any]]:
    """``space.build_network(arch, **options)`` and the options it was actually built with.

    Options in :data:`OPTIONAL_OPTIONS` that the space rejects (its build fails with them and
    succeeds without them) are dropped; a note goes to stderr unless ``quiet``.
    """
    require_network(space)
    options = {k: v for k, v in options.items() if v is not None}
    try:
        return space.build_network(arch, **options), options
    except (ConfigError, TypeError) as first_error:
        core = {k: v for k, v in options.items() if k not in OPTIONAL_OPTIONS}
        if core == options:
            raise
        try:
            space.build_network(arch, **core)
        except (ConfigError, TypeError):
            raise first_error from None
    accepted = dict(core)
    for key in OPTIONAL_OPTIONS:
        if key not in options:
            continue
        try:
            space.build_network(arch, **accepted, **{key: options[key]})
        except (ConfigError, TypeError):
            if not quiet:
                log.info(f"note: space '{space.name}' networks have no option {key}; "
                         "building without it")
            continue
        accepted[key] = options[key]
    return space.build_network(arch, **accepted), accepted


def split_output(output: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(logits, auxiliary logits or None)`` of a network's forward output."""
    if isinstance(output, (tuple, list)):
        return output[0], (output[1] if len(output) > 1 else None)
    return output, None


def network_costs(
    network: nn.Module, info: DataInfo, space: SearchSpace | None = None
) -> dict[str, Any]:
    """Exact parameters (auxiliary head excluded) and multiply-adds of one image of ``info``,
    plus the :meth:`~nascore.space.SearchSpace.network_metrics` of ``space`` (the space that
    built ``network``) when given."""
    example = torch.zeros(1, info.in_channels, info.image_size, info.image_size)
    device = next(network.parameters()).device
    return {
        "params": count_params(network, exclude=(AUXILIARY_PREFIX,)),
        "macs": count_macs(network, example.to(device)),
        "input_size": [info.in_channels, info.image_size, info.image_size],
        **(space.network_metrics(network) if space is not None else {}),
    }


def describe_costs(costs: Mapping[str, Any]) -> str:
    """One line: ``1,234 params, 5,678 multiply-adds per 3x32x32 image``, then any space
    metrics (``, 40,000 bits``)."""
    c, h, w = costs["input_size"]
    extra = "".join(
        f", {value:,} {name}" for name, value in costs.items()
        if name not in ("params", "macs", "input_size")
    )
    return (f"{costs['params']:,} params, {costs['macs']:,} multiply-adds "
            f"per {c}x{h}x{w} image{extra}")
