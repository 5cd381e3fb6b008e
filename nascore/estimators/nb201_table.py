"""The NAS-Bench-201 table: 15,625 cells with their accuracies (no training, no torch).

One row per cell string with the 200-epoch test accuracy and the 12-epoch validation/test
accuracies on CIFAR-10, CIFAR-100 and ImageNet16-120, as published by the NATS-Bench topology
benchmark (Dong et al.; assembled from two public derived tables, see ``shared/data/README.md``).
nascore ships it gzipped; ``$NASCORE_NB201_CSV`` or ``estimator.path`` point at another copy.
"""

from __future__ import annotations

import csv
import functools
import gzip
import os
from collections.abc import Mapping
from pathlib import Path

import attrs
import numpy as np

from nascore.errors import DataError

DATASETS = ("cifar10", "cifar100", "imagenet16")
ENV_VAR = "NASCORE_NB201_CSV"
#: The table shipped with nascore (gzip of the NATS-Bench topology results, see the docstring).
PACKAGED_PATH = Path(__file__).with_name("nb201.csv.gz")


def signal_column(dataset: str) -> str:
    """The column used as search signal: 12-epoch validation accuracy."""
    return f"{dataset}_val_12"


def test_column(dataset: str) -> str:
    """The column reported as final result: 200-epoch test accuracy."""
    return f"{dataset}_test_200"


def resolve_path(path: str | None = None) -> Path:
    """Where the table is: ``path`` if given, else ``$NASCORE_NB201_CSV``, else the table
    shipped with nascore; :class:`DataError` if that file does not exist."""
    if path:
        source, chosen = "the path option", Path(path).expanduser()
    elif os.environ.get(ENV_VAR):
        source, chosen = f"${ENV_VAR}", Path(os.environ[ENV_VAR]).expanduser()
    else:
        source, chosen = "the table shipped with nascore", PACKAGED_PATH
    if not chosen.is_file():
        raise DataError(
            f"NAS-Bench-201 table not found at {chosen} ({source}); set estimator.path or "
            f"the {ENV_VAR} environment variable to the nb201.csv file"
        )
    return chosen


@attrs.frozen
class NB201Table:
    """The benchmark table: row index per cell string and one float array per column."""

    rows: Mapping[str, int]
    columns: Mapping[str, np.ndarray]

    def row(self, cell: str) -> int:
        """Row of a cell string (every valid cell is in the table)."""
        try:
            return self.rows[cell]
        except KeyError:
            raise DataError(f"cell {cell} is not in the NAS-Bench-201 table") from None

    def value(self, cell: str, column: str) -> float:
        """One entry of the table."""
        return float(self.columns[column][self.row(cell)])


def load_table(path: str | None = None) -> NB201Table:
    """The NB201 table (read once per resolved path); see :func:`resolve_path`."""
    return _read_table(str(resolve_path(path)))


@functools.lru_cache(maxsize=4)
def _read_table(path: str) -> NB201Table:
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, [])
            records = list(reader)
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read the NAS-Bench-201 table {path}: {exc}") from None
    needed = ["index", "arch"] + [c(d) for d in DATASETS for c in (signal_column, test_column)]
    missing = [c for c in needed if c not in header]
    if missing:
        raise DataError(f"{path} is not an NB201 table: column {missing[0]} is missing")
    arch_col = header.index("arch")
    columns = {
        name: np.array([float(r[k]) for r in records])
        for k, name in enumerate(header)
        if k != arch_col
    }
    return NB201Table(rows={r[arch_col]: n for n, r in enumerate(records)}, columns=columns)
