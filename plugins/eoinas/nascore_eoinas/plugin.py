"""The ``eoinas`` plugin's registrations (entry point ``nascore.plugins: eoinas``).

Components are imported inside the hooks, so loading the plugin stays cheap."""

from __future__ import annotations

from typing import Any

from nascore import hookimpl
from nascore.cli.lazy import LazyCommand

NASCORE_PLUGIN_API = 1


@hookimpl
def nascore_strategies() -> list[type]:
    from nascore_eoinas.strategy import EoiNASStrategy

    return [EoiNASStrategy]


@hookimpl
def nascore_parts() -> list[type]:
    from nascore_eoinas.indicator import ImportanceIndicator
    from nascore_eoinas.pruning import GradualPruning

    return [ImportanceIndicator, GradualPruning]


#: Declared as ``nascore.commands`` entry points too, so ``nas --help`` lists them without
#: loading the plugin.
BENCH = LazyCommand("eoinas", "nascore_eoinas.bench:bench_command",
                     "EoiNAS: seconds per search step before pruning and after each stage.",
                     "bench")


@hookimpl
def nascore_commands() -> list[Any]:
    return [BENCH]
