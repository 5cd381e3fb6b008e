"""Compare strategies against random architectures under one protocol (``nas compare``).

::

    from nascore.compare import compare, resume

    report = compare("darts", ["darts", "gdas"], seeds=2, random=4, out="study",
                     flags={"epochs": 2, "channels": 8, "layers": 5},
                     overrides=["train.epochs=5", "train.channels=8", "train.layers=5"])
    print(report["rows"][0]["test_mean"], report["rows"][0]["beats_random"])

Each row's searches (one per seed) and every retraining are ordinary run directories under
``out/runs/``; ``resume(out)`` continues a killed study, reusing what finished. The report is
``out/report.md``, ``out/report.json`` and ``out/report.png``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nascore.compare.report import write_report
from nascore.compare.study import Study, load_study, plan_study, save_study
from nascore.compare.units import finished_record, run_unit
from nascore.errors import NascoreError

__all__ = ["StudyFailed", "compare", "plan_study", "resume", "run_study"]

log = logging.getLogger("nascore")


class StudyFailed(NascoreError):
    """Some units of a study failed (the report lists them; the rest is kept)."""


def run_study(study: Study, directory: Path, executor: Mapping[str, Any] | None = None
              ) -> dict[str, Any]:
    """Run every unfinished unit of ``study`` in ``directory`` (see :func:`compare`) and write
    the report; raises :class:`StudyFailed` after the report when units failed."""
    from nascore.config import build_config
    from nascore.engine import Interrupted
    from nascore.executors.base import ExecutorConfig, TaskFailed, make_executor

    units = study.units()
    records = {u.name: r for u in units if (r := finished_record(directory, u)) is not None}
    pending = [u for u in units if u.name not in records]
    log.info(f"study {directory}: {len(units)} units, {len(records)} finished, "
             f"{len(pending)} to run")
    if pending:
        config = build_config(ExecutorConfig, dict(executor or {}), "executor")
        try:
            with make_executor(config) as pool:
                for record in pool.map(run_unit, [(directory, study, u) for u in pending]):
                    records[record["unit"]] = record
        except (KeyboardInterrupt, Interrupted, TaskFailed) as exc:
            if isinstance(exc, TaskFailed) and exc.failure.name != Interrupted.__name__:
                raise
            raise Interrupted(f"study {directory} interrupted (its runs checkpointed); continue "
                              f"with `nas compare --resume {directory}`") from None
    ordered = [records[u.name] for u in units]
    summary = write_report(directory, study, ordered)
    log.info(f"wrote {directory / 'report.md'}, report.json and report.png")
    if summary["failed"]:
        raise StudyFailed(
            f"{len(summary['failed'])} of {len(units)} units failed (first: "
            f"{summary['failed'][0]['unit']}: {summary['failed'][0]['error']}); fix the cause and "
            f"continue with `nas compare --resume {directory}`"
        )
    return summary


def compare(
    space: str,
    strategies: Sequence[str],
    *,
    seeds: int = 3,
    random: int = 8,
    out: str | Path,
    flags: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    train_overrides: Sequence[str] = (),
    executor: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Start a study in the new directory ``out`` and run it; returns the report's content.

    ``strategies``: ``STRATEGY`` or ``STRATEGY@SPACE`` rows; ``flags``: the options of ``nas
    run`` shared by every search (``epochs``, ``channels``, ``dataset``, ``estimator``, ...);
    ``overrides``: ``SECTION.KEY=VALUE`` for every search, ``ROW:SECTION.KEY=VALUE`` for one
    row, ``train.KEY=VALUE`` for every retraining; ``train_overrides``: other settings of the
    retraining (``data.subset=5000``); ``executor``: ``{"kind": "process", "workers": 2}``.
    """
    study = plan_study(space, strategies, seeds, random, flags, overrides, train_overrides)
    check_study(study)
    directory = Path(out)
    save_study(study, directory)
    return run_study(study, directory, executor)


def resume(out: str | Path, executor: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Continue the study in ``out``: finished units are reused, interrupted runs continue
    from their checkpoints."""
    directory = Path(out)
    return run_study(load_study(directory), directory, executor)


def check_study(study: Study) -> None:
    """Resolve every row's search config and the retraining config before anything runs, so
    that a wrong name or key fails in one line with nothing written."""
    from nascore.compare.units import search_tree, train_tree
    from nascore.runner import check_config

    for row in study.rows:
        check_config(search_tree(study, row))
    if not study.tabular:
        train_tree(study, study.space)
