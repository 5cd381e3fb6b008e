"""Run directories never clobber, checkpoints are atomic and safe to load, RNG round-trips."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path

import numpy as np
import pytest
import torch

from nascore.errors import CheckpointError, RunDirError
from nascore.rundir import RunDir, atomic_write_bytes, rng_state, seed_everything, set_rng_state


def test_create_refuses_existing_non_empty_directory(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "r", {"kind": "search"}, "[run]\n")
    (run.path / "precious.txt").write_text("keep me")
    with pytest.raises(RunDirError, match="already exists and is not empty"):
        RunDir.create(run.path, {"kind": "search"}, "")
    assert (run.path / "precious.txt").read_text() == "keep me"
    assert run.meta == {"kind": "search", "run_id": run.run_id} and len(run.run_id) == 32


def test_open_requires_run_json(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="not a nascore run directory"):
        RunDir.open(tmp_path)


def test_checkpoint_round_trip_and_corruption(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "r", {"kind": "search"}, "")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        run.load_checkpoint()
    run.save_checkpoint({"epoch": 2, "w": torch.arange(3)})
    state = run.load_checkpoint()
    assert state["epoch"] == 2 and torch.equal(state["w"], torch.arange(3))
    assert list(run.checkpoint_path.parent.iterdir()) == [run.checkpoint_path]  # no temp files
    run.checkpoint_path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        run.load_checkpoint()


def test_checkpoint_refuses_pickled_code(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "r", {"kind": "search"}, "")
    run.checkpoint_path.parent.mkdir()
    torch.save({"format": 1, "obj": Path("x")}, run.checkpoint_path)
    with pytest.raises(CheckpointError):
        run.load_checkpoint()


def test_rng_state_round_trip() -> None:
    seed_everything(5)
    state = rng_state()
    first = (torch.rand(3), np.random.rand(2), random.random())
    set_rng_state(state)
    second = (torch.rand(3), np.random.rand(2), random.random())
    assert torch.equal(first[0], second[0])
    assert np.array_equal(first[1], second[1]) and first[2] == second[2]


def test_run_directory_files_have_normal_permissions(tmp_path: Path) -> None:
    """Atomic writes go through mkstemp (mode 0600); the files end with the umask's mode."""
    old = os.umask(0o022)
    try:
        run = RunDir.create(tmp_path / "run", {"kind": "search"}, "")
        run.write_json("result.json", {"a": 1})
        run.save_checkpoint({"epoch": 0})
        atomic_write_bytes(tmp_path / "model.safetensors", b"x")
    finally:
        os.umask(old)
    files = [run.path / "run.json", run.path / "config.toml", run.path / "result.json",
             run.checkpoint_path, tmp_path / "model.safetensors"]
    assert {oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {"0o644"}
