"""Tables of budgets and per-architecture accuracies: what ``nas bpe analyze`` reads.

A :class:`BudgetTable` holds, for one sample of architectures, the accuracies under each of a
set of budgets, their final accuracies (the full training setting) and the mean training time
per architecture under each budget. Readers turn files into tables; :data:`READERS` lists them
by format name, and :func:`read_table` picks the first whose ``detect`` accepts the path.

Format ``released``: the MIP-BPE authors' measurements as converted in ``shared/data/mipbpe``, a
directory with ``budgets.csv`` (``task``, the hyper-parameter columns, ``mean_gpu_hours``,
``reported_spearman``) and ``accuracies.csv`` (``arch``, ``genotype``, ``final_acc``, one column
per task). The architectures are DARTS cells trained on CIFAR-10.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import attrs
import numpy as np

from nascore import DataError, DataInfo, UsageError

#: Budget fields a table may vary, in the order the released table lists them.
HYPERPARAMETERS = (
    "epochs", "batch_size", "lr", "layers", "precision", "channels", "cutout", "image_size",
)


@attrs.frozen
class BudgetTable:
    """Budgets (rows of ``values``, one column per name of ``names``) evaluated on one sample of
    architectures. ``accuracies`` is ``[budgets, architectures]``, ``final`` the final accuracy
    of each architecture, ``hours`` the mean training hours per architecture of each budget;
    ``reported`` holds r_s values published with the table (or ``None``). ``space``, ``data``
    and ``architectures`` (text forms) say where the networks come from, for measuring costs."""

    names: tuple[str, ...]
    ids: tuple[str, ...]
    values: np.ndarray
    accuracies: np.ndarray
    final: np.ndarray
    hours: np.ndarray
    reported: np.ndarray | None = None
    space: str | None = None
    data: DataInfo | None = None
    architectures: tuple[str, ...] = ()

    def budget(self, row: int) -> dict[str, int | float]:
        """The hyper-parameters of budget ``row`` (integers where the value is whole)."""
        return {name: _number(v) for name, v in zip(self.names, self.values[row], strict=True)}

    def grid(self) -> dict[str, list[int | float]]:
        """Every hyper-parameter's distinct values, ascending."""
        return {
            name: [_number(v) for v in np.unique(self.values[:, k])]
            for k, name in enumerate(self.names)
        }


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else float(value)


@attrs.frozen
class Reader:
    """A table format: ``detect(path)`` says whether ``read(path)`` understands it."""

    detect: Callable[[Path], bool]
    read: Callable[[Path], BudgetTable]


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as fh:
            return list(csv.DictReader(fh))
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror}") from None


def _float(row: dict[str, str], column: str, path: Path) -> float:
    try:
        return float(row[column])
    except KeyError:
        raise DataError(f"{path} has no column {column!r}") from None
    except (TypeError, ValueError):
        raise DataError(f"{path}: {column!r} is not a number: {row[column]!r}") from None


def read_released(path: Path) -> BudgetTable:
    """The ``released`` format (see the module docstring)."""
    budgets_csv, accuracies_csv = path / "budgets.csv", path / "accuracies.csv"
    budgets, archs = _read_csv(budgets_csv), _read_csv(accuracies_csv)
    if not budgets or not archs:
        raise DataError(f"{path} holds no budgets or no architectures")
    ids = tuple(row["task"] for row in budgets)
    missing = [task for task in ids if task not in archs[0]]
    if missing:
        raise DataError(f"{accuracies_csv} has no column for budget {missing[0]!r}")
    return BudgetTable(
        names=HYPERPARAMETERS,
        ids=ids,
        values=np.array([[_float(r, n, budgets_csv) for n in HYPERPARAMETERS] for r in budgets]),
        accuracies=np.array([[_float(a, task, accuracies_csv) for a in archs] for task in ids]),
        final=np.array([_float(a, "final_acc", accuracies_csv) for a in archs]),
        hours=np.array([_float(r, "mean_gpu_hours", budgets_csv) for r in budgets]),
        reported=np.array([_float(r, "reported_spearman", budgets_csv) for r in budgets]),
        space="darts",
        data=DataInfo(in_channels=3, image_size=32, num_classes=10),
        architectures=tuple(a["genotype"] for a in archs),
    )


def _is_released(path: Path) -> bool:
    return (path / "budgets.csv").is_file() and (path / "accuracies.csv").is_file()


#: Table formats by name, tried in this order by ``format="auto"``.
READERS: dict[str, Reader] = {"released": Reader(_is_released, read_released)}


def read_table(path: str | Path, format: str = "auto") -> BudgetTable:
    """Read a budget table in ``format`` (``auto``: the first reader that recognises it)."""
    target = Path(path).expanduser()
    if not target.exists():
        raise DataError(f"budget table {target} does not exist")
    if format != "auto":
        if format not in READERS:
            raise UsageError(
                f"unknown table format {format!r}; formats: auto, {', '.join(READERS)}"
            )
        return READERS[format].read(target)
    for reader in READERS.values():
        if reader.detect(target):
            return reader.read(target)
    raise DataError(
        f"{target} is not a known budget table (formats: {', '.join(READERS)}: a directory "
        "with budgets.csv and accuracies.csv)"
    )
