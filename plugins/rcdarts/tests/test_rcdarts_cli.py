"""The plugin through the ``nas`` command line: its settings in ``nas config``, the reachable-range
error, and a multi-level search with a connection cell that ``nas show``, ``nas train`` and
``nas export`` handle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nascore.cli.app import main

TINY = ["--channels", "4", "--layers", "5", "--epochs", "1", "--batch-size", "32",
        "--set", "data.subset=128", "--quiet"]
HANDLER_FIELDS = ("phase1_steps = 150", "projection_steps = 500", "projection_lr = 0.0003",
                  "lambda_start = 100.0", "lambda_decay = 0.9", "warm_start_steps")


def test_config_prints_the_handler_settings_with_their_help() -> None:
    out = CliRunner().invoke(main, ["config", "--strategy", "rcdarts", "--space", "darts"])
    assert out.exit_code == 0, out.output
    assert 'constraint_handler = "projection"' in out.stdout
    assert "arch_step_first = false" in out.stdout and "epochs = 50" in out.stdout
    for text in HANDLER_FIELDS:
        line = next(line for line in out.stdout.splitlines() if text in line)
        assert "#" in line  # with help
    assert "connection_cell = false" in out.stdout
    other = CliRunner().invoke(main, ["config", "--strategy", "pcdarts", "--space", "adarts",
                                      "--set", "strategy.constraint_handler=projection"])
    assert other.exit_code == 0, other.output
    assert all(text in other.stdout for text in HANDLER_FIELDS)


def test_bounds_outside_the_reachable_range_are_a_one_line_error(nas, tmp_path: Path) -> None:
    out = nas("run", "--strategy", "rcdarts", "--space", "darts", *TINY,
              "--constraint", "params:..1000", "--out", str(tmp_path / "r"))
    assert out.returncode != 0
    message = out.stderr.strip().splitlines()[-1]
    assert message.startswith("error: constraint params:..1000 is outside what space darts")
    assert "(4254..37214)" in message and "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()  # refused before the run directory is made


@pytest.mark.slow
def test_multi_level_connection_cell_search_shows_trains_and_exports(nas, tmp_path: Path) -> None:
    run = tmp_path / "run"
    out = nas("run", "--strategy", "rcdarts", "--space", "darts", *TINY,
              "--set", "strategy.levels=3", "--set", "space.connection_cell=true",
              "--constraint", "params:..12000", "--out", str(run))
    assert out.returncode == 0, out.stderr
    arch = json.loads((run / "architecture.json").read_text())["spec"]
    assert {"normal", "normal_2", "normal_3", "reduce", "connection"} <= set(arch)
    assert "normal_3=[" in out.stdout and "connection='" in out.stdout
    assert "constraint params:..12000" in out.stdout and "(met)" in out.stdout
    shown = nas("show", str(run))
    assert shown.returncode == 0, shown.stderr
    for name in ("normal", "normal_2", "normal_3", "reduce", "connection"):
        assert (run / "plots" / f"cell_{name}.png").exists()
    trained = nas("train", str(run), "--epochs", "1", "--batch-size", "32", "--channels", "8",
                  "--layers", "8", "--set", "data.subset=64", "--quiet")
    assert trained.returncode == 0, trained.stderr
    exported = nas("export", str(run), "--format", "onnx")
    assert exported.returncode == 0, exported.stderr
    assert (run / "train" / "model.onnx").exists()
    assert "max abs difference" in exported.stderr
