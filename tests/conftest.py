"""Shared fixtures: a CLI runner in a subprocess and tiny run settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

#: Settings that make a one-shot search on digits take seconds.
TINY = [
    "--channels", "4", "--layers", "3", "--epochs", "2", "--batch-size", "32",
    "--set", "data.subset=128",
]


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
