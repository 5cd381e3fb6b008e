"""The ``nb201`` estimator: NAS-Bench-201 accuracies looked up in a table (no training).

The table (:mod:`nascore.estimators.nb201_table`) holds one row per cell string with the
200-epoch test accuracy and the 12-epoch validation/test accuracies on CIFAR-10, CIFAR-100 and
ImageNet16-120. The search signal (:attr:`Estimate.score`) is the 12-epoch *validation* accuracy of
the chosen dataset; the 200-epoch test accuracy is reported but never used for selection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from nascore.architecture import Architecture
from nascore.config import field, one_of
from nascore.errors import ConfigError, IncompatibleError
from nascore.estimator import Estimate, Estimator
from nascore.estimators.nb201_table import (
    DATASETS,
    ENV_VAR,
    load_table,
    signal_column,
    test_column,
)
from nascore.spaces.nb201.cell import format_cell
from nascore.spaces.nb201.space import NB201Space

if TYPE_CHECKING:
    from nascore.budget import Budget
    from nascore.context import SearchContext

#: Training epochs of the table's search signal (the 12-epoch schedule).
TABLE_EPOCHS = 12


@attrs.frozen
class NB201EstimatorConfig:
    """Which table and which dataset's accuracies."""

    dataset: str = field("cifar10", "cifar10 | cifar100 | imagenet16", validator=one_of(*DATASETS))
    path: str | None = field(
        None, f"an nb201.csv(.gz) table (default: ${ENV_VAR}, else the table shipped with nascore)"
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
