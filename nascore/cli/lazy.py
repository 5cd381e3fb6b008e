"""Commands that import their module only when they run (so ``nas --help`` stays fast).

A plugin's ``nascore_commands`` hook may return ``LazyCommand("name", "package.module:command",
"one line of help", group="bench")`` instead of the click command itself; ``nas --help`` lists it
from the help line, and the module is imported when the command is invoked or asked for its own
``--help``.
"""

from __future__ import annotations

import importlib
from functools import cached_property
from typing import Any

import click


class LazyCommand(click.Command):
    """A click command standing in for ``target`` (``"module:attribute"``)."""

    def __init__(self, name: str, target: str, help: str, group: str | None = None) -> None:
        super().__init__(name, help=help, short_help=help)
        self.target = target
        #: ``"bench"`` puts the command under ``nas bench``.
        self.nascore_group = group

    @cached_property
    def real(self) -> click.Command:
        """The command itself (imported on first use)."""
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def make_context(self, info_name: str | None, args: list[str],
                     parent: click.Context | None = None, **extra: Any) -> click.Context:
        return self.real.make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        return self.real.invoke(ctx)
