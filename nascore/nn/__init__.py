"""Neural-network building blocks shared by search spaces: mixed edges and generic blocks."""

from nascore.nn.blocks import (
    ActFactory,
    RecomputingMaxPool2d,
    ReLUConvBN,
    cat_channels,
    channel_shuffle,
    drop_path,
)
from nascore.nn.mixed import MixedEdge, OpFactory

__all__ = [
    "ActFactory",
    "MixedEdge",
    "OpFactory",
    "RecomputingMaxPool2d",
    "ReLUConvBN",
    "cat_channels",
    "channel_shuffle",
    "drop_path",
]
