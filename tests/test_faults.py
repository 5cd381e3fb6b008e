"""Fault injection in real processes: kills (also during a checkpoint write), a full disk, a
read-only directory, a concurrent resume and a foreign checkpoint. Every fault ends with a one-line
error (no traceback) and a non-zero exit, and leaves the run's earlier files byte-identical or
resumable to the architecture an uninterrupted run derives. Faults a process of its own proves
nothing more about (a file-size limit, changed settings on resume, exports, bad values, data)
are in ``test_faults_cli.py``, in-process."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nascore.events import read_events

SEARCH = ["--strategy", "darts", "--space", "darts", "--channels", "4", "--layers", "3",
          "--epochs", "3", "--batch-size", "16", "--set", "data.subset=160", "--quiet"]

#: Runs ``nas`` with faults injected by patching functions before the CLI starts. ``FAULT`` names
#: the fault, ``FAULT_AT`` the call that fails (1-based).
WRAPPER = textwrap.dedent('''
    import errno, os, sys
    import torch
    from nascore import rundir

    fault, at = os.environ["FAULT"], int(os.environ.get("FAULT_AT", "1"))
    calls = {"n": 0}
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == at and fault == "kill-in-checkpoint":
            fh = f if hasattr(f, "write") else open(f, "wb")
            fh.write(b"PK\\x03\\x04 half a zip")  # half a checkpoint, then the process dies
            fh.flush()
            os._exit(137)
        if calls["n"] == at and fault == "disk-full":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    torch.save = save
    if fault == "read-only":
        real_mkdir = os.mkdir

        def mkdir(path, *args, **kwargs):
            raise OSError(errno.EROFS, "Read-only file system", str(path))

        os.mkdir = mkdir
    from nascore.cli import entry
    entry(sys.argv[1:])
''')


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", **extra}


def _nas(*args: str, wrapper: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(wrapper)] if wrapper else [sys.executable, "-m", "nascore"]
    return subprocess.run([*command, *args], capture_output=True, text=True, env=_env(**env),
                          timeout=600)


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), proc.stderr
    return last


def _final(run: Path) -> dict:
    return json.loads((run / "architecture.json").read_text())


def _files(run: Path) -> dict[str, bytes]:
    """The run's files, without TensorBoard, the lock and a killed write's temporary file
    (garbage any later command may sweep)."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and "tensorboard" not in p.parts and p.name != ".lock"
            and not p.name.endswith(".tmp")}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "run"
    proc = _nas("run", *SEARCH, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def wrapper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wrapper") / "faulty_nas.py"
    path.write_text(WRAPPER)
    return path


def _epochs(run: Path) -> list[dict]:
    path = run / "events.jsonl"
    return [e for e in read_events(path) if e.get("type") == "epoch"] if path.exists() else []


def test_kills_at_random_moments_resume_to_the_same_architecture(reference: Path,
                                                                tmp_path: Path) -> None:
    rng = random.Random(7)
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "nascore", "run", *SEARCH, "--out", str(out)],
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not (out / "checkpoints" / "last.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(rng.uniform(0.2, 2.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for _ in range(2):  # resume, kill again at another moment, then finish
        resumed = subprocess.Popen([sys.executable, "-m", "nascore", "resume", str(out),
                                    "--quiet"], env=_env(), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        time.sleep(rng.uniform(1.0, 3.0))
        resumed.send_signal(signal.SIGKILL)
        resumed.wait()
    finished = _nas("resume", str(out), "--quiet")
    assert finished.returncode == 0, finished.stderr
    assert _final(out) == _final(reference)
    assert [e["epoch"] for e in _epochs(out)] == [0, 1, 2]
    assert _epochs(out)[-1]["arch_weights"] == _epochs(reference)[-1]["arch_weights"]


def test_a_kill_during_a_checkpoint_write_keeps_the_last_checkpoint(reference: Path,
                                                                   wrapper: Path,
                                                                   tmp_path: Path) -> None:
    out = tmp_path / "torn"
    proc = _nas("run", *SEARCH, "--out", str(out), wrapper=wrapper, FAULT="kill-in-checkpoint",
                FAULT_AT="3")  # the start point, epoch 1, then dies writing epoch 2's
    assert proc.returncode == 137
    temporaries = list((out / "checkpoints").glob(".last.pt.*"))
    assert temporaries  # the torn write is a temporary file, never last.pt
    finished = _nas("resume", str(out), "--quiet")
    assert finished.returncode == 0, finished.stderr
    assert not list((out / "checkpoints").glob(".last.pt.*"))  # cleaned up by the resume
    assert _final(out) == _final(reference)


def test_a_full_disk_stops_with_one_line_and_the_run_resumes(reference: Path, wrapper: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "full"
    proc = _nas("run", *SEARCH, "--out", str(out), wrapper=wrapper, FAULT="disk-full",
                FAULT_AT="3")
    line = _one_line_error(proc)
    assert "No space left on device" in line and "free space" in line
    before = _files(out)
    assert "checkpoints/last.pt" in before and not list((out / "checkpoints").glob(".*.tmp"))
    finished = _nas("resume", str(out), "--quiet")
    assert finished.returncode == 0, finished.stderr
    assert _final(out) == _final(reference)


def test_a_read_only_directory_is_a_one_line_error(wrapper: Path, tmp_path: Path) -> None:
    proc = _nas("run", *SEARCH, "--out", str(tmp_path / "ro" / "run"), wrapper=wrapper,
                FAULT="read-only")
    line = _one_line_error(proc)
    assert "Read-only file system" in line and "writable" in line
    assert not (tmp_path / "ro").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_a_real_read_only_directory_is_a_one_line_error(tmp_path: Path) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        line = _one_line_error(_nas("run", *SEARCH, "--out", str(parent / "run")))
        assert "Permission denied" in line
    finally:
        parent.chmod(0o755)


def test_a_second_process_on_a_busy_run_is_refused(tmp_path: Path) -> None:
    busy = tmp_path / "live"
    live = subprocess.Popen([sys.executable, "-m", "nascore", "run", *SEARCH, "--out",
                             str(busy)], env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while not (busy / "checkpoints" / "last.pt").exists() and time.time() < deadline:
        time.sleep(0.05)
    line = _one_line_error(_nas("resume", str(busy), "--quiet"))
    assert f"in use by process {live.pid}" in line
    assert live.wait(timeout=600) == 0
    records = read_events(busy / "events.jsonl")
    assert [e["epoch"] for e in records if e["type"] == "epoch"] == [0, 1, 2]  # no duplicates


def test_a_foreign_checkpoint_is_refused_before_anything_changes(reference: Path,
                                                                tmp_path: Path) -> None:
    ours = tmp_path / "ours"
    proc = subprocess.Popen([sys.executable, "-m", "nascore", "run", *SEARCH, "--out",
                             str(ours)], env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while len(_epochs(ours)) < 1 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    shutil.copy(reference / "checkpoints" / "last.pt", ours / "checkpoints" / "last.pt")
    before = _files(ours)
    line = _one_line_error(_nas("resume", str(ours), "--quiet"))
    assert "belongs to another run" in line
    assert _files(ours) == before  # events.jsonl and everything else untouched
