"""Subcommands of the ``nas`` CLI, one module each."""
