"""The ``nb201`` estimator: NAS-Bench-201 accuracies looked up in a table (no training).

The table is ``nb201.csv`` (see ``shared/data/README.md``): one row per cell string with the
200-epoch test accuracy and the 12-epoch validation/test accuracies on CIFAR-10, CIFAR-100 and
ImageNet16-120. The search signal (:attr:`Estimate.score`) is the 12-epoch *validation* accuracy of
the chosen dataset; the 200-epoch test accuracy is reported but never used for selection.
"""

from __future__ import annotations

import csv
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from nascore.architecture import Architecture
from nascore.config import field, one_of
from nascore.errors import ConfigError, DataError, IncompatibleError
from nascore.estimator import Estimate, Estimator
from nascore.spaces.nb201.cell import format_cell
from nascore.spaces.nb201.space import NB201Space

if TYPE_CHECKING:
    from nascore.budget import Budget
    from nascore.context import SearchContext

DATASETS = ("cifar10", "cifar100", "imagenet16")
ENV_VAR = "NASCORE_NB201_CSV"
_REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PATH = _REPO_ROOT.parent / "shared" / "data" / "nb201.csv"


def signal_column(dataset: str) -> str:
    """The column used as search signal: 12-epoch validation accuracy."""
    return f"{dataset}_val_12"


def test_column(dataset: str) -> str:
    """The column reported as final result: 200-epoch test accuracy."""
    return f"{dataset}_test_200"


def resolve_path(path: str | None = None) -> Path:
    """Where the table is: ``path`` if given, else ``$NASCORE_NB201_CSV``, else
    ``<repo root>/../shared/data/nb201.csv``; :class:`DataError` if that file does not exist."""
    if path:
        source, chosen = "the path option", Path(path).expanduser()
    elif os.environ.get(ENV_VAR):
        source, chosen = f"${ENV_VAR}", Path(os.environ[ENV_VAR]).expanduser()
    else:
        source, chosen = "the default location", DEFAULT_PATH
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
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        records = list(reader)
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


#: Training epochs of the table's search signal (the 12-epoch schedule).
TABLE_EPOCHS = 12


@attrs.frozen
class NB201EstimatorConfig:
    """Which table and which dataset's accuracies."""

    dataset: str = field("cifar10", "cifar10 | cifar100 | imagenet16", validator=one_of(*DATASETS))
    path: str | None = field(
        None, f"nb201.csv (default: ${ENV_VAR}, else ../shared/data/nb201.csv beside the repo)"
    )


class NB201Estimator(Estimator):
    """Tabular NAS-Bench-201 lookup; counts every query (repeats included) in ``queries``."""

    name = "nb201"
    config_cls = NB201EstimatorConfig
    parallel = False  # a table lookup costs microseconds; it also counts queries here

    def __init__(self, config: NB201EstimatorConfig, context: SearchContext) -> None:
        super().__init__(config, context)
        if not isinstance(context.space, NB201Space):
            raise IncompatibleError(
                f"estimator nb201 scores only architectures of space nb201, not "
                f"'{context.space.name}'; use --space nb201"
            )
        self.table = load_table(config.path)
        self.signal = self.table.columns[signal_column(config.dataset)]
        self.test = self.table.columns[test_column(config.dataset)]
        self.index = self.table.columns["index"]
        self.queries = 0

    def estimate(self, arch: Architecture, budget: Budget | None = None) -> Estimate:
        """Score = 12-epoch validation accuracy; report = 200-epoch test accuracy and index.

        The table holds the 12-epoch schedule only: a budget of other epochs is refused."""
        if budget is not None and budget.epochs != TABLE_EPOCHS:
            raise ConfigError(
                f"the NAS-Bench-201 table answers {TABLE_EPOCHS}-epoch budgets only, not "
                f"{budget.epochs} epochs; set budget.epochs={TABLE_EPOCHS} or use --estimator train"
            )
        row = self.table.row(format_cell(self.context.space.ops(arch)))
        self.queries += 1
        return Estimate(
            score=float(self.signal[row]),
            report={"test_200": float(self.test[row]), "index": float(self.index[row])},
        )

    def state_dict(self) -> dict[str, Any]:
        return {"queries": self.queries}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.queries = int(state["queries"])
