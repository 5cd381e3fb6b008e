"""nascore: a neural architecture search toolkit with a minimal core and plugin-provided methods.

The public API for plugins is what this module exports; see ``docs/writing-a-plugin.md``.
"""

from nascore.architecture import Architecture
from nascore.budget import Budget
from nascore.config import build_config, field
from nascore.constraint import Constraint
from nascore.context import SearchContext
from nascore.costs import CostTable, count_macs, count_params
from nascore.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    IncompatibleError,
    InfeasibleError,
    MalformedArchitecture,
    NascoreError,
    NonFiniteLossError,
    UsageError,
)
from nascore.estimator import Estimate, Estimator
from nascore.export.formats import Exporter, ExportReport
from nascore.hookspecs import hookimpl
from nascore.plugins import PLUGIN_API_VERSION, registry
from nascore.space import (
    DataInfo,
    Decision,
    DecisionGroup,
    EdgeWeights,
    SearchSpace,
    Selection,
    Supernet,
    SupernetOptions,
)
from nascore.strategy import Strategy

__version__ = "0.1.0"

__all__ = [
    "PLUGIN_API_VERSION",
    "Architecture",
    "Budget",
    "CheckpointError",
    "ConfigError",
    "Constraint",
    "CostTable",
    "DataError",
    "DataInfo",
    "Decision",
    "DecisionGroup",
    "EdgeWeights",
    "Estimate",
    "Estimator",
    "ExportReport",
    "Exporter",
    "IncompatibleError",
    "InfeasibleError",
    "MalformedArchitecture",
    "NascoreError",
    "NonFiniteLossError",
    "SearchContext",
    "SearchSpace",
    "Selection",
    "Strategy",
    "Supernet",
    "SupernetOptions",
    "UsageError",
    "__version__",
    "build_config",
    "count_macs",
    "count_params",
    "field",
    "hookimpl",
    "registry",
]
