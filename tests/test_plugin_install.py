"""A real third-party distribution (the guide's example) is discovered through its entry point."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

GUIDE = Path(__file__).parents[1] / "docs" / "writing-a-plugin.md"

BROKEN_PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "nas-plugin-broken"
version = "0.0.1"

[project.entry-points."nascore.plugins"]
broken = "nas_plugin_broken"

[tool.setuptools]
py-modules = ["nas_plugin_broken"]
"""


def _install(source: Path, target: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        check=True, capture_output=True,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the guide's plugin and a broken plugin installed as distributions."""
    root = tmp_path_factory.mktemp("plugins")
    text = GUIDE.read_text()
    toml = re.search(r"`pyproject.toml`:\n\n```toml\n(.*?)```", text, re.S).group(1)
    code = re.search(r"`nas_plugin_hillclimb.py`:\n\n```python\n(.*?)```", text, re.S).group(1)
    good = root / "hillclimb"
    good.mkdir()
    (good / "pyproject.toml").write_text(toml)
    (good / "nas_plugin_hillclimb.py").write_text(code)
    broken = root / "broken"
    broken.mkdir()
    (broken / "pyproject.toml").write_text(BROKEN_PYPROJECT)
    (broken / "nas_plugin_broken.py").write_text("import a_module_that_does_not_exist\n")
    target = root / "site"
    _install(good, target)
    _install(broken, target)
    return target


def test_guide_plugin_listed_and_broken_plugin_reported(site: Path, nas) -> None:
    proc = nas("plugins", env_extra={"PYTHONPATH": str(site)}, check=True)
    assert "hillclimb  (nas-plugin-hillclimb 0.1.0" in proc.stdout
    assert "strategy: hillclimb" in proc.stdout
    assert "broken  (nas-plugin-broken 0.0.1" in proc.stdout
    assert "FAILED TO LOAD: ModuleNotFoundError" in proc.stdout
    assert "strategy: " in proc.stdout.split("builtin", 1)[1]  # built-ins still listed


def test_guide_plugin_runs_through_nas_run(site: Path, nas, tmp_path: Path) -> None:
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
