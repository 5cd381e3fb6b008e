"""Classifier heads and the feature-map bookkeeping evaluation networks share with timm.

Networks that implement ``num_features``, ``forward_features``, ``forward_head``,
``get_classifier``, ``reset_classifier`` and ``feature_info`` (as the DARTS and NAS-Bench-201
networks do) are full timm models once built through :mod:`nascore.timm`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from nascore.errors import UsageError

#: Global pooling types the networks support (``None`` keeps the current one).
GLOBAL_POOLS = (None, "avg")


def linear_classifier(num_features: int, num_classes: int) -> nn.Module:
    """A new linear classifier, or ``nn.Identity`` for ``num_classes == 0`` (features only)."""
    if num_classes < 0:
        raise UsageError(f"num_classes must be 0 (no classifier) or more, not {num_classes}")
    return nn.Linear(num_features, num_classes) if num_classes else nn.Identity()


def check_global_pool(global_pool: str | None) -> None:
    """Reject pooling types other than global average pooling."""
    if global_pool not in GLOBAL_POOLS:
        raise UsageError(
            f"global_pool {global_pool!r} is not supported; nascore networks pool by global "
            "average ('avg')"
        )


def feature_points(states: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """timm ``feature_info`` from every state of a network in execution order: the last state at
    each reduction (its ``num_chs``, ``reduction`` and ``module``)."""
    return [
        dict(state)
        for state, after in zip(states, [*states[1:], None], strict=True)
        if after is None or after["reduction"] != state["reduction"]
    ]
