"""Tiny A-DARTS spaces for the tests (C=4, 3 cells, 8x8 single-channel inputs, 10 classes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from nascore_adarts.space import ADartsSpace, ADartsSpaceConfig

from nascore import DataInfo, build_config

DIGITS = DataInfo(in_channels=1, image_size=8, num_classes=10)


@pytest.fixture
def make_space() -> Callable[..., ADartsSpace]:
    """A factory of ``adarts`` spaces of channels 4 and 3 layers on digits-sized data."""

    def make(**overrides: Any) -> ADartsSpace:
        config = build_config(
            ADartsSpaceConfig, {"channels": 4, "layers": 3, **overrides}, "space"
        )
        return ADartsSpace(config, DIGITS)

    return make
