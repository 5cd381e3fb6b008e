"""Per-epoch schedules of one-shot strategies (Gumbel temperature)."""

from __future__ import annotations

TAU_SCHEDULES = ("linear", "exponential")


def tau_schedule(
    epoch: int, epochs: int, tau_max: float, tau_min: float, kind: str = "linear"
) -> float:
    """Temperature of ``epoch`` (0-based): ``tau_max`` at the first epoch, ``tau_min`` at the last.

    ``linear`` interpolates linearly (GDAS); ``exponential`` geometrically
    (``tau_max * (tau_min / tau_max) ** (epoch / (epochs - 1))``, needs ``tau_min > 0``).
    """
    progress = min(max(epoch, 0), epochs - 1) / max(epochs - 1, 1)
    if kind == "linear":
        return tau_max - (tau_max - tau_min) * progress
    if kind == "exponential":
        return tau_max * (tau_min / tau_max) ** progress
    raise ValueError(f"unknown tau schedule {kind!r}; use one of {', '.join(TAU_SCHEDULES)}")
