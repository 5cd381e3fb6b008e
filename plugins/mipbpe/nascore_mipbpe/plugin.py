"""The ``mipbpe`` plugin's registrations (entry point ``nascore.plugins: mipbpe``)."""

from __future__ import annotations

from typing import Any

from nascore import hookimpl
from nascore_mipbpe.presets import PRESETS

NASCORE_PLUGIN_API = 1


@hookimpl
def nascore_budgets() -> dict[str, Any]:
    """``bpe1`` and ``bpe2`` (MIP-BPE, Table 1; see :mod:`nascore_mipbpe.presets`)."""
    return dict(PRESETS)


@hookimpl
def nascore_commands() -> list[Any]:
    """``nas bpe analyze``, ``nas bpe search`` and ``nas bench budgets``."""
    from nascore_mipbpe.bench import bench_command
    from nascore_mipbpe.cli import bpe

    return [bpe, bench_command]
