"""The ``adarts`` plugin's registrations (entry point ``nascore.plugins: adarts``).

Components are imported inside the hooks, so loading the plugin stays cheap."""

from __future__ import annotations

from nascore import hookimpl

NASCORE_PLUGIN_API = 1


@hookimpl
def nascore_spaces() -> list[type]:
    from nascore_adarts.space import ADartsSpace

    return [ADartsSpace]


@hookimpl
def nascore_strategies() -> list[type]:
    from nascore_adarts.strategy import ADartsStrategy

    return [ADartsStrategy]
