"""Tiny RC-DARTS searches for the tests: the core's tiny one-shot set-up (:mod:`nascore.testing`:
96 digits images, 3 steps per epoch at batch 16) on spaces of 4 channels and 3-5 cells, with
``--constraint``-style bounds."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch

from nascore import SearchContext, SearchSpace, build_config, count_macs, count_params, registry
from nascore.events import EventLog
from nascore.oneshot import OneShotStrategy
from nascore.testing import TINY, tiny_data


def _constraints(*specs: str) -> list[Any]:
    out = []
    for spec in specs:
        name, _, bounds = spec.partition(":")
        out.append(registry().get("constraint", name).from_spec(bounds))
    return out


def _measure(space: SearchSpace, arch: Any) -> tuple[int, int]:
    network = space.build_network(arch)
    info = space.data
    example = torch.zeros(1, info.in_channels, info.image_size, info.image_size)
    return count_params(network), count_macs(network, example)


@pytest.fixture
def make_constraints() -> Callable[..., list[Any]]:
    """``make_constraints("params:..1e4", ...)``: constraints from ``NAME:LOW..HIGH`` specs."""
    return _constraints


@pytest.fixture
def measure() -> Callable[[SearchSpace, Any], tuple[int, int]]:
    """``measure(space, arch)``: parameters and multiply-adds of ``arch``'s evaluation network
    at the space's size, counted on the built modules."""
    return _measure


@pytest.fixture
def make_space() -> Callable[..., SearchSpace]:
    """A factory of registered spaces (default ``darts``) of 4 channels and 3 cells on the tiny
    digits data; skips the test when the space's plugin is not installed."""

    def make(name: str = "darts", **overrides: Any) -> SearchSpace:
        cls = registry().components["space"].get(name)
        if cls is None:
            pytest.skip(f"space {name!r} is not installed")
        config = build_config(cls.config_cls, {"channels": 4, "layers": 3, **overrides}, "space")
        return cls(config, tiny_data().info)

    return make


@pytest.fixture
def make_search() -> Callable[..., OneShotStrategy]:
    """``make_search(strategy, space, bounds, **config)``: a tiny one-shot search with the
    bounds ``bounds`` (``NAME:LOW..HIGH`` specs)."""

    def make(
        strategy: str, space: SearchSpace, bounds: Sequence[str] = (), **config: Any
    ) -> OneShotStrategy:
        cls = registry().get("strategy", strategy)
        context = SearchContext(
            space=space, seed=0, device=torch.device("cpu"), events=EventLog(None),
            data=tiny_data(), constraints=_constraints(*bounds),
        )
        return cls(cls.configure({**TINY, **config}), context)

    return make


@pytest.fixture
def nas() -> Callable[..., subprocess.CompletedProcess]:
    """``nas(*args)``: run ``python -m nascore ARGS`` in a subprocess (one thread), captured."""

    def run(*args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        return subprocess.run([sys.executable, "-m", "nascore", *args], capture_output=True,
                              text=True, env=env, timeout=600)

    return run
