"""Tiny EoiNAS searches for the tests, on the core's tiny one-shot set-up
(:mod:`nascore.testing`: 4 channels, 3 cells, 96 digits, 3 steps per epoch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from nascore_eoinas import EoiNASStrategy

from nascore import SearchSpace, build_config, registry, testing

#: Strategy settings on top of the core's tiny ones: 3 epochs (warm-up 1, then 7 pruning stages
#: after epochs 2 and 3) and a one-batch validation.
TINY: dict[str, Any] = {"epochs": 3, "valid_batches": 1}


@pytest.fixture
def make_space() -> Callable[..., SearchSpace]:
    """A factory of registered spaces (default ``darts``) of 4 channels and 3 cells; skips the
    test when the space's plugin is not installed."""

    def make(name: str = "darts", **overrides: Any) -> SearchSpace:
        cls = registry().components["space"].get(name)
        if cls is None:
            pytest.skip(f"space {name!r} is not installed")
        config = build_config(cls.config_cls, {"channels": 4, "layers": 3, **overrides}, "space")
        return cls(config, testing.tiny_data().info)

    return make


@pytest.fixture
def make_strategy(make_space: Callable[..., SearchSpace]) -> Callable[..., EoiNASStrategy]:
    """A factory of tiny EoiNAS strategies: ``make_strategy(space="darts", **config)``."""

    def make(space: str | SearchSpace = "darts", **config: Any) -> EoiNASStrategy:
        built = make_space(space) if isinstance(space, str) else space
        return testing.make_strategy("eoinas", space=built, **{**TINY, **config})

    return make
