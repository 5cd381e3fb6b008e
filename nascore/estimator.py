"""The Estimator interface: how good is an architecture?"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from nascore.architecture import Architecture
from nascore.context import SearchContext

if TYPE_CHECKING:
    from nascore.budget import Budget


@attrs.frozen
class Estimate:
    """The result of one evaluation.

    ``score`` is the search signal (higher is better); ``report`` holds numbers that are shown but
    never used for selection (e.g. a benchmark's final test accuracy).
    """

    score: float
    cost_seconds: float = 0.0
    params: float | None = None
    flops: float | None = None
    report: Mapping[str, float] = attrs.field(factory=dict)


class Estimator(ABC):
    """Scores architectures. Class attributes: ``name``, ``config_cls``, ``requires`` (space
    capabilities), ``parallel`` (whether :meth:`estimate_many` may send the work to the run's
    executor; ``False`` for lookups that cost less than sending them)."""

    name: ClassVar[str]
    config_cls: ClassVar[type]
    requires: ClassVar[frozenset[str]] = frozenset()
    parallel: ClassVar[bool] = True

    def __init__(self, config: Any, context: SearchContext) -> None:
        self.config = config
        self.context = context

    @abstractmethod
    def estimate(self, arch: Architecture, budget: Budget | None = None) -> Estimate:
        """Evaluate ``arch`` under ``budget`` (``None``: the run's budget, or the estimator's
        default); an estimator that cannot honour a budget refuses it with a one-line error."""

    def estimate_many(
        self, archs: Sequence[Architecture], budget: Budget | None = None
    ) -> list[Estimate]:
        """:meth:`estimate` of every architecture, in order.

        With a parallel executor in the context (and ``parallel`` set), each worker builds the
        same estimator from the registry (plugins included) and this estimator's configuration,
        the estimates run there and the events they log come back to this run's event log;
        otherwise they run here, one after another. A worker's failure is a one-line
        :class:`~nascore.errors.CandidateError` naming the candidate (a
        :class:`~nascore.errors.NascoreError` keeps its class).
        """
        executor = self.context.executor
        if executor is None or not executor.parallel or not self.parallel:
            return [self.estimate(arch, budget) for arch in archs]
        from nascore.executors.estimation import estimate_on_workers

        return estimate_on_workers(self, archs, budget)

    def state_dict(self) -> dict[str, Any]:
        """Stateless by default."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""
