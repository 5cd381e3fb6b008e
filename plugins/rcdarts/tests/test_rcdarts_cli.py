"""The plugin through the ``nas`` command line: its settings in ``nas config``, the reachable-range
error, and a multi-level search with a connection cell that ``nas show``, ``nas train`` and
``nas export`` handle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nascore.cli.app import main
from nascore.testing import run_cli

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
    # the paper's headline RC-DARTS (Table 3, w/ MLS+CC), each default with its source
    lines = out.stdout.splitlines()
    levels = next(line for line in lines if line.startswith("levels = "))
    connection = next(line for line in lines if line.startswith("connection_cell = "))
    assert levels.startswith("levels = 3  #") and "RC-DARTS, Table 3 w/ (MLS+CC)" in levels
    assert connection.startswith("connection_cell = true  #")
    assert "RC-DARTS, Table 3 w/ (MLS+CC)" in connection
    ablation = CliRunner().invoke(main, ["config", "--strategy", "rcdarts", "--space", "darts",
                                         "--set", "strategy.preset=wo_mls_cc"])
    assert ablation.exit_code == 0, ablation.output
    assert "\nlevels = 1  #" in ablation.stdout
    assert "\nconnection_cell = false  #" in ablation.stdout
    assert "preset wo_mls_cc" in ablation.stdout
    mine = CliRunner().invoke(main, ["config", "--strategy", "rcdarts", "--space", "darts",
                                     "--set", "strategy.preset=wo_mls_cc",
                                     "--set", "space.connection_cell=true"])
    assert "\nconnection_cell = true  #" in mine.stdout  # the user's value wins over the preset
    darts = CliRunner().invoke(main, ["config", "--strategy", "darts", "--space", "darts"])
    assert "\nconnection_cell = false  #" in darts.stdout  # other strategies keep the space's
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
    assert "(2286..39122)" in message and "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()  # refused before the run directory is made


@pytest.mark.slow
def test_multi_level_connection_cell_search_shows_trains_and_exports(nas, tmp_path: Path) -> None:
    run = tmp_path / "run"
    out = nas("run", "--strategy", "rcdarts", "--space", "darts", *TINY,  # the defaults:
              "--constraint", "params:..12000", "--out", str(run))  # 3 levels, connection
    assert out.returncode == 0, out.stderr
    arch = json.loads((run / "architecture.json").read_text())["spec"]
    assert {"normal", "normal_2", "normal_3", "reduce", "connection"} <= set(arch)
    assert "normal_3=[" in out.stdout and "connection='" in out.stdout
    assert "constraint params:..12000" in out.stdout and "(met)" in out.stdout
    code, _out, err = run_cli("show", str(run))
    assert code == 0, err
    for name in ("normal", "normal_2", "normal_3", "reduce", "connection"):
        assert (run / "plots" / f"cell_{name}.png").exists()
    code, _out, err = run_cli("train", str(run), "--epochs", "1", "--batch-size", "32",
                              "--channels", "4", "--layers", "5", "--set", "data.subset=64",
                              "--threads", "1", "--quiet")
    assert code == 0, err
    assert "\ndrop_path = 0.3  #" in (run / "train" / "config.toml").read_text()  # Sec. 4.3.1
    code, _out, err = run_cli("export", str(run), "--format", "onnx")
    assert code == 0, err
    assert (run / "train" / "model.onnx").exists()
    assert "max abs difference" in err


def test_rcdarts_runs_retrain_with_the_papers_drop_path_and_others_keep_darts() -> None:
    from nascore import registry
    from nascore.training.source import resolve_tree, tree_help

    recipe = registry().get("strategy", "rcdarts").retrain_defaults
    assert recipe["drop_path"].value == 0.3 and "Sec. 4.3.1" in recipe["drop_path"].source
    assert resolve_tree({}, "darts", recipe=recipe)["train"]["drop_path"] == 0.3
    assert "Sec. 4.3.1" in tree_help("darts", recipe)["train.drop_path"]
    # the user's value wins; the ImageNet recipe (no drop path) is not changed
    assert resolve_tree({}, "darts", overrides=["train.drop_path=0.1"],
                        recipe=recipe)["train"]["drop_path"] == 0.1
    assert resolve_tree({}, "darts", flags={"dataset": "imagefolder"},
                        recipe=recipe)["train"]["drop_path"] == 0.0
    darts = registry().get("strategy", "darts").retrain_defaults
    assert resolve_tree({}, "darts", recipe=darts)["train"]["drop_path"] == 0.2


def test_bench_reports_each_phase_two_gap_to_the_bounds_by_hand() -> None:
    from nascore_rcdarts.bench import phase_two_gaps

    spec = "params:180000..200000"
    event = {"epoch": 0, "projection": {
        "lambdas": [100.0, 0.0], "steps": [500, 0], "feasible": [False, True],
        "expected_before": [{spec: 250000.0}, {spec: 190000.0}],
        "expected_after": [{spec: 230000.0}, {spec: 190000.0}],
    }}
    first, last = phase_two_gaps([event], ["params:1.8e5..2.0e5"])
    # (250000 - 200000) / 200000 = 0.25 above before, 0.15 after 500 steps; then inside
    assert first["gap_before"] == {spec: 0.25} and first["gap_after"] == {spec: 0.15}
    assert first["lambda"] == 100.0 and first["steps"] == 500
    assert last["gap_after"] == {spec: 0.0} and last["lambda"] == 0.0
