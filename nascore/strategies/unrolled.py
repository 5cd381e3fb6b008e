"""Deprecated: moved to :mod:`nascore.oneshot.unrolled`; the names of plugin API 1 still work from
here, warning."""

from nascore.deprecated import moved

__getattr__ = moved(__name__, {
    name: f"nascore.oneshot.unrolled:{name}"
    for name in ("Batch", "CheckFn", "LossFn", "detach_selections",
                 "differentiable_tensors", "unrolled_arch_gradients")
})
