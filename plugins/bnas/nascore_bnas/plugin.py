"""The ``bnas`` plugin's registrations (entry point ``nascore.plugins: bnas``)."""

from __future__ import annotations

from nascore import hookimpl
from nascore_bnas.bits import BitsConstraint

NASCORE_PLUGIN_API = 1


@hookimpl
def nascore_constraints() -> list[type]:
    return [BitsConstraint]
