"""The NAS-Bench-201 search space (``nb201``)."""

from nascore.spaces.nb201.space import NB201Config, NB201Space

__all__ = ["NB201Config", "NB201Space"]
