"""Deprecated: moved to :mod:`nascore.oneshot.edgenorm`; the names of plugin API 1 still work from
here, warning."""

from nascore.deprecated import moved

__getattr__ = moved(__name__, {
    name: f"nascore.oneshot.edgenorm:{name}"
    for name in ("edge_softmax", "node_groups")
})
