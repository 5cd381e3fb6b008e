"""Shared fixtures: a CLI runner in a subprocess and tiny run settings."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):  # one of the parallel workers: its share of the
    torch.set_num_threads(1)  # cores (each test's subprocesses get OMP_NUM_THREADS=1 too)

# measured tables (latency) go to a folder of the test session's, never the user's ~/.cache
os.environ["NASCORE_CACHE"] = tempfile.mkdtemp(prefix="nascore-test-cache-")

#: Settings that make a one-shot search on digits take seconds.
TINY = [
    "--channels", "4", "--layers", "3", "--epochs", "2", "--batch-size", "32",
    "--set", "data.subset=128",
]


#: ``pyproject.toml`` of a one-module plugin distribution ``nas-plugin-NAME``.
ONE_MODULE_PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "nas-plugin-{name}"
version = "0.0.1"

[project.entry-points."nascore.plugins"]
{name} = "nas_plugin_{name}"

[tool.setuptools]
py-modules = ["nas_plugin_{name}"]
"""


@pytest.fixture(scope="session")
def install_plugin() -> Callable[..., None]:
    """``install(source, target, name=None, code=None)``: pip-install the distribution in the
    folder ``source`` into the folder ``target``; with ``name`` and ``code``, first write there
    the one-module plugin ``nas_plugin_NAME`` holding ``code``."""

    def install(source: Path, target: Path, name: str | None = None,
                code: str | None = None) -> None:
        if name is not None:
            (source / "pyproject.toml").write_text(ONE_MODULE_PYPROJECT.format(name=name))
            (source / f"nas_plugin_{name}.py").write_text(code or "")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
             "--no-build-isolation", "--target", str(target), str(source)],
            check=True, capture_output=True,
        )

    return install


def run_nas(*args: str, env_extra: dict[str, str] | None = None, cwd: Path | None = None,
            check: bool = False, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m nascore ARGS`` in a subprocess and capture its output."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "nascore", *args], capture_output=True, text=True, env=env,
        cwd=cwd, timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"nas {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def nas():
    """The ``run_nas`` helper as a fixture."""
    return run_nas


@pytest.fixture(scope="session")
def tiny() -> list[str]:
    """CLI flags of a search that takes seconds."""
    return list(TINY)
