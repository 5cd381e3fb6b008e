"""One unit of a study, run on a worker: a search and its retraining, or a random architecture's
retraining. Every search and training is an ordinary run directory under
``STUDY/runs/<unit>/``; a unit that was interrupted continues its runs from their checkpoints,
and a finished unit (``unit.json`` written last) is not run again.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from nascore.architecture import Architecture
from nascore.compare.study import RANDOM_ROW, Row, Study, Unit
from nascore.engine import RESULT, Interrupted
from nascore.errors import NascoreError
from nascore.events import epoch_records
from nascore.rundir import atomic_write_bytes
from nascore.space import DataInfo

#: The file a finished unit writes last (its record for the report).
UNIT_FILE = "unit.json"
#: Input shape given to the space of a tabular study (its networks are never built).
TABULAR_INFO = DataInfo(3, 32, 10)
#: First entropy word of the random architectures' generators (the index is the second).
RANDOM_STREAM = 20_270


def unit_dir(directory: Path, unit: Unit) -> Path:
    return directory / "runs" / unit.name


def finished_record(directory: Path, unit: Unit) -> dict[str, Any] | None:
    """The unit's record when it has finished, else ``None``."""
    path = unit_dir(directory, unit) / UNIT_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _say(unit: Unit, message: str) -> None:
    """One progress line on stderr (from any worker process)."""
    print(f"[compare] {unit.name}: {message}", file=sys.stderr, flush=True)


def _run_cost(run_dir: Path) -> dict[str, float | None]:
    """Wall and CPU seconds of a run, summed over its epochs (an interrupted epoch is redone,
    so resumed runs count what an uninterrupted run would)."""
    epochs = epoch_records(run_dir)
    cpu = [e.get("cpu_seconds") for e in epochs]
    return {"wall_seconds": round(sum(e.get("seconds", 0.0) for e in epochs), 3),
            "cpu_seconds": round(sum(cpu), 3) if cpu and None not in cpu else None}


def search_tree(study: Study, row: Row, seed: int | None = None) -> dict[str, dict[str, Any]]:
    """The resolved config of ``row``'s search (with ``seed``, when given)."""
    from nascore.runner import resolve_config

    flags = {**study.flags, **({} if seed is None else {"seed": seed})}
    return resolve_config(row.strategy, row.space, flags, None,
                          [*study.search_overrides, *row.overrides])


