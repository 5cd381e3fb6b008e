"""The ``rcdarts`` plugin's registrations (entry point ``nascore.plugins: rcdarts``).

Components are imported inside the hooks, so loading the plugin stays cheap."""

from __future__ import annotations

from typing import Any

from nascore import hookimpl
from nascore.cli.lazy import LazyCommand

NASCORE_PLUGIN_API = 1


@hookimpl
def nascore_strategies() -> list[type]:
    from nascore_rcdarts.strategy import RCDartsStrategy

    return [RCDartsStrategy]


@hookimpl
def nascore_constraint_handlers() -> list[type]:
    from nascore_rcdarts.projection import Projection

    return [Projection]


#: Declared as ``nascore.commands`` entry points too, so ``nas --help`` lists them without
#: loading the plugin.
BENCH = LazyCommand("rcdarts", "nascore_rcdarts.bench:bench_command",
                      "RC-DARTS: projection vs Phase I seconds, constrained searches.", "bench")


@hookimpl
def nascore_commands() -> list[Any]:
    return [BENCH]
