"""EoiNAS for nascore: GDAS sampling, an operation importance indicator and gradual pruning."""

from nascore_eoinas.config import Behaviour, EoiNASConfig
from nascore_eoinas.indicator import OpStatistics, accuracy_ratio, importance
from nascore_eoinas.pruning import Prune, apply_prunes, choose_prunes
from nascore_eoinas.schedule import prune_epochs, scaled_warmup
from nascore_eoinas.strategy import EoiNASStrategy

__version__ = "0.1.0"

__all__ = [
    "Behaviour",
    "EoiNASConfig",
    "EoiNASStrategy",
    "OpStatistics",
    "Prune",
    "__version__",
    "accuracy_ratio",
    "apply_prunes",
    "choose_prunes",
    "importance",
    "prune_epochs",
    "scaled_warmup",
]
