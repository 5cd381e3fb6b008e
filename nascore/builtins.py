"""The core's own components, registered through the same hooks as any plugin."""

from __future__ import annotations

from typing import Any

from nascore.constraint import FlopsConstraint, ParamsConstraint
from nascore.hookspecs import hookimpl
from nascore.plugins import PLUGIN_API_VERSION

NASCORE_PLUGIN_API = PLUGIN_API_VERSION


@hookimpl
def nascore_spaces() -> list[type]:
    return []


@hookimpl
def nascore_strategies() -> list[type]:
    return []


@hookimpl
def nascore_estimators() -> list[type]:
    return []


@hookimpl
def nascore_constraints() -> list[type]:
    return [ParamsConstraint, FlopsConstraint]


@hookimpl
def nascore_budgets() -> dict[str, Any]:
    return {}


@hookimpl
def nascore_architectures() -> dict[str, Any]:
    return {}
