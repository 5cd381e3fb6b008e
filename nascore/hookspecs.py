"""The plugin contract: pluggy hook specifications.

A plugin is a module exposed through the ``nascore.plugins`` entry-point group. It sets
``NASCORE_PLUGIN_API`` to the plugin API version it was written for and implements any of the hooks
below with :data:`nascore.hookimpl`. Each hook returns a list (or dict) of what the plugin provides;
the core's built-ins register through the same hooks.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "nascore"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def nascore_spaces() -> list[type]:
    """SearchSpace subclasses this plugin provides."""


@hookspec
def nascore_strategies() -> list[type]:
    """Strategy subclasses this plugin provides."""


@hookspec
def nascore_estimators() -> list[type]:
    """Estimator subclasses this plugin provides."""


@hookspec
def nascore_constraints() -> list[type]:
    """Constraint subclasses this plugin provides."""


@hookspec
def nascore_parts() -> list[type]:
    """One-shot :class:`nascore.oneshot.Part` subclasses (added with ``strategy.parts``)."""


@hookspec
def nascore_constraint_handlers() -> list[type]:
    """:class:`nascore.oneshot.ConstraintHandler` subclasses (``strategy.constraint_handler``)."""


@hookspec
def nascore_budgets() -> dict[str, Any]:
    """Named :class:`nascore.budget.Budget` presets."""


@hookspec
def nascore_architectures() -> dict[str, Any]:
    """Named published architectures (:class:`nascore.architecture.Architecture`)."""


@hookspec
def nascore_export_formats() -> dict[str, Any]:
    """``nas export --format`` choices: name -> :class:`nascore.exporters.formats.Exporter`."""


@hookspec
def nascore_commands() -> list[Any]:
    """Extra ``click`` commands added to the ``nas`` CLI."""
