"""Deprecated: the DARTS ops moved to :mod:`nascore.spaces.darts.ops`, the generic blocks to
:mod:`nascore.nn.blocks`; every name of plugin API 1 still works from here, warning."""

from nascore.deprecated import moved

__getattr__ = moved(__name__, {
    **{name: f"nascore.nn.blocks:{name}"
       for name in ("ActFactory", "RecomputingMaxPool2d", "ReLUConvBN", "channel_shuffle",
                    "drop_path")},
    **{name: f"nascore.spaces.darts.ops:{name}"
       for name in ("DilConv", "FactorizedReduce", "OPS", "OpConstructor", "PARAMETERIZED",
                    "PRIMITIVES", "SepConv", "Zero", "supernet_op")},
})
