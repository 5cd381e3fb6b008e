"""MIP-BPE for nascore: the BPE-1/BPE-2 budget presets, the analysis of budget tables and the
Minimum Importance Pruning search of budgets (Zheng et al., CVPR 2020)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nascore.lazy import lazy_exports

__version__ = '0.1.0'

__getattr__, __dir__ = lazy_exports(__name__, {
    "BPE1": ".presets",
    "BPE2": ".presets",
    "Evaluation": ".mip",
    "Evaluator": ".mip",
    "FULL": ".presets",
    "Fix": ".pruning",
    "LambdaRange": ".budget_objective",
    "MIPSettings": ".mip",
    "MIPState": ".mip",
    "MinimumImportancePruning": ".mip",
    "PRESETS": ".presets",
    "THRESHOLD": ".pruning",
    "budget_key": ".sampling",
    "cheapest_budget": ".sampling",
    "cheapest_value": ".sampling",
    "choose_fix": ".pruning",
    "fit_forest": ".importance",
    "forest_importances": ".importance",
    "hyperparameter_importances": ".importance",
    "lambda_ranges": ".budget_objective",
    "objective": ".budget_objective",
    "sample_budgets": ".sampling",
    "spearman": ".ranking",
    "spearman_per_budget": ".ranking",
    "split_importances": ".importance",
    "time_per_cost": ".sampling",
    "value_probabilities": ".sampling",
})

__all__ = [
    "__version__",
    "BPE1",
    "BPE2",
    "Evaluation",
    "Evaluator",
    "FULL",
    "Fix",
    "LambdaRange",
    "MIPSettings",
    "MIPState",
    "MinimumImportancePruning",
    "PRESETS",
    "THRESHOLD",
    "budget_key",
    "cheapest_budget",
    "cheapest_value",
    "choose_fix",
    "fit_forest",
    "forest_importances",
    "hyperparameter_importances",
    "lambda_ranges",
    "objective",
    "sample_budgets",
    "spearman",
    "spearman_per_budget",
    "split_importances",
    "time_per_cost",
    "value_probabilities",
]

if TYPE_CHECKING:
    from nascore_mipbpe.budget_objective import LambdaRange, lambda_ranges, objective
    from nascore_mipbpe.importance import (
        fit_forest,
        forest_importances,
        hyperparameter_importances,
        split_importances,
    )
    from nascore_mipbpe.mip import (
        Evaluation,
        Evaluator,
        MinimumImportancePruning,
        MIPSettings,
        MIPState,
    )
    from nascore_mipbpe.presets import BPE1, BPE2, FULL, PRESETS
    from nascore_mipbpe.pruning import THRESHOLD, Fix, choose_fix
    from nascore_mipbpe.ranking import spearman, spearman_per_budget
    from nascore_mipbpe.sampling import (
        budget_key,
        cheapest_budget,
        cheapest_value,
        sample_budgets,
        time_per_cost,
        value_probabilities,
    )
