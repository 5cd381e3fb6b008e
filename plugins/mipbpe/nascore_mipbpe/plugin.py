"""The ``mipbpe`` plugin's registrations (entry point ``nascore.plugins: mipbpe``).

Components are imported inside the hooks, so loading the plugin stays cheap."""

from __future__ import annotations

from typing import Any

from nascore import hookimpl
from nascore.cli.lazy import LazyCommand

NASCORE_PLUGIN_API = 1


@hookimpl
def nascore_budgets() -> dict[str, Any]:
    """``bpe1`` and ``bpe2`` (MIP-BPE, Table 1; see :mod:`nascore_mipbpe.presets`)."""
    from nascore_mipbpe.presets import PRESETS

    return dict(PRESETS)


#: Declared as ``nascore.commands`` entry points too, so ``nas --help`` lists them without
#: loading the plugin.
BPE = LazyCommand("bpe", "nascore_mipbpe.cli:bpe",
                  "MIP-BPE: analyse budgets for performance estimation and search them.")
BUDGETS = LazyCommand("budgets", "nascore_mipbpe.bench:bench_command",
                      "Seconds per train estimate under budget presets (MIP-BPE).", "bench")


@hookimpl
def nascore_commands() -> list[Any]:
    """``nas bpe analyze``, ``nas bpe search`` and ``nas bench budgets``."""
    return [BPE, BUDGETS]
