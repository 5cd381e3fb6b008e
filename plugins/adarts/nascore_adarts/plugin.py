"""The ``adarts`` plugin's registrations (entry point ``nascore.plugins: adarts``)."""

from __future__ import annotations

from nascore import hookimpl
from nascore_adarts.space import ADartsSpace

NASCORE_PLUGIN_API = 1


@hookimpl
def nascore_spaces() -> list[type]:
    return [ADartsSpace]
