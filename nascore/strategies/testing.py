"""Deprecated: the test helpers moved to :mod:`nascore.testing`; the names of plugin API 1 still
work from here, warning."""

from nascore.deprecated import moved

__getattr__ = moved(__name__, {
    name: f"nascore.testing:{name}"
    for name in ("TINY", "count_op_calls", "drive", "make_strategy", "tiny_data", "tiny_space")
})
