"""Settings of the EoiNAS parts (defaults: the paper's; the ``code`` preset of the strategy
switches to the authors' released code)."""

from __future__ import annotations

import attrs

from nascore.config import field, non_negative, positive


@attrs.frozen
class IndicatorConfig:
    """Settings of the importance indicator (defaults: the EoiNAS paper, Eq. 6-7)."""

    indicator_lambda: float = field(
        0.5, "lambda of the indicator I = softmax(alpha) + lambda * Ca / Ce [EoiNAS, Eq. 7]",
        validator=non_negative,
    )
    latest_accuracy: bool = field(
        False, "Ca = the latest validation batch's top-1 (the authors' code) instead of the "
        "accumulated validation accuracy (the paper's Eq. 6 as read here)",
    )
    reset_counts_after_prune: bool = field(
        False, "restart Ce after every pruning stage (the authors' code)"
    )


@attrs.frozen
class PruningConfig:
    """Settings of gradual pruning (defaults: the EoiNAS paper, Algorithm 1)."""

    prune_every: int | None = field(
        None, "epochs between pruning stages after the warm-up (None: spread the stages evenly "
        "so that one op per edge remains at the end; the paper's 20 for 160 epochs)",
        validator=positive,
    )
    drop_zero_first: bool = field(
        False, "the last pruning stage removes none where it remains (the authors' code)"
    )
