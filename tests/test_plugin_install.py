"""A real third-party distribution (the guide's example, one component of every kind) is
discovered through its entry point and runs together with the built-ins."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).parents[1] / "docs" / "writing-a-plugin.md"

@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, install_plugin) -> Path:
    """A folder with the guide's plugin and a broken plugin installed as distributions."""
    root = tmp_path_factory.mktemp("plugins")
    text = GUIDE.read_text().split("## A complete plugin", 1)[1]
    files = re.findall(r"^`([\w./]+)`[^\n]*:\n\n```\w+\n(.*?)```", text, re.S | re.M)
    assert [name for name, _ in files] == ["pyproject.toml", "nas_plugin_example/__init__.py",
                                           "nas_plugin_example/components.py"]
    good = root / "example"
    for name, code in files:
        (good / name).parent.mkdir(parents=True, exist_ok=True)
        (good / name).write_text(code)
    broken = root / "broken"
    broken.mkdir()
    target = root / "site"
    install_plugin(good, target)
    install_plugin(broken, target, "broken", "import a_module_that_does_not_exist\n")
    return target


def test_guide_plugin_is_lazy_listed_and_broken_plugin_reported(site: Path, nas) -> None:
    probe = "import sys, nas_plugin_example; print('torch' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(site)}, check=True)
    assert loaded.stdout == "False\n"  # the entry point's module imports no torch
    proc = nas("plugins", env_extra={"PYTHONPATH": str(site)}, check=True)
    assert "example  (nas-plugin-example 0.1.0" in proc.stdout
    listed = proc.stdout.split("example  (", 1)[1].split("\n\n")[0]
    for line in ("constraint: cpu_latency", "constraint_handler: squared", "estimator: gradnorm",
                 "part: entropy", "space: chain", "strategy: hillclimb"):
        assert line in listed, line
    assert "broken  (nas-plugin-broken 0.0.1" in proc.stdout
    assert "FAILED TO LOAD: ModuleNotFoundError" in proc.stdout
    assert "strategy: " in proc.stdout.split("builtin", 1)[1]  # built-ins still listed


def _run(nas, site: Path, out: Path, *args: str):
    return nas("run", *args, "--out", str(out), "--quiet", "--set", "data.subset=96",
               env_extra={"PYTHONPATH": str(site)}, check=True)


def test_plugin_strategy_estimator_space_and_constraint_run_together(site: Path, nas,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "hill"
    proc = _run(nas, site, out, "--strategy", "hillclimb", "--space", "chain", "--estimator",
                "gradnorm", "--constraint", "cpu_latency:..10s", "--set", "strategy.queries=6")
    assert "constraint cpu_latency:..10000: " in proc.stdout and "(met)" in proc.stdout
    records = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    queries = [r for r in records if r["type"] == "query"]
    assert len(queries) == 6 and all(r["cpu_latency"] > 0 for r in queries)
    arch = json.loads((out / "architecture.json").read_text())
    assert arch["space"] == "chain" and len(arch["spec"]["ops"]) == 4


def test_plugin_part_and_handler_under_a_builtin_one_shot_strategy(site: Path, nas,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "darts"
    config = nas("config", "--strategy", "darts", "--space", "chain",
                 "--set", 'strategy.parts=["entropy"]',
                 "--set", "strategy.constraint_handler=squared",
                 env_extra={"PYTHONPATH": str(site)}, check=True)
    assert "entropy_weight = 0.1" in config.stdout and "squared_weight = 10.0" in config.stdout
    # 5 x 3x3 params of a conv5x5 layer: the unconstrained search keeps them; 3.5k forbids it
    proc = _run(nas, site, out, "--strategy", "darts", "--space", "chain", "--epochs", "2",
                "--batch-size", "16", "--set", 'strategy.parts=["entropy"]',
                "--set", "strategy.constraint_handler=squared",
                "--constraint", "params:..3.5k")
    result = json.loads((out / "result.json").read_text())
    check = result["constraints"]["params:..3500"]
    assert check["satisfied"] and check["value"] <= 3500, proc.stdout
    epochs = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()
              if '"epoch"' in line and '"type": "epoch"' in line]
    assert epochs and "params:..3500" in epochs[-1]["constraints"]


def test_plugin_constraint_without_a_differentiable_form_is_refused_by_one_shot_strategies(
    site: Path, nas, tmp_path: Path
) -> None:
    proc = nas("run", "--strategy", "darts", "--space", "chain",
               "--constraint", "cpu_latency:..5ms", "--out", str(tmp_path / "x"),
               env_extra={"PYTHONPATH": str(site)})
    assert proc.returncode == 2 and "cpu_latency has no differentiable form" in proc.stderr
    assert proc.stderr.count("\n") == 1 and not (tmp_path / "x").exists()


def test_guide_strategy_runs_on_a_builtin_space_and_estimator(site: Path, nas,
                                                             tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = nas(
        "run", "--strategy", "hillclimb", "--space", "nb201", "--estimator", "nb201",
        "--set", "strategy.queries=12", "--out", str(out), "--quiet",
        env_extra={"PYTHONPATH": str(site)}, check=True,
    )
    assert re.search(r"\|[a-z_0-9]+~0\|\+", proc.stdout), proc.stdout
    lines = (out / "events.jsonl").read_text().splitlines()
    records = [line for line in lines if '"query"' in line]
    assert len(records) == 12
    assert (out / "architecture.json").exists()


def test_plugin_absent_without_its_distribution(nas) -> None:
    proc = nas("run", "--strategy", "hillclimb", "--space", "nb201")
    assert proc.returncode == 2
    assert "unknown strategy 'hillclimb'; available:" in proc.stderr


@pytest.mark.slow
def test_plugin_strategy_and_estimator_run_unchanged_on_process_workers(site: Path, nas,
                                                                       tmp_path: Path) -> None:
    queries = {}
    for name, extra in (("inline", []), ("process", ["--executor", "process", "--workers", "2"])):
        out = tmp_path / name
        _run(nas, site, out, "--strategy", "hillclimb", "--space", "chain", "--estimator",
             "gradnorm", "--set", "strategy.queries=6", "--set", "strategy.batch_size=2", *extra)
        records = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
        queries[name] = [(r["arch"], r["score"]) for r in records if r["type"] == "query"]
    assert len(queries["inline"]) == 6 and queries["process"] == queries["inline"]
