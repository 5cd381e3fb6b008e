"""Public names that moved since plugin API 1 keep working from their old place, warning."""

from __future__ import annotations

import importlib
import re
import warnings

import pytest
import torch
from torch import nn

from nascore.deprecated import Replacement, resolve

#: Every module that kept aliases for moved names.
MODULES = (
    "nascore.nn", "nascore.nn.ops", "nascore.nn.conv", "nascore.strategies.oneshot",
    "nascore.strategies.unrolled", "nascore.strategies.sampling", "nascore.strategies.schedules",
    "nascore.strategies.edgenorm", "nascore.strategies.testing", "nascore.strategies.darts",
    "nascore.strategies.gdas", "nascore.strategies.pcdarts",
)

ALIASES = [
    (module, name, target)
    for module in MODULES
    for name, target in importlib.import_module(module).__getattr__.moved_names.items()
]


@pytest.mark.parametrize(("module", "name", "target"), ALIASES,
                         ids=[f"{m}.{n}" for m, n, _ in ALIASES])
def test_old_name_warns_and_gives_the_new_object(module: str, name: str, target: object) -> None:
    where = target.where if isinstance(target, Replacement) else target.replace(":", ".")
    message = re.escape(f"{module}.{name} is deprecated: use {where} instead")
    with pytest.warns(DeprecationWarning, match=message):
        value = getattr(importlib.import_module(module), name)
    expected = target.get() if isinstance(target, Replacement) else resolve(target)
    assert value is expected


def test_api1_imports_work() -> None:
    with pytest.warns(DeprecationWarning, match="nascore.spaces.darts.ops.SepConv"):
        from nascore.nn import SepConv
    from nascore.spaces.darts.ops import SepConv as new

    assert SepConv is new
    with pytest.raises(ImportError):
        from nascore.nn import NoSuchName  # noqa: F401


def test_current_names_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        from nascore.nn import MixedEdge  # noqa: F401
        from nascore.strategies.darts import DartsStrategy  # noqa: F401


def test_config_alias_has_the_strategy_defaults() -> None:
    with pytest.warns(DeprecationWarning):
        from nascore.strategies.pcdarts import PCDartsConfig
    assert PCDartsConfig().partial_channels == 4 and PCDartsConfig().edge_normalization


def test_old_separable_functions_compute_the_same() -> None:
    torch.manual_seed(0)
    depthwise, pointwise = nn.Conv2d(4, 4, 3, padding=1, groups=4, bias=False), nn.Conv2d(4, 6, 1)
    norm, x = nn.BatchNorm2d(4), torch.randn(2, 4, 8, 8)
    with pytest.warns(DeprecationWarning):
        from nascore.nn.conv import norm_relu_separable, separable_conv
    assert torch.equal(separable_conv(x, depthwise, pointwise), pointwise(depthwise(x)))
    norm.eval()
    expected = pointwise(depthwise(torch.relu(norm(x))))
    assert torch.equal(norm_relu_separable(x, norm, nn.ReLU(), depthwise, pointwise), expected)
