"""The core's own components, registered through the same hooks as any plugin."""

from __future__ import annotations

from typing import Any

from nascore.budget import PRESETS
from nascore.constraint import FlopsConstraint, ParamsConstraint
from nascore.estimators.nb201 import NB201Estimator
from nascore.estimators.train import TrainEstimator
from nascore.export.formats import BUILTIN_FORMATS
from nascore.hookspecs import hookimpl
from nascore.oneshot import Penalty
from nascore.plugins import PLUGIN_API_VERSION
from nascore.spaces.darts import DartsSpace
from nascore.spaces.darts.zoo import ZOO
from nascore.spaces.nb201 import NB201Space
from nascore.strategies.darts import DartsStrategy
from nascore.strategies.evolution import Evolution
from nascore.strategies.gdas import GDASStrategy
from nascore.strategies.pcdarts import PCDartsStrategy
from nascore.strategies.random_search import RandomSearch
from nascore.strategies.reinforce import Reinforce

NASCORE_PLUGIN_API = PLUGIN_API_VERSION


@hookimpl
def nascore_spaces() -> list[type]:
    return [DartsSpace, NB201Space]


@hookimpl
def nascore_strategies() -> list[type]:
    return [RandomSearch, Evolution, Reinforce, DartsStrategy, PCDartsStrategy, GDASStrategy]


@hookimpl
def nascore_estimators() -> list[type]:
    return [NB201Estimator, TrainEstimator]


@hookimpl
def nascore_constraints() -> list[type]:
    return [ParamsConstraint, FlopsConstraint]


@hookimpl
def nascore_constraint_handlers() -> list[type]:
    return [Penalty]


@hookimpl
def nascore_budgets() -> dict[str, Any]:
    return dict(PRESETS)


@hookimpl
def nascore_architectures() -> dict[str, Any]:
    return dict(ZOO)


@hookimpl
def nascore_export_formats() -> dict[str, Any]:
    return dict(BUILTIN_FORMATS)
