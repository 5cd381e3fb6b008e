"""End to end through the CLI: run directories, resume after SIGKILL/SIGINT, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from nascore.events import read_events
from nascore.testing import run_cli


def _epochs(run: Path) -> list[dict]:
    path = run / "events.jsonl"
    return [e for e in read_events(path) if e.get("type") == "epoch"] if path.exists() else []


@pytest.fixture(scope="module")
def gdas_run(tmp_path_factory: pytest.TempPathFactory, nas, tiny: list[str]) -> Path:
    out = tmp_path_factory.mktemp("runs") / "gdas"
    nas("run", "--strategy", "gdas", "--space", "darts", *tiny, "--out", str(out), "--quiet",
        check=True)
    return out


def test_run_directory_holds_everything(gdas_run: Path) -> None:
    config = tomllib.loads((gdas_run / "config.toml").read_text())
    assert config["run"]["strategy"] == "gdas" and config["space"]["channels"] == 4
    assert config["strategy"]["epochs"] == 2 and "tau_max" in config["strategy"]
    meta = json.loads((gdas_run / "run.json").read_text())
    assert meta["kind"] == "search" and "torch" in meta["versions"]
    epochs = _epochs(gdas_run)
    assert [e["epoch"] for e in epochs] == [0, 1]
    assert all(isinstance(e["train_loss"], float) for e in epochs)
    weights = epochs[-1]["arch_weights"]  # architecture parameters, softmax per edge
    assert set(weights) == {"normal", "reduce"}
    assert len(weights["normal"]) == 14 and len(weights["normal"][0]) == 8
    assert any((gdas_run / "tensorboard").iterdir())
    assert (gdas_run / "checkpoints" / "last.pt").stat().st_size > 0
    arch = json.loads((gdas_run / "architecture.json").read_text())
    assert arch["space"] == "darts" and len(arch["spec"]["normal"]) == 8
    assert (gdas_run / "genotype.txt").read_text().startswith("Genotype(normal=[")


def test_existing_out_is_refused_and_untouched(gdas_run: Path, nas, tiny: list[str]) -> None:
    before = {p: p.stat().st_mtime_ns for p in gdas_run.rglob("*")}
    proc = nas("run", "--strategy", "gdas", "--space", "darts", *tiny, "--out", str(gdas_run))
    assert proc.returncode == 2
    assert "already exists and is not empty" in proc.stderr
    assert {p: p.stat().st_mtime_ns for p in gdas_run.rglob("*")} == before


def _cli(*args: str) -> subprocess.CompletedProcess:
    """``nas ARGS`` in this process (what a subprocess would print, without its start-up)."""
    code, out, err = run_cli(*args)
    return subprocess.CompletedProcess(list(args), code, out, err)


def test_show_prints_architecture_and_writes_diagrams(gdas_run: Path) -> None:
    proc = _cli("show", str(gdas_run))
    assert proc.returncode == 0, proc.stderr
    assert "Genotype(normal=[" in proc.stdout
    assert "params" in proc.stdout and "multiply-adds" in proc.stdout
    plots = {p.name for p in (gdas_run / "plots").iterdir()}
    assert "curves.png" in plots
    assert any(name.endswith(".png") and "normal" in name for name in plots)
    assert any(name.endswith(".pdf") for name in plots)


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "nascore", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"run ended early:\n{proc.stderr.read()}")
        if time.time() > deadline:
            proc.kill()
            raise AssertionError("timed out waiting for the run")
        time.sleep(0.05)


SEARCH = ["run", "--strategy", "darts", "--space", "darts", "--channels", "4", "--layers", "3",
          "--epochs", "3", "--batch-size", "16", "--set", "data.subset=160", "--quiet"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, nas) -> Path:
    out = tmp_path_factory.mktemp("ref") / "run"
    nas(*SEARCH, "--out", str(out), check=True)
    return out


def _final(run: Path) -> tuple[dict, dict]:
    weights = _epochs(run)[-1]["arch_weights"]
    return json.loads((run / "architecture.json").read_text()), weights


def test_resume_after_sigkill_matches_uninterrupted(reference: Path, tmp_path: Path,
                                                     nas) -> None:
    out = tmp_path / "killed"
    proc = _start([*SEARCH, "--out", str(out)])
    _wait_for(lambda: len(_epochs(out)) >= 1, proc)
    time.sleep(0.3)  # into the second epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "architecture.json").exists()
    nas("resume", str(out), "--quiet", check=True)
    assert _final(out) == _final(reference)
    assert [e["epoch"] for e in _epochs(out)] == [0, 1, 2]


def test_sigint_checkpoints_mid_epoch_and_resume_matches(reference: Path, tmp_path: Path,
                                                         nas) -> None:
    out = tmp_path / "interrupted"
    proc = _start([*SEARCH, "--out", str(out)])
    _wait_for(lambda: len(_epochs(out)) >= 1, proc)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "nas resume" in err
    nas("resume", str(out), "--quiet", check=True)
    assert _final(out) == _final(reference)


def test_nan_loss_stops_with_message_and_resumable_checkpoint(tmp_path: Path, nas,
                                                             tiny: list[str]) -> None:
    out = tmp_path / "nan"
    proc = nas("run", "--strategy", "darts", "--space", "darts", *tiny, "--out", str(out),
               "--quiet", "--set", "strategy.lr=1e30")
    assert proc.returncode == 1, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and "loss" in line and "nas resume" in line
    assert (out / "checkpoints" / "last.pt").exists()
    fixed = nas("resume", str(out), "--quiet", "--set", "strategy.lr=0.025")
    assert fixed.returncode == 0, fixed.stderr
    assert (out / "architecture.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "nope", "--space", "darts"], "unknown strategy 'nope'; available: "),
        (["--strategy", "gdas", "--space", "nope"], "unknown space 'nope'; available: "),
        (["--strategy", "gdas", "--space", "darts", "--dataset", "mnist"],
         "unknown dataset 'mnist'; available: cifar10"),
        (["--strategy", "gdas", "--space", "darts", "--set", "strategy.nope=1"],
         "unknown config key strategy.nope"),
        (["--strategy", "evolution", "--space", "darts"], "needs an estimator"),
        (["--strategy", "gdas", "--space", "darts", "--constraint", "params:3M..1M"],
         "lower end above upper end"),
    ],
)
def test_bad_input_is_one_line_usage_error(args: list[str], message: str,
                                           tmp_path: Path) -> None:
    proc = _cli("run", *args, "--threads", "1", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr
    assert not (tmp_path / "x").exists()


def test_missing_dataset_fails_before_creating_the_run(tmp_path: Path) -> None:
    proc = _cli("run", "--strategy", "gdas", "--space", "darts", "--dataset", "cifar10",
                "--data-dir", str(tmp_path / "nowhere"), "--threads", "1",
                "--out", str(tmp_path / "x"))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "cifar10 not found or damaged under" in proc.stderr
    assert not (tmp_path / "x").exists()


def test_config_prints_every_default() -> None:
    proc = _cli("config", "--strategy", "pcdarts", "--space", "darts")
    assert proc.returncode == 0, proc.stderr
    tree = tomllib.loads(proc.stdout)
    assert tree["strategy"]["batch_size"] == 256 and tree["space"]["channels"] == 16
    assert tree["data"]["dataset"] == "digits" and tree["run"]["seed"] == 0
