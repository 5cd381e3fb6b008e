"""The ``bnas`` plugin's registrations (entry point ``nascore.plugins: bnas``).

Components are imported inside the hooks, so loading the plugin stays cheap."""

from __future__ import annotations

from typing import Any

from nascore import hookimpl
from nascore.cli.lazy import LazyCommand

NASCORE_PLUGIN_API = 1


@hookimpl
def nascore_spaces() -> list[type]:
    from nascore_bnas.space import BnasSpace

    return [BnasSpace]


@hookimpl
def nascore_strategies() -> list[type]:
    from nascore_bnas.strategy import BNASStrategy

    return [BNASStrategy]


@hookimpl
def nascore_parts() -> list[type]:
    from nascore_bnas.reduction_part import SpaceReduction

    return [SpaceReduction]


@hookimpl
def nascore_constraints() -> list[type]:
    from nascore_bnas.bits import BitsConstraint

    return [BitsConstraint]


#: Declared as ``nascore.commands`` entry points too, so ``nas --help`` lists them without
#: loading the plugin.
BENCH = LazyCommand("bnas", "nascore_bnas.bench:bench_command",
                    "BNAS: bits vs float twins, search step time as K shrinks.", "bench")


@hookimpl
def nascore_commands() -> list[Any]:
    return [BENCH]
