"""Tiny zero-cost set-ups: the nb201 space at 4 channels and 1 cell per stage on 96 digits
images (8x8), and proxy estimators on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from nascore_zerocost import estimators

from nascore import SearchContext, SearchSpace, build_config, registry
from nascore.events import EventLog
from nascore.spaces.nb201 import NB201Config, NB201Space
from nascore.testing import tiny_data


@pytest.fixture(autouse=True)
def fresh_cache() -> None:
    """Every test computes its scores (the cache of earlier tests would hide a change)."""
    estimators._SCORES.clear()


@pytest.fixture
def tiny_space() -> SearchSpace:
    return NB201Space(NB201Config(channels=4, cells_per_stage=1), tiny_data().info)


@pytest.fixture
def make_context(tiny_space: SearchSpace) -> Callable[..., SearchContext]:
    def make(seed: int = 0, **fields: Any) -> SearchContext:
        return SearchContext(space=tiny_space, seed=seed, device=torch.device("cpu"),
                             events=EventLog(None), data=tiny_data(), **fields)

    return make


@pytest.fixture
def make_proxy(make_context: Callable[..., SearchContext]) -> Callable[..., Any]:
    """``make_proxy(name, run_seed=0, **config)``: the registered proxy estimator on the tiny
    space."""

    def make(name: str, run_seed: int = 0, **config: Any) -> Any:
        cls = registry().get("estimator", name)
        return cls(build_config(cls.config_cls, {"batch_size": 16, **config}, "estimator"),
                   make_context(run_seed))

    return make
