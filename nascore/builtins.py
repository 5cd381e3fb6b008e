"""The core's own components, registered through the same hooks as any plugin.

Components are imported inside the hooks: the registry calls a kind's hooks only when that kind
is needed, so listing commands does not import torch.
"""

from __future__ import annotations

from typing import Any

from nascore.cli.lazy import LazyCommand
from nascore.hookspecs import hookimpl
from nascore.plugins import PLUGIN_API_VERSION

NASCORE_PLUGIN_API = PLUGIN_API_VERSION


@hookimpl
def nascore_spaces() -> list[type]:
    from nascore.spaces.darts import DartsSpace
    from nascore.spaces.nb201 import NB201Space

    return [DartsSpace, NB201Space]


@hookimpl
def nascore_strategies() -> list[type]:
    from nascore.strategies.darts import DartsStrategy
    from nascore.strategies.evolution import Evolution
    from nascore.strategies.gdas import GDASStrategy
    from nascore.strategies.pcdarts import PCDartsStrategy
    from nascore.strategies.random_search import RandomSearch
    from nascore.strategies.reinforce import Reinforce

    return [RandomSearch, Evolution, Reinforce, DartsStrategy, PCDartsStrategy, GDASStrategy]


@hookimpl
def nascore_estimators() -> list[type]:
    from nascore.estimators.nb201 import NB201Estimator
    from nascore.estimators.train import TrainEstimator

    return [NB201Estimator, TrainEstimator]


@hookimpl
def nascore_constraints() -> list[type]:
    from nascore.constraint import FlopsConstraint, ParamsConstraint
    from nascore.latency import LatencyConstraint

    return [ParamsConstraint, FlopsConstraint, LatencyConstraint]


@hookimpl
def nascore_constraint_handlers() -> list[type]:
    from nascore.oneshot import Penalty

    return [Penalty]


@hookimpl
def nascore_budgets() -> dict[str, Any]:
    from nascore.budget import PRESETS

    return dict(PRESETS)


@hookimpl
def nascore_architectures() -> dict[str, Any]:
    from nascore.spaces.darts.zoo import ZOO

    return dict(ZOO)


@hookimpl
def nascore_export_formats() -> dict[str, Any]:
    from nascore.exporters.formats import BUILTIN_FORMATS

    return dict(BUILTIN_FORMATS)


#: The core's commands besides those of :mod:`nascore.cli.app` (imported when they run).
COMMANDS = [
    LazyCommand("train", "nascore.cli.train:train_command",
                "Retrain a derived network and write a train run."),
    LazyCommand("export", "nascore.cli.export:export_command",
                "Export a trained network (timm, onnx, pt2, ...)."),
    LazyCommand("compare", "nascore.cli.compare:compare_command",
                "Strategies against random architectures of a space, one protocol."),
    LazyCommand("supernet", "nascore.cli.bench:supernet_command",
                "Seconds per search step and peak memory of one-shot strategies.", "bench"),
    LazyCommand("nb201", "nascore.cli.bench:bench_nb201_command",
                "Search quality of discrete strategies on the NAS-Bench-201 table.", "bench"),
    LazyCommand("scale", "nascore.cli.bench:scale_command",
                "Parallel candidate evaluation and data-parallel search step times.", "bench"),
    LazyCommand("latency", "nascore.cli.latency:latency_command",
                "How well latency tables predict measured network latencies.", "bench"),
]


@hookimpl
def nascore_commands() -> list[Any]:
    return list(COMMANDS)
