"""The ``eoinas`` plugin's registrations (entry point ``nascore.plugins: eoinas``)."""

from __future__ import annotations

from typing import Any

from nascore import hookimpl
from nascore_eoinas.indicator import ImportanceIndicator
from nascore_eoinas.pruning import GradualPruning
from nascore_eoinas.strategy import EoiNASStrategy

NASCORE_PLUGIN_API = 1


@hookimpl
def nascore_strategies() -> list[type]:
    return [EoiNASStrategy]


@hookimpl
def nascore_parts() -> list[type]:
    return [ImportanceIndicator, GradualPruning]


@hookimpl
def nascore_commands() -> list[Any]:
    from nascore_eoinas.bench import bench_command

    return [bench_command]
