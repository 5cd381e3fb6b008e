"""The ``rcdarts`` plugin's registrations (entry point ``nascore.plugins: rcdarts``)."""

from __future__ import annotations

from typing import Any

from nascore import hookimpl
from nascore_rcdarts.projection import Projection
from nascore_rcdarts.strategy import RCDartsStrategy

NASCORE_PLUGIN_API = 1


@hookimpl
def nascore_strategies() -> list[type]:
    return [RCDartsStrategy]


@hookimpl
def nascore_constraint_handlers() -> list[type]:
    return [Projection]


@hookimpl
def nascore_commands() -> list[Any]:
    from nascore_rcdarts.bench import bench_command

    return [bench_command]
