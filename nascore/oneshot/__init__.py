"""One-shot search from parts: the step loop, architecture parameters, sampling policies, parts
and constraint handlers. A strategy is a short declaration::

    GDASStrategy = one_shot_strategy("gdas", policy=Gumbel, defaults={...})
    EoiNASStrategy = one_shot_strategy(
        "eoinas", policy=Gumbel, parts=(ImportanceIndicator, GradualPruning), defaults={...}
    )
"""

from nascore.config import Default
from nascore.oneshot.constraints import (
    ConstraintCosts,
    ConstraintHandler,
    Penalty,
    feasible_scores,
    reachable_range,
)
from nascore.oneshot.edgenorm import EdgeNormalization
from nascore.oneshot.loop import (
    Hyper,
    OneShotConfig,
    OneShotStrategy,
    one_shot_strategy,
    scaled_warmup,
)
from nascore.oneshot.params import AdamSettings, ArchParameters
from nascore.oneshot.part import Part, StepRecord
from nascore.oneshot.policy import Gumbel, GumbelConfig, SamplingPolicy, Softmax

__all__ = [
    "AdamSettings",
    "ArchParameters",
    "ConstraintCosts",
    "ConstraintHandler",
    "Default",
    "EdgeNormalization",
    "Gumbel",
    "GumbelConfig",
    "Hyper",
    "OneShotConfig",
    "OneShotStrategy",
    "Part",
    "Penalty",
    "SamplingPolicy",
    "Softmax",
    "StepRecord",
    "feasible_scores",
    "one_shot_strategy",
    "reachable_range",
    "scaled_warmup",
]
