"""``python -m nascore`` is the ``nas`` command."""

from nascore.cli import entry

entry()
