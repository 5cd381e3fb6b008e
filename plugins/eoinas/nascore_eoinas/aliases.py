"""Deprecated names of the plugin's first API, kept working (with a DeprecationWarning) until
plugin API :data:`nascore.deprecated.REMOVED_IN`: the strategy settings ``variant``,
``soft_sampling`` and ``reset_after_prune``, and the functions behind the old Python names."""

from __future__ import annotations

import operator

import torch

from nascore.config import Renamed


def variant_preset(variant: str | None) -> str | None:
    """The preset the deprecated ``variant`` names: ``"paper"`` is the defaults (no preset)."""
    return None if variant == "paper" else variant


#: Old ``[strategy]`` key -> its current name (``soft_sampling`` is ``hard_sampling`` inverted).
RENAMED_SETTINGS: dict[str, str | Renamed] = {
    "variant": Renamed("preset", convert=variant_preset),
    "soft_sampling": Renamed("hard_sampling", convert=operator.not_),
    "reset_after_prune": "reset_counts_after_prune",
}


def masked(mask: torch.Tensor, prunes: list[tuple[int, int, str]]) -> torch.Tensor:
    """A copy of ``mask`` with the candidates of ``prunes`` (``(edge, candidate, reason)``)
    set to ``False``: the deprecated ``nascore_eoinas.apply_prunes``. A search prunes with
    ``strategy.prune(group, edge, candidate)``, as ``GradualPruning.prune_stage`` does."""
    mask = mask.clone()
    for edge, candidate, _reason in prunes:
        mask[edge, candidate] = False
    return mask
