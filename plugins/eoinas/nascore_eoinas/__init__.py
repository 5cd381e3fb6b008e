"""EoiNAS for nascore: GDAS sampling, an operation importance indicator and gradual pruning."""

from nascore_eoinas.config import IndicatorConfig, PruningConfig
from nascore_eoinas.indicator import ImportanceIndicator, OpStatistics, accuracy_ratio, importance
from nascore_eoinas.pruning import GradualPruning, Prune, choose_prunes
from nascore_eoinas.schedule import prune_epochs
from nascore_eoinas.strategy import EoiNASStrategy

__version__ = "0.1.0"

__all__ = [
    "EoiNASStrategy",
    "GradualPruning",
    "ImportanceIndicator",
    "IndicatorConfig",
    "OpStatistics",
    "Prune",
    "PruningConfig",
    "__version__",
    "accuracy_ratio",
    "choose_prunes",
    "importance",
    "prune_epochs",
]
