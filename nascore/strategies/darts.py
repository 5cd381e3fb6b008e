"""DARTS (Liu et al., 2019): a dense softmax mixture of every candidate on every edge."""

from nascore.deprecated import Replacement, moved
from nascore.oneshot import Softmax, one_shot_strategy

DartsStrategy = one_shot_strategy(
    "darts",
    policy=Softmax,
    doc="DARTS: the one-shot loop with its dense softmax policy (first order by default; "
    "strategy.second_order=true unrolls). Defaults: Liu et al. 2019, Sec. 3.1 and A.1.1.",
)

#: The config class of plugin API 1 (now composed from the loop's, the policy's and the parts').
__getattr__ = moved(__name__, {
    "DartsConfig": Replacement(
        lambda: DartsStrategy.config_class({}),
        "nascore.strategies.darts.DartsStrategy.config_class({})",
    ),
})
