"""A-DARTS for nascore: the ``adarts`` space, DARTS ops factorized with activation functions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nascore.lazy import lazy_exports

__version__ = '0.1.0'

__getattr__, __dir__ = lazy_exports(__name__, {
    "ACTIVATIONS": ".activations",
    "ADartsSpace": ".space",
    "ADartsSpaceConfig": ".space",
    "ADartsStrategy": ".strategy",
    "DEFAULT_ACTIVATIONS": ".activations",
    "MixedActivation": ".activations",
    "Swish": ".activations",
    "make_activation": ".activations",
})

__all__ = [
    "__version__",
    "ACTIVATIONS",
    "ADartsSpace",
    "ADartsSpaceConfig",
    "ADartsStrategy",
    "DEFAULT_ACTIVATIONS",
    "MixedActivation",
    "Swish",
    "make_activation",
]

if TYPE_CHECKING:
    from nascore_adarts.activations import (
        ACTIVATIONS,
        DEFAULT_ACTIVATIONS,
        MixedActivation,
        Swish,
        make_activation,
    )
    from nascore_adarts.space import ADartsSpace, ADartsSpaceConfig
    from nascore_adarts.strategy import ADartsStrategy
