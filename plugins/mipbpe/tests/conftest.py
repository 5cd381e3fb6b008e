"""Shared helpers of the mipbpe tests: the authors' released table and the ``nas`` CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

#: The MIP-BPE authors' released measurements, beside the repository (see its README).
RELEASED = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mipbpe"


@pytest.fixture(scope="session")
def released() -> Path:
    """The released table's directory (the test is skipped without it)."""
    if not (RELEASED / "budgets.csv").is_file():
        pytest.skip(f"the released MIP-BPE table is not at {RELEASED}")
    return RELEASED


def run_nas(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """``python -m nascore ARGS`` in a subprocess (one thread), output captured."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "nascore", *args], capture_output=True,
                          text=True, env=env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"nas {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def nas():
    """The :func:`run_nas` helper."""
    return run_nas
