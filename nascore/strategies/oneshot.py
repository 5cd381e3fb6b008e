"""Deprecated: the one-shot loop moved to :mod:`nascore.oneshot`; the names of plugin API 1
still work from here, warning."""

from nascore.deprecated import moved

__getattr__ = moved(__name__, {
    "Batch": "nascore.oneshot.loop:Batch",
    **{name: f"nascore.oneshot:{name}"
       for name in ("Hyper", "OneShotConfig", "OneShotStrategy", "StepRecord")},
})
