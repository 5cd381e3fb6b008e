"""The fit between strategy, space and estimator is checked before any training."""

from __future__ import annotations

import pytest

from nascore.errors import IncompatibleError
from nascore.plugins import registry
from nascore.runner import check_compatible
from nascore.space import SearchSpace


class TableOnlySpace(SearchSpace):
    """A space that can only sample (no supernet, no networks)."""

    name = "table-only"
    capabilities = frozenset({"sample", "encode"})


def test_one_shot_strategy_on_a_space_without_supernet_names_both() -> None:
    gdas = registry().get("strategy", "gdas")
    with pytest.raises(IncompatibleError, match=r"strategy 'gdas' needs a space with supernet, "
                                                r"but space 'table-only' provides only encode"):
        check_compatible(gdas, TableOnlySpace, None)


def test_estimator_needing_networks_is_refused_on_such_a_space() -> None:
    reg = registry()
    with pytest.raises(IncompatibleError, match="estimator 'train' needs a space with network"):
        check_compatible(
            reg.get("strategy", "random"), TableOnlySpace, reg.get("estimator", "train")
        )


def test_built_in_pairs_fit() -> None:
    reg = registry()
    for strategy in ("darts", "pcdarts", "gdas"):
        for space in ("darts", "nb201"):
            check_compatible(reg.get("strategy", strategy), reg.get("space", space), None)
    check_compatible(reg.get("strategy", "evolution"), reg.get("space", "darts"),
                     reg.get("estimator", "train"))
