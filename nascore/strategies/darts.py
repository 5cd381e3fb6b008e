"""DARTS (Liu et al., 2019): a dense softmax mixture of every candidate on every edge."""

from nascore.oneshot import Softmax, one_shot_strategy

DartsStrategy = one_shot_strategy(
    "darts",
    policy=Softmax,
    doc="DARTS: the one-shot loop with its dense softmax policy (first order by default; "
    "strategy.second_order=true unrolls). Defaults: Liu et al. 2019, Sec. 3.1 and A.1.1.",
)
