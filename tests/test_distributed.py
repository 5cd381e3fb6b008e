"""Data-parallel one-shot search: two gloo processes spawned from the tests (each with one
thread) agree on everything the search decides, only rank 0 writes the run directory, a stop
signal to one process stops both, and a stopped or killed two-process run resumes to the result
of an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from nascore.data import DataConfig, SearchData
from nascore.events import read_events

HERE = Path(__file__).parent
SEARCH = ["run", "--strategy", "gdas", "--space", "darts", "--channels", "4", "--layers", "3",
          "--epochs", "3", "--batch-size", "16", "--set", "data.subset=160", "--quiet"]


def test_each_process_takes_every_other_image_of_each_batch() -> None:
    whole = SearchData(DataConfig(subset=42), seed=0)  # 21 weights images: batches 16 and 5
    shares = []
    for rank in (0, 1):
        data = SearchData(DataConfig(subset=42), seed=0)
        data.shard(rank, 2)
        shares.append(list(data.batches("weights", 16, epoch=1)))
    batches = list(whole.batches("weights", 16, epoch=1))
    assert [len(b[1]) for b in batches] == [16, 5]
    for b, (x, y) in enumerate(batches):
        if len(y) % 2:  # the last batch is padded with its own first image
            x, y = torch.cat([x, x[:1]]), torch.cat([y, y[:1]])
        assert torch.equal(shares[0][b][0], x[0::2]) and torch.equal(shares[1][b][0], x[1::2])
        assert torch.equal(shares[0][b][1], y[0::2]) and torch.equal(shares[1][b][1], y[1::2])
    resumed = SearchData(DataConfig(subset=42), seed=0)
    resumed.shard(1, 2)
    assert torch.equal(next(resumed.batches("weights", 16, epoch=1, start=1))[0], shares[1][1][0])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn(args: list[str], port: int | None = None) -> list[subprocess.Popen]:
    """Two processes of one gloo process group, as torchrun starts them."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": str(port or _free_port()), "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2"}
    return [
        subprocess.Popen([sys.executable, *args], env={**env, "RANK": r, "LOCAL_RANK": r},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for r in ("0", "1")
    ]


def _finish(procs: list[subprocess.Popen], timeout: float = 600) -> list[tuple[int, str, str]]:
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        results.append((proc.returncode, out, err))
    return results


def _same(a: Any, b: Any, path: str) -> None:
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _same(a[key], b[key], f"{path}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


@pytest.mark.slow
def test_two_processes_agree_on_parameters_masks_and_architecture(tmp_path: Path) -> None:
    results = _finish(_spawn([str(HERE / "distributed_search.py"), str(tmp_path)]))
    assert all(code == 0 for code, _, _ in results), results
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1)]
    assert {"darts", "darts-unrolled", "gdas"} <= set(ranks[0])
    for name, found in ranks[0].items():
        assert found["replicas"] == 2
        moved = [not torch.equal(found["before"][k], found["alphas"][k]) for k in found["before"]]
        assert all(moved), f"{name}: architecture parameters were not trained"
        _same(found, ranks[1][name], name)  # parameters, masks, weights, architecture, parts
    if "eoinas" in ranks[0]:  # pruned on both processes alike, from all-reduced accuracies
        eoinas = ranks[0]["eoinas"]
        assert all(int((~m).sum()) > 0 for m in eoinas["masks"].values())
        assert eoinas["parts"]["importance_indicator"]["stats"]["normal"]["ca"].sum() > 0


def _epochs(run: Path) -> list[dict]:
    path = run / "events.jsonl"
    return [e for e in read_events(path) if e.get("type") == "epoch"] if path.exists() else []


def _final(run: Path) -> tuple[dict, dict]:
    return json.loads((run / "architecture.json").read_text()), _epochs(run)[-1]["arch_weights"]


def _search(out: Path, *extra: str) -> list[tuple[int, str, str]]:
    return _finish(_spawn(["-m", "nascore", *extra, *SEARCH, "--out", str(out)]))


def _wait_for_epoch(run: Path, procs: list[subprocess.Popen], timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not _epochs(run):
        if any(p.poll() is not None for p in procs) or time.time() > deadline:
            for p in procs:
                p.kill()
            raise AssertionError(f"the run ended early: {[p.stderr.read() for p in procs]}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ddp") / "reference"
    results = _search(out)
    assert [code for code, _, _ in results] == [0, 0], results
    assert results[0][1].startswith("Genotype(") and not results[1][1]  # rank 0 reports
    meta = json.loads((out / "run.json").read_text())
    assert meta["processes"] == 2
    assert [e["epoch"] for e in _epochs(out)] == [0, 1, 2]  # one writer
    return out


@pytest.mark.slow
def test_a_signal_to_one_process_stops_both_and_the_run_resumes(reference: Path,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "stopped"
    procs = _spawn(["-m", "nascore", *SEARCH, "--out", str(out)])
    _wait_for_epoch(out, procs)
    procs[1].send_signal(signal.SIGTERM)
    results = _finish(procs, timeout=120)
    assert [code for code, _, _ in results] == [130, 130], results
    assert "another process's signal" in results[0][2] and "nas resume" in results[0][2]
    assert not results[1][2].strip()  # rank 1 stops quietly
    assert not (out / "architecture.json").exists()
    resumed = _finish(_spawn(["-m", "nascore", "resume", str(out), "--quiet"]))
    assert [code for code, _, _ in resumed] == [0, 0], resumed
    assert _final(out) == _final(reference)


@pytest.mark.slow
def test_a_killed_two_process_run_resumes(reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    procs = _spawn(["-m", "nascore", *SEARCH, "--out", str(out)])
    _wait_for_epoch(out, procs)
    for proc in procs:
        proc.kill()
    _finish(procs)
    assert not (out / "architecture.json").exists()
    resumed = _finish(_spawn(["-m", "nascore", "resume", str(out), "--quiet"]))
    assert [code for code, _, _ in resumed] == [0, 0], resumed
    assert _final(out) == _final(reference)
    assert [e["epoch"] for e in _epochs(out)] == [0, 1, 2]


@pytest.mark.slow
def test_nproc_launches_the_same_search_through_torchrun(reference: Path, tmp_path: Path,
                                                        nas) -> None:
    out = tmp_path / "launched"
    proc = nas(*SEARCH, "--out", str(out), "--nproc", "2", check=True)
    assert proc.stdout.startswith("Genotype(") and proc.stdout.count("Genotype(") == 1
    assert _final(out) == _final(reference)
