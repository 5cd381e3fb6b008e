"""Neural-network building blocks shared by search spaces: mixed edges and generic blocks."""

from nascore.deprecated import moved
from nascore.nn.blocks import (
    ActFactory,
    RecomputingMaxPool2d,
    ReLUConvBN,
    cat_channels,
    channel_shuffle,
    drop_path,
)
from nascore.nn.choices import (
    InputChoice,
    LayerChoice,
    Repeat,
    ValueBatchNorm2d,
    ValueChoice,
    ValueConv2d,
    ValueLinear,
)
from nascore.nn.mixed import MixedEdge, OpFactory

__all__ = [
    "ActFactory",
    "InputChoice",
    "LayerChoice",
    "MixedEdge",
    "OpFactory",
    "RecomputingMaxPool2d",
    "ReLUConvBN",
    "Repeat",
    "ValueBatchNorm2d",
    "ValueChoice",
    "ValueConv2d",
    "ValueLinear",
    "cat_channels",
    "channel_shuffle",
    "drop_path",
]

#: Names the DARTS space took over (plugin API 1 imported them from here).
__getattr__ = moved(__name__, {
    name: f"nascore.spaces.darts.ops:{name}"
    for name in ("DilConv", "FactorizedReduce", "OPS", "PARAMETERIZED", "PRIMITIVES", "SepConv",
                 "Zero", "supernet_op")
})
