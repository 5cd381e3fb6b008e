"""Deprecated: moved to :mod:`nascore.oneshot.schedules`; the names of plugin API 1 still work from
here, warning."""

from nascore.deprecated import moved

__getattr__ = moved(__name__, {
    name: f"nascore.oneshot.schedules:{name}"
    for name in ("TAU_SCHEDULES", "tau_schedule")
})
