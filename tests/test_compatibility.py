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


def test_cli_starts_without_importing_torch_and_fast() -> None:
    """``nas --version`` and ``nas --help`` import neither torch nor a plugin's components;
    their start-up is a small multiple of a bare interpreter's (min of 5 runs each)."""
    import os
    import subprocess
    import sys
    import time

    probe = ("import sys; from nascore.cli import entry\n"
             "try:\n    entry(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
             "print('torch' in sys.modules, 'numpy' in sys.modules, file=sys.stderr)")
    for args in (["--version"], ["--help"], ["bench", "--help"]):
        proc = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                              text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True)
        assert proc.stderr.strip().splitlines()[-1] == "False False", args

    def fastest(command: list[str]) -> float:
        times = []
        for _ in range(5):
            began = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True)
            times.append(time.perf_counter() - began)
        return min(times)

    bare = fastest([sys.executable, "-c", "pass"])
    for args in (["--version"], ["--help"]):
        ratio = fastest([sys.executable, "-m", "nascore", *args]) / bare
        assert ratio < 25, f"nas {args[0]} takes {ratio:.1f}x a bare interpreter"
