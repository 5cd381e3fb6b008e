"""``nas compare``: the plan, the beat-random statistic, a tabular study and a tiny digits study
that resumes after SIGKILL to the same report."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nascore.compare.report import beat_interval, beat_rate
from nascore.compare.study import load_study, plan_study
from nascore.errors import UsageError
from nascore.estimators.nb201_table import load_table
from nascore.events import read_events
from nascore.testing import run_cli


def test_beat_rate_counts_pairs_and_half_ties() -> None:
    # pairs: 0.9>0.85, 0.9>0.8, 0.8<0.85, 0.8=0.8 (half) -> 2.5 of 4
    assert beat_rate([0.9, 0.8], [0.85, 0.8]) == pytest.approx(0.625)
    assert beat_rate([0.5], [0.6, 0.7]) == 0.0


def test_beat_interval_is_seeded_and_brackets_the_rate() -> None:
    row, random = [0.91, 0.88, 0.9], [0.85, 0.89, 0.87, 0.9, 0.86]
    low, high = beat_interval(row, random)
    assert (low, high) == beat_interval(row, random)
    assert 0.0 <= low <= beat_rate(row, random) <= high <= 1.0
    assert low < high
    assert beat_interval([0.9, 0.9], [0.1, 0.2]) == (1.0, 1.0)


def test_plan_routes_settings_to_rows_searches_and_retraining() -> None:
    study = plan_study("darts", ["darts", "gdas", "darts@adarts"], 2, 3, {"epochs": 1},
                       ["strategy.lr=0.1", "gdas:strategy.tau_max=5", "train.epochs=4"],
                       ["data.subset=100"])
    assert [(r.label, r.strategy, r.space) for r in study.rows] == [
        ("darts", "darts", "darts"), ("gdas", "gdas", "darts"),
        ("darts@adarts", "darts", "adarts")]
    assert study.row("gdas").overrides == ("strategy.tau_max=5",)
    assert study.row("darts").overrides == ()
    assert study.search_overrides == ("strategy.lr=0.1",)
    assert study.train_overrides == ("data.subset=100", "train.epochs=4")
    names = [u.name for u in study.units()]
    assert names[:2] == ["darts-s0", "darts-s1"] and names[-3:] == [
        "random-0", "random-1", "random-2"]


@pytest.mark.parametrize("strategies, overrides, message", [
    (["darts", "darts"], [], "twice"),
    (["random"], [], "random@darts"),
    (["darts@"], [], "STRATEGY@SPACE"),
    (["darts"], ["gdas:strategy.lr=1"], "no row 'gdas'"),
])
def test_plan_refuses_bad_rows(strategies: list[str], overrides: list[str],
                               message: str) -> None:
    with pytest.raises(UsageError, match=message):
        plan_study("darts", strategies, 1, 1, {}, overrides)


def test_a_tabular_study_refuses_retraining_settings() -> None:
    with pytest.raises(UsageError, match="trains nothing"):
        plan_study("nb201", ["evolution"], 1, 1, {"estimator": "nb201"}, ["train.epochs=3"])


def test_unknown_strategy_fails_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "study"
    code, _out, err = run_cli("compare", "--space", "darts", "--strategies", "darts,nosuch",
                              "--out", str(out))
    assert code == 2 and "nosuch" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_tabular_study_reports_the_table_accuracy_of_each_selection(tmp_path: Path) -> None:
    out = tmp_path / "nb201"
    args = ["compare", "--space", "nb201", "--estimator", "nb201", "--strategies",
            "random@nb201,evolution", "--seeds", "2", "--random", "5",
            "--set", "strategy.queries=20"]
    code, stdout, err = run_cli(*args, "--out", str(out))
    assert code == 0, err
    assert "| evolution | 2 |" in stdout
    report = json.loads((out / "report.json").read_text())
    table = load_table()
    evolution = next(r for r in report["rows"] if r["row"] == "evolution")
    for seed, accuracy in enumerate(evolution["test_acc"]):
        run = out / "runs" / f"evolution-s{seed}" / "search"
        cell = (run / "genotype.txt").read_text().strip()
        assert accuracy == pytest.approx(table.value(cell, "cifar10_test_200") / 100)
        assert json.loads((run / "run.json").read_text())["config"]["run"]["seed"] == seed
    random = next(r for r in report["rows"] if r["row"] == "random")
    assert random["runs"] == 5 and "beats_random" in evolution
    assert (out / "report.png").stat().st_size > 0
    # the random architectures are the same in every study (seeded by their index)
    again = tmp_path / "again"
    assert run_cli(*args, "--out", str(again))[0] == 0
    assert json.loads((again / "report.json").read_text())["rows"][-1]["test_acc"] == (
        random["test_acc"])
    # an existing study directory is refused, untouched
    before = (out / "report.json").read_text()
    code, _o, err = run_cli(*args, "--out", str(out))
    assert code == 2 and "--resume" in err
    assert (out / "report.json").read_text() == before


def test_failed_units_are_reported_and_rerun_by_resume(tmp_path: Path) -> None:
    from nascore.estimators.nb201_table import PACKAGED_PATH

    table, out = tmp_path / "nb201.csv.gz", tmp_path / "study"
    args = ["compare", "--space", "nb201", "--estimator", "nb201", "--strategies",
            "evolution,random@nb201", "--seeds", "1", "--random", "2", "--set",
            "strategy.queries=10", "--set", f"evolution:estimator.path={table}", "--out",
            str(out)]
    code, _out, err = run_cli(*args)
    assert code == 1
    assert "1 of 4 units failed (first: evolution-s0" in err and "--resume" in err
    report = json.loads((out / "report.json").read_text())
    assert [f["unit"] for f in report["failed"]] == ["evolution-s0"]
    assert "Failed units" in (out / "report.md").read_text()
    assert not (out / "runs" / "evolution-s0" / "unit.json").exists()
    table.write_bytes(PACKAGED_PATH.read_bytes())  # the cause fixed
    code, stdout, err = run_cli("compare", "--resume", str(out))
    assert code == 0, err
    assert "| evolution | 1 |" in stdout and "Failed units" not in stdout
    assert "random-0" not in err  # finished units are not run again


TINY_STUDY = [
    "compare", "--space", "darts", "--strategies", "darts,gdas", "--seeds", "2", "--random",
    "2", "--channels", "4", "--layers", "3", "--epochs", "2", "--batch-size", "16",
    "--set", "data.subset=64", "--set", "data.image_size=8", "--set", "train.epochs=1",
    "--set", "train.channels=4", "--set", "train.layers=3", "--set", "train.batch_size=32",
    "--train-set", "data.subset=96", "--threads", "1",
]


def _nas(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "nascore", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _comparable(report: dict) -> list[tuple]:
    """Everything of the report but the measured seconds."""
    return [(r["row"], r["units"], r["test_acc"], r["params"], r["flops"],
             r.get("beats_random"), r.get("beats_random_95")) for r in report["rows"]]


@pytest.mark.slow
def test_tiny_study_resumes_after_sigkill_to_the_same_report(tmp_path: Path) -> None:
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    # the reference runs its units on two worker processes, the killed study inline
    reference = _nas(*TINY_STUDY, "--executor", "process", "--workers", "2", "--out",
                     str(straight))
    proc = _nas(*TINY_STUDY, "--out", str(killed))
    # kill after the second unit's first search epoch, when the first unit has finished
    events = killed / "runs" / "darts-s1" / "search" / "events.jsonl"
    deadline = time.time() + 300
    while not (events.exists() and any(e["type"] == "epoch" for e in read_events(events))):
        assert proc.poll() is None, proc.stderr.read()
        assert time.time() < deadline, "timed out waiting for the study"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "report.json").exists()
    assert (killed / "runs" / "darts-s0" / "unit.json").is_file()
    out, err = reference.communicate(timeout=600)
    assert reference.returncode == 0, err
    resumed = _nas("compare", "--resume", str(killed))
    out, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err
    assert "darts-s0: search" not in err  # the finished unit was reused
    assert "continuing search" in err
    a = json.loads((straight / "report.json").read_text())
    b = json.loads((killed / "report.json").read_text())
    assert _comparable(a) == _comparable(b)
    assert [r["row"] for r in b["rows"]] == ["darts", "gdas", "random"]
    assert all(r["runs"] == 2 for r in b["rows"])
    assert load_study(killed) == load_study(straight)
    # every search and retraining is an ordinary run directory
    train = killed / "runs" / "gdas-s1" / "train"
    meta = json.loads((train / "run.json").read_text())
    assert meta["kind"] == "train" and meta["config"]["train"]["epochs"] == 1
    assert meta["config"]["train"]["seed"] == 1
    assert "| darts | 2 |" in out
