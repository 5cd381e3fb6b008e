"""nascore: a neural architecture search toolkit with a minimal core and plugin-provided methods.

The public API for plugins is what this module exports; see ``docs/writing-a-plugin.md``. For
users, :func:`search`, :func:`train` and :func:`export` run the whole pipeline in a few lines.

Names are imported on first use, so ``import nascore`` (and the ``nas`` command's start-up) does
not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "Architecture": "nascore.architecture",
    "Budget": "nascore.budget",
    "build_config": "nascore.config",
    "field": "nascore.config",
    "Constraint": "nascore.constraint",
    "SearchContext": "nascore.context",
    "CostTable": "nascore.costs",
    "count_macs": "nascore.costs",
    "count_params": "nascore.costs",
    "CheckpointError": "nascore.errors",
    "ConfigError": "nascore.errors",
    "DataError": "nascore.errors",
    "IncompatibleError": "nascore.errors",
    "InfeasibleError": "nascore.errors",
    "MalformedArchitecture": "nascore.errors",
    "NascoreError": "nascore.errors",
    "NonFiniteLossError": "nascore.errors",
    "UsageError": "nascore.errors",
    "Estimate": "nascore.estimator",
    "Estimator": "nascore.estimator",
    "Exporter": "nascore.exporters.formats",
    "ExportReport": "nascore.exporters.formats",
    "hookimpl": "nascore.hookspecs",
    "PLUGIN_API_VERSION": "nascore.plugins",
    "registry": "nascore.plugins",
    "DataInfo": "nascore.space",
    "Decision": "nascore.space",
    "DecisionGroup": "nascore.space",
    "EdgeWeights": "nascore.space",
    "SearchSpace": "nascore.space",
    "Selection": "nascore.space",
    "Supernet": "nascore.space",
    "SupernetOptions": "nascore.space",
    "space_from": "nascore.model_space",
    "Strategy": "nascore.strategy",
    "search": "nascore.api",
    "train": "nascore.api",
    "export": "nascore.api",
    "SearchResult": "nascore.api",
    "TrainResult": "nascore.api",
}

__all__ = [
    "__version__",
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
    "PLUGIN_API_VERSION",
    "SearchContext",
    "SearchResult",
    "SearchSpace",
    "Selection",
    "Strategy",
    "Supernet",
    "SupernetOptions",
    "TrainResult",
    "UsageError",
    "build_config",
    "count_macs",
    "count_params",
    "export",
    "field",
    "hookimpl",
    "registry",
    "search",
    "space_from",
    "train",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'nascore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:  # the names above, for type checkers and editors
    from nascore.api import SearchResult, TrainResult, export, search, train
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
    from nascore.exporters.formats import Exporter, ExportReport
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