def _search(study: Study, unit: Unit, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The search's record for the report and its run's config."""
    from nascore.rundir import RunDir
    from nascore.runner import resume_run, start_run

    row = study.row(unit.row)
    if not (path / RESULT).is_file():
        if (path / "run.json").is_file():
            _say(unit, f"continuing search {path}")
            resume_run(path, progress=False)
        else:
            _say(unit, f"searching ({row.strategy} on {row.space}, seed {unit.seed})")
            start_run(search_tree(study, row, unit.seed), path, progress=False)
    result = json.loads((path / RESULT).read_text())
    config = RunDir(path).meta["config"]
    epochs = epoch_records(path)
    return {"dir": str(path), "text": result["text"], **_run_cost(path),
            "valid_acc": epochs[-1].get("valid_acc") if epochs else None,
            "queries": config["strategy"].get("queries")}, config


def train_tree(study: Study, space: str, base: Mapping[str, Mapping[str, Any]] | None = None,
               seed: int | None = None) -> dict[str, dict[str, Any]]:
    """The resolved config of a retraining on ``space`` (``base``: the architecture's own
    data and space options), under the study's data flags and retraining settings."""
    from nascore.training.source import resolve_tree

    flags = {k: study.flags[k] for k in ("dataset", "data_dir", "device") if study.flags.get(k)}
    if seed is not None:
        flags["seed"] = seed
    return resolve_tree(base or {}, space, None, flags, list(study.train_overrides))


def random_architecture(study: Study, index: int, space_options: Mapping[str, Any],
                        info: Any) -> Architecture:
    """Random architecture ``index`` of the study's space (the same in every run of a study)."""
    from nascore.plugins import make_space

    space = make_space(study.space, space_options, info)
    return space.validate(space.sample(np.random.default_rng([RANDOM_STREAM, index])))


def _train(study: Study, unit: Unit, path: Path, source: Any) -> dict[str, Any]:
    from nascore.rundir import RunDir
    from nascore.training import resume_training, start_training

    if (path / RESULT).is_file():
        result = json.loads((path / RESULT).read_text())
    elif (path / "run.json").is_file():
        _say(unit, f"continuing training {path}")
        result = resume_training(RunDir.open(path), progress=False)
    else:
        base = {"data": dict(source.data_options), "space": dict(source.space_options)}
        tree = train_tree(study, source.space, base, unit.seed)
        _say(unit, "retraining")
        _run, result = start_training(tree, source, path, progress=False)
    costs = result.get("costs") or {}
    return {"dir": str(path), "test_acc": result["test_acc"], "valid_acc": result["valid_acc"],
            "best_valid_acc": result.get("best_valid_acc"), "params": costs.get("params"),
            "flops": costs.get("macs"), **_run_cost(path)}


def _random_source(study: Study, unit: Unit) -> Any:
    from nascore.config import build_config
    from nascore.data import DataConfig, load_datasets
    from nascore.training.source import ArchSource

    tree = train_tree(study, study.space)
    _train_set, _test_set, info = load_datasets(build_config(DataConfig, tree["data"], "data"))
    arch = random_architecture(study, unit.index or 0, tree["space"], info)
    return ArchSource(label=f"random:{unit.index}", name=unit.name, space=study.space, arch=arch,
                      space_options=tree["space"])


def _tabular(study: Study, arch: Architecture, estimator: Mapping[str, Any]) -> dict[str, Any]:
    """The table's 200-epoch test accuracy of ``arch`` (tabular studies train nothing) from the
    table and dataset of the ``estimator`` settings."""
    from nascore.estimators.nb201_table import load_table, test_column
    from nascore.plugins import make_space
    from nascore.spaces.nb201.cell import format_cell

    space = make_space(study.space, {}, TABULAR_INFO)
    accuracy = load_table(estimator.get("path")).value(format_cell(space.ops(arch)),
                                                       test_column(estimator["dataset"]))
    return {"test_acc": accuracy / 100, "params": None, "flops": None}


def _study_estimator(study: Study) -> dict[str, Any]:
    """The estimator settings every row shares (without any row's own overrides)."""
    return search_tree(study, attrs.evolve(study.rows[0], overrides=()))["estimator"]


def run_unit(job: tuple[Path, Study, Unit]) -> dict[str, Any]:
    """Run (or continue) one unit and write its record; failures come back as a record with
    ``error`` so that the other units still run."""
    directory, study, unit = job
    path = unit_dir(directory, unit)
    started = time.time()
    try:
        record: dict[str, Any] = {"unit": unit.name, "row": unit.row, "seed": unit.seed,
                                  "index": unit.index}
        if unit.row == RANDOM_ROW:
            if study.tabular:
                arch = random_architecture(study, unit.index or 0, {}, TABULAR_INFO)
                record["train"] = _tabular(study, arch, _study_estimator(study))
            else:
                source = _random_source(study, unit)
                arch = source.arch
                record["train"] = _train(study, unit, path / "train", source)
            record["text"] = arch.key()
        else:
            record["search"], config = _search(study, unit, path / "search")
            arch = Architecture.load(path / "search" / "architecture.json")
            record["text"] = record["search"]["text"]
            if study.tabular:
                record["train"] = _tabular(study, arch, config["estimator"])
            else:
                from nascore.training.source import from_run

                # one protocol for every row: no method's own recipe changes
                source = attrs.evolve(from_run(str(path / "search")), recipe={},
                                      default_out=None)
                record["train"] = _train(study, unit, path / "train", source)
    except Interrupted:
        raise
    except Exception as exc:  # reported in the study's report; other units go on
        message = str(exc) if isinstance(exc, NascoreError) else f"{type(exc).__name__}: {exc}"
        _say(unit, f"FAILED: {message}")
        return {"unit": unit.name, "row": unit.row, "seed": unit.seed, "error": message}
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path / UNIT_FILE, (json.dumps(record, indent=2) + "\n").encode())
    acc = record["train"]["test_acc"]
    _say(unit, f"done: test accuracy {acc:.4f} ({time.time() - started:.0f}s)")
    return record
