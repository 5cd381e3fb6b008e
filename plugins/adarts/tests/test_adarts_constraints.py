"""Resource bounds on the factorized space under the core's one-shot strategies: the derived
network (activation costs included) meets the bound, measured on the built network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nascore.costs import count_params
from nascore.plugins import make_space
from nascore.runner import resolve_config, start_run
from nascore.testing import tiny_data

#: Below the tiny unconstrained results (about 7.9k-10k parameters), above the smallest network.
BOUND = 6000
TINY = ["--channels", "4", "--layers", "3", "--epochs", "2", "--batch-size", "16",
        "--set", "data.subset=96", "--set", "strategy.valid_batches=1"]


def _measured(arch) -> int:
    space = make_space("adarts", {"channels": 4, "layers": 3}, tiny_data().info)
    return count_params(space.build_network(arch), exclude=("auxiliary",))


def test_pcdarts_on_adarts_meets_a_params_bound_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "pc"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "nascore", "run", "--strategy", "pcdarts", "--space", "adarts",
         *TINY, "--set", "strategy.warmup_epochs=0", "--constraint", f"params:..{BOUND}",
         "--out", str(out), "--quiet"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"constraint params:..{BOUND}: " in proc.stdout and "(met)" in proc.stdout
    result = json.loads((out / "result.json").read_text())
    value = result["constraints"][f"params:..{BOUND}"]["value"]
    from nascore import Architecture

    arch = Architecture.from_dict(result["architecture"])
    assert value <= BOUND and _measured(arch) == value


@pytest.mark.parametrize("strategy", ["darts", "gdas"])
def test_darts_and_gdas_on_adarts_meet_a_params_bound(strategy: str, tmp_path: Path) -> None:
    tree = resolve_config(
        strategy, "adarts", flags={"epochs": 2, "channels": 4, "layers": 3, "batch_size": 16},
        overrides=["data.subset=96", "strategy.valid_batches=1",
                   f'run.constraints=["params:..{BOUND}"]'],
    )
    _, arch = start_run(tree, tmp_path / strategy, progress=False)
    assert _measured(arch) <= BOUND
