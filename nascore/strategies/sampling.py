"""Deprecated: moved to :mod:`nascore.oneshot.sampling`; the names of plugin API 1 still work from
here, warning."""

from nascore.deprecated import moved

__getattr__ = moved(__name__, {
    name: f"nascore.oneshot.sampling:{name}"
    for name in ("MAX_RESAMPLES", "gumbel_noise", "gumbel_straight_through",
                 "masked_logits", "masked_softmax")
})
