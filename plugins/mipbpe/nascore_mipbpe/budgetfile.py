"""Budget files: a ``[budget]`` TOML table of :class:`nascore.Budget` fields under a comment
header, as ``nas bpe search`` writes the budget it found (``--budget FILE.toml``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from nascore import Budget, ConfigError, build_config
from nascore.config import config_to_dict, dump_toml, help_texts, load_toml


def budget_toml(budget: Budget, header: Sequence[str] = ()) -> str:
    """The TOML text: ``header`` lines as comments, then ``[budget]`` with every field (an unset
    ``image_size`` is a commented-out key, i.e. the dataset's size)."""
    comments = "".join(f"# {line}\n" for line in header)
    return comments + dump_toml({"budget": config_to_dict(budget)}, help_texts(Budget, "budget"))


def read_budget_file(path: str | Path) -> Budget:
    """The :class:`Budget` of a budget file (missing keys take the Budget defaults)."""
    data = load_toml(str(path))
    table = data.get("budget")
    if not isinstance(table, dict):
        raise ConfigError(f"budget file {path} has no [budget] table")
    return build_config(Budget, table, "budget")
