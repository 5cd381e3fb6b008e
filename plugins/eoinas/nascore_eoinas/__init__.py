"""EoiNAS for nascore: GDAS sampling, an operation importance indicator and gradual pruning."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nascore.deprecated import Replacement, moved
from nascore.lazy import lazy_exports

__version__ = '0.1.0'

_exported, __dir__ = lazy_exports(__name__, {
    "EoiNASStrategy": ".strategy",
    "GradualPruning": ".pruning",
    "ImportanceIndicator": ".indicator",
    "IndicatorConfig": ".config",
    "OpStatistics": ".indicator",
    "Prune": ".pruning",
    "PruningConfig": ".config",
    "accuracy_ratio": ".indicator",
    "choose_prunes": ".pruning",
    "importance": ".indicator",
    "prune_epochs": ".schedule",
})


def _config_class() -> type:
    from nascore_eoinas.strategy import EoiNASStrategy

    return EoiNASStrategy.config_class({})


#: Names of the plugin's first API that moved (deprecated aliases, with a warning).
__getattr__ = moved(__name__, {
    "EoiNASConfig": Replacement(_config_class, "nascore_eoinas.EoiNASStrategy.config_class({})"),
    "scaled_warmup": "nascore.oneshot:scaled_warmup",
    "apply_prunes": "nascore_eoinas.aliases:masked",
}, fallback=_exported)

__all__ = [
    "__version__",
    "EoiNASStrategy",
    "GradualPruning",
    "ImportanceIndicator",
    "IndicatorConfig",
    "OpStatistics",
    "Prune",
    "PruningConfig",
    "accuracy_ratio",
    "choose_prunes",
    "importance",
    "prune_epochs",
]

if TYPE_CHECKING:
    from nascore_eoinas.config import IndicatorConfig, PruningConfig
    from nascore_eoinas.indicator import (
        ImportanceIndicator,
        OpStatistics,
        accuracy_ratio,
        importance,
    )
    from nascore_eoinas.pruning import GradualPruning, Prune, choose_prunes
    from nascore_eoinas.schedule import prune_epochs
    from nascore_eoinas.strategy import EoiNASStrategy
