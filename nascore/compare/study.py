"""A comparison study's plan: its rows, seeds and random architectures, saved as ``study.json``.

A *row* is a strategy searching a space (``darts``, or ``darts@adarts`` for the ``adarts`` space
under the ``darts`` strategy) with its own ``--set`` overrides. Every row runs once per seed, and
its derived architecture is retrained; ``random`` architectures sampled from the study's space
are retrained under the same protocol. In tabular mode (``--estimator nb201``) nothing is
retrained: the table answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from nascore.errors import RunDirError, UsageError

#: The file that makes a directory a study (written before any run starts).
STUDY_FILE = "study.json"
#: Version of the study file's layout.
STUDY_VERSION = 1
#: Estimators whose answers are table lookups: the study compares by query budget, untrained.
TABULAR_ESTIMATORS = ("nb201",)
#: Label of the row of random architectures.
RANDOM_ROW = "random"


@attrs.frozen
class Row:
    """One searched row: ``strategy`` on ``space`` with its own ``overrides``."""

    label: str
    strategy: str
    space: str
    overrides: tuple[str, ...] = ()


@attrs.frozen
class Unit:
    """One independent piece of work: a row's search (and its retraining) for one seed, or the
    retraining of random architecture ``index``."""

    name: str
    row: str
    seed: int
    index: int | None = None


@attrs.frozen
class Study:
    """Everything a study runs, resolved from the command line (see :func:`plan_study`)."""

    space: str
    rows: tuple[Row, ...]
    seeds: int
    random: int
    flags: Mapping[str, Any] = attrs.field(factory=dict)
    search_overrides: tuple[str, ...] = ()
    train_overrides: tuple[str, ...] = ()

    @property
    def tabular(self) -> bool:
        """Whether the estimator is a table (no training; compare by query budget)."""
        return self.flags.get("estimator") in TABULAR_ESTIMATORS

    def row(self, label: str) -> Row:
        return next(r for r in self.rows if r.label == label)

    def units(self) -> list[Unit]:
        """Searches first (longest work first keeps the workers busy), then random ones."""
        searched = [Unit(f"{row.label}-s{seed}", row.label, seed)
                    for row in self.rows for seed in range(self.seeds)]
        random = [Unit(f"{RANDOM_ROW}-{i}", RANDOM_ROW, i % max(self.seeds, 1), i)
                  for i in range(self.random)]
        return searched + random

    def to_dict(self) -> dict[str, Any]:
        return {"version": STUDY_VERSION, **attrs.asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Study:
        rows = tuple(Row(r["label"], r["strategy"], r["space"], tuple(r["overrides"]))
                     for r in data["rows"])
        return cls(data["space"], rows, int(data["seeds"]), int(data["random"]),
                   dict(data["flags"]), tuple(data["search_overrides"]),
                   tuple(data["train_overrides"]))


def _row_label(entry: str, space: str) -> Row:
    strategy, _, row_space = entry.partition("@")
    if not strategy or (row_space == "" and "@" in entry):
        raise UsageError(f"--strategies entry {entry!r} must be STRATEGY or STRATEGY@SPACE")
    return Row(entry, strategy, row_space or space)


def plan_study(
    space: str,
    strategies: Sequence[str],
    seeds: int,
    random: int,
    flags: Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    train_overrides: Sequence[str] = (),
) -> Study:
    """A study from command-line values.

    ``strategies``: ``STRATEGY`` or ``STRATEGY@SPACE`` entries (the row's label). ``overrides``:
    ``SECTION.KEY=VALUE`` for every search, ``ROW:SECTION.KEY=VALUE`` for one row's searches,
    and ``train.KEY=VALUE`` for every retraining; ``train_overrides`` set any other
    ``SECTION.KEY`` of the retraining (``data.subset=5000``).
    """
    if not strategies:
        raise UsageError("give the strategies to compare, e.g. --strategies darts,gdas")
    if seeds < 1:
        raise UsageError(f"--seeds must be at least 1, not {seeds}")
    if random < 0:
        raise UsageError(f"--random must be 0 or more, not {random}")
    rows = [_row_label(entry.strip(), space) for entry in strategies if entry.strip()]
    labels = [r.label for r in rows]
    duplicate = next((label for label in labels if labels.count(label) > 1), None)
    if duplicate:
        raise UsageError(f"--strategies names {duplicate!r} twice; give each row once")
    if RANDOM_ROW in labels:
        raise UsageError(f"'{RANDOM_ROW}' is the row of random architectures (--random M); "
                         "compare the random strategy under another label, e.g. random@" + space)
    per_row: dict[str, list[str]] = {label: [] for label in labels}
    common, train = [], list(train_overrides)
    for item in overrides:
        head, sep, rest = item.partition(":")
        if sep and "=" not in head:  # ROW:SECTION.KEY=VALUE
            if head not in per_row:
                raise UsageError(f"--set {item}: no row {head!r} (rows: {', '.join(labels)})")
            per_row[head].append(rest)
        elif item.startswith("train."):
            train.append(item)
        else:
            common.append(item)
    rows = [attrs.evolve(r, overrides=tuple(per_row[r.label])) for r in rows]
    study = Study(space, tuple(rows), seeds, random, dict(flags or {}), tuple(common),
                  tuple(train))
    if study.tabular and study.train_overrides:
        raise UsageError("a tabular study (--estimator nb201) trains nothing; drop the "
                         "retraining settings (--set train.KEY, --train-set)")
    return study


def save_study(study: Study, directory: Path) -> None:
    """Write ``study.json`` (the directory must be new or empty)."""
    if directory.exists() and any(directory.iterdir()):
        raise RunDirError(
            f"{directory} already exists and is not empty; continue a study with "
            f"`nas compare --resume {directory}` or choose a new --out"
        )
    from nascore.rundir import atomic_write_bytes

    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(directory / STUDY_FILE, (json.dumps(study.to_dict(), indent=2) + "\n")
                       .encode())


def load_study(directory: Path) -> Study:
    """The study of ``directory`` (one-line error when it is not one)."""
    path = directory / STUDY_FILE
    if not path.is_file():
        raise RunDirError(f"{directory} is not a study directory (no {STUDY_FILE}); start one "
                          "with `nas compare --space S --strategies a,b --out DIR`")
    try:
        data = json.loads(path.read_text())
        if data.get("version") != STUDY_VERSION:
            raise ValueError(f"version {data.get('version')}, expected {STUDY_VERSION}")
        return Study.from_dict(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise RunDirError(f"{path} is corrupt ({exc}); restore it or start a new study") from None
