"""MIP-BPE for nascore: the BPE-1/BPE-2 budget presets, the analysis of budget tables and the
Minimum Importance Pruning search of budgets (Zheng et al., CVPR 2020)."""

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
from nascore_mipbpe.objective import LambdaRange, lambda_ranges, objective
from nascore_mipbpe.presets import BPE1, BPE2, FULL, PRESETS
from nascore_mipbpe.pruning import THRESHOLD, Fix, choose_fix
from nascore_mipbpe.ranking import spearman, spearman_per_budget
from nascore_mipbpe.sampling import (
    budget_key,
    cheapest_budget,
    cheapest_value,
    sample_budgets,
    value_probabilities,
)

__version__ = "0.1.0"

__all__ = [
    "BPE1",
    "BPE2",
    "FULL",
    "PRESETS",
    "THRESHOLD",
    "Evaluation",
    "Evaluator",
    "Fix",
    "LambdaRange",
    "MIPSettings",
    "MIPState",
    "MinimumImportancePruning",
    "__version__",
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
    "value_probabilities",
]
