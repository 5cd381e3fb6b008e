"""A-DARTS for nascore: the ``adarts`` space, DARTS ops factorized with activation functions."""

from nascore_adarts.activations import (
    ACTIVATIONS,
    DEFAULT_ACTIVATIONS,
    MixedActivation,
    Swish,
    make_activation,
)
from nascore_adarts.space import ADartsSpace, ADartsSpaceConfig

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_ACTIVATIONS",
    "ADartsSpace",
    "ADartsSpaceConfig",
    "MixedActivation",
    "Swish",
    "make_activation",
    "__version__",
]
