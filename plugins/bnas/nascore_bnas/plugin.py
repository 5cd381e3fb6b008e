"""The ``bnas`` plugin's registrations (entry point ``nascore.plugins: bnas``)."""

from __future__ import annotations

from typing import Any

from nascore import hookimpl
from nascore_bnas.bits import BitsConstraint
from nascore_bnas.reduction_part import SpaceReduction
from nascore_bnas.space import BnasSpace
from nascore_bnas.strategy import BNASStrategy

NASCORE_PLUGIN_API = 1


@hookimpl
def nascore_spaces() -> list[type]:
    return [BnasSpace]


@hookimpl
def nascore_strategies() -> list[type]:
    return [BNASStrategy]


@hookimpl
def nascore_parts() -> list[type]:
    return [SpaceReduction]


@hookimpl
def nascore_constraints() -> list[type]:
    return [BitsConstraint]


@hookimpl
def nascore_commands() -> list[Any]:
    from nascore_bnas.bench import bench_command

    return [bench_command]
