"""Neural-network building blocks shared by the search spaces: DARTS ops and mixed edges."""

from nascore.nn.mixed import MixedEdge, OpFactory
from nascore.nn.ops import (
    OPS,
    PARAMETERIZED,
    PRIMITIVES,
    ActFactory,
    DilConv,
    FactorizedReduce,
    RecomputingMaxPool2d,
    ReLUConvBN,
    SepConv,
    Zero,
    channel_shuffle,
    drop_path,
    supernet_op,
)

__all__ = [
    "OPS",
    "PARAMETERIZED",
    "PRIMITIVES",
    "ActFactory",
    "DilConv",
    "FactorizedReduce",
    "MixedEdge",
    "OpFactory",
    "RecomputingMaxPool2d",
    "ReLUConvBN",
    "SepConv",
    "Zero",
    "channel_shuffle",
    "drop_path",
    "supernet_op",
]
