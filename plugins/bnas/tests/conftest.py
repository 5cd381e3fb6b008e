"""Tiny ``bnas`` spaces and searches for the tests, on the core's tiny one-shot set-up
(:mod:`nascore.testing`: 96 digits images, 48 for weights and 48 for arch steps)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from nascore import SearchSpace, build_config, registry, testing
from nascore.oneshot import OneShotStrategy

#: A plan of 27 epochs: L = 1 (no weights-only epoch), T = 1, V = 1, K = 8:
#: 1 + (4+4+3+3+2+2+1) sampling epochs + 7 search epochs; one batch size throughout and the
#: loop's validation as the sampled accuracy.
SHORT_PLAN: dict[str, Any] = {
    "epochs": 27, "warmup_epochs": 0, "reduction_after": 1, "reduction_weights_only": 0,
    "reduction_rounds": 1, "reduction_search_epochs": 1, "valid_batches": 1,
    "reduction_batch_size": 48, "reduction_valid_images": None,
}


@pytest.fixture
def make_space() -> Callable[..., SearchSpace]:
    """A factory of registered spaces (default ``bnas``) of 4 channels and 3 cells (reduction
    cell 1 for ``bnas``); skips the test when the space's plugin is not installed."""

    def make(name: str = "bnas", **overrides: Any) -> SearchSpace:
        cls = registry().components["space"].get(name)
        if cls is None:
            pytest.skip(f"space {name!r} is not installed")
        options = {"channels": 4, "layers": 3, **({"reductions": [1]} if name == "bnas" else {})}
        config = build_config(cls.config_cls, {**options, **overrides}, "space")
        return cls(config, testing.tiny_data().info)

    return make


@pytest.fixture
def make_search(make_space: Callable[..., SearchSpace]) -> Callable[..., OneShotStrategy]:
    """A factory of tiny searches: ``make_search(strategy="bnas", space="bnas", **config)``
    with the 27-epoch :data:`SHORT_PLAN` and one step per epoch (batch 48) unless overridden."""

    def make(
        strategy: str = "bnas", space: str | SearchSpace = "bnas", **config: Any
    ) -> OneShotStrategy:
        built = make_space(space) if isinstance(space, str) else space
        return testing.make_strategy(
            strategy, space=built, **{**SHORT_PLAN, "batch_size": 48, **config}
        )

    return make
