"""The ``nas`` command line: the group and its core commands in :mod:`.app`, the others in one
module each (``train``, ``export``, ``bench``); plugins add theirs through ``nascore_commands``."""

from nascore.cli.app import entry, main

__all__ = ["entry", "main"]
