"""DARTS (Liu et al., 2019): a dense softmax mixture of every candidate on every edge."""

from __future__ import annotations

import attrs

from nascore.strategies.oneshot import OneShotConfig, OneShotStrategy


@attrs.frozen
class DartsConfig(OneShotConfig):
    """DARTS search settings (first order by default; ``second_order`` unrolls)."""


class DartsStrategy(OneShotStrategy):
    """DARTS: the base one-shot loop with its default dense softmax policy."""

    name = "darts"
    config_cls = DartsConfig
