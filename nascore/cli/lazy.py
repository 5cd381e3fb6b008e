"""Commands that cost nothing until they run (so ``nas --version`` and ``nas --help`` stay fast).

A plugin declares its commands as entry points of the group ``nascore.commands``, each naming a
click command or a :class:`LazyCommand` in a module that imports little (its ``plugin`` module,
say)::

    [project.entry-points."nascore.commands"]
    bpe = "nascore_mipbpe.plugin:BPE"

``nas --help`` lists them by loading only those entry points, never the plugins' modules behind
``nascore.plugins``. A ``LazyCommand("name", "package.module:command", "one line of help",
group="bench")`` imports its module only when the command is invoked or asked for its own
``--help``. Commands that plugins return only from the ``nascore_commands`` hook (plugin API 1)
still run: :class:`PluginGroup` loads the plugins when it is asked for a name it does not know.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import sys
from functools import cache, cached_property
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


def _slot(command: Any) -> str | None:
    return getattr(command, "nascore_group", None)


@cache
def declared_commands() -> dict[tuple[str | None, str], click.Command]:
    """``(group, name) -> command`` for the core's commands and every ``nascore.commands`` entry
    point (group ``"bench"`` or ``None`` for top level). An entry point that fails to load is
    reported on stderr and skipped; of two with one name the first is kept."""
    from nascore.builtins import COMMANDS
    from nascore.plugins import COMMAND_ENTRY_POINT_GROUP

    found = {(_slot(command), command.name): command for command in COMMANDS}
    for ep in sorted(md.entry_points(group=COMMAND_ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            command = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a broken plugin (even sys.exit()) must not stop nas
            line = f"{type(exc).__name__}: {exc}".strip().rstrip(":").splitlines()[0]
            print(f"nas: skipped plugin command {ep.name} ({ep.value}): {line}", file=sys.stderr)
            continue
        key = (_slot(command), ep.name)
        if key not in found:
            found[key] = command
    return found


def _hooked(slot: str | None) -> dict[str, click.Command]:
    """Commands the plugins' ``nascore_commands`` hooks return (loads every plugin)."""
    from nascore.plugins import registry

    return {name: command for name, command in registry().components["command"].items()
            if _slot(command) == slot}


class PluginGroup(click.Group):
    """A click group that adds the declared commands of its ``slot`` (``None``: ``nas`` itself,
    ``"bench"``: ``nas bench``) when asked, and the plugins' hook commands only for a name it
    does not know otherwise."""

    def __init__(self, *args: Any, slot: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slot = slot

    def _declared(self) -> dict[str, click.Command]:
        return {name: command for (slot, name), command in declared_commands().items()
                if slot == self.slot}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self._declared()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = self.commands.get(cmd_name) or self._declared().get(cmd_name)
        return command or _hooked(self.slot).get(cmd_name)
