"""Estimates on an executor's workers: each worker rebuilds the search's estimator once.

:class:`EstimatorSpec` is what a worker needs to build the same estimator as the search's,
found through the registry (so an estimator, space or budget from a plugin works unchanged):
the names and configs of the estimator and the space, the data config and seed, the budget and
the device. :class:`EstimateTask` estimates one candidate with the worker's copy and returns the
estimate with the events it logged, which :func:`estimate_on_workers` writes to the run's event
log in candidate order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from nascore.architecture import Architecture
from nascore.budget import Budget
from nascore.config import build_config, config_to_dict
from nascore.errors import CandidateError
from nascore.executors.base import TaskFailed

if TYPE_CHECKING:
    from nascore.estimator import Estimate, Estimator

#: Estimators a worker has built, by spec (a worker serves one search, so this stays small).
_BUILT: dict[str, Estimator] = {}


@attrs.frozen
class EstimatorSpec:
    """How to build an estimator again in another process (see the module docstring)."""

    estimator: str
    estimator_config: Mapping[str, Any]
    space: str
    space_config: Mapping[str, Any]
    data_info: Mapping[str, Any]
    data_config: Mapping[str, Any] | None
    seed: int
    device: str
    budget: Mapping[str, Any] | None

    @classmethod
    def of(cls, estimator: Estimator) -> EstimatorSpec:
        """The spec of a live estimator."""
        context = estimator.context
        return cls(
            estimator=estimator.name,
            estimator_config=config_to_dict(estimator.config),
            space=context.space.name,
            space_config=config_to_dict(context.space.config),
            data_info=attrs.asdict(context.space.data),
            data_config=None if context.data is None else config_to_dict(context.data.config),
            seed=context.seed,
            device=context.device.type,
            budget=None if context.budget is None else config_to_dict(context.budget),
        )

    def key(self) -> str:
        """A string identifying the spec."""
        return json.dumps(attrs.asdict(self), sort_keys=True, default=str)

    def build(self) -> Estimator:
        """The estimator, its space, data and context, built from the registry."""
        from nascore.context import SearchContext, device_of
        from nascore.data import DataConfig, SearchData
        from nascore.events import EventLog
        from nascore.plugins import registry
        from nascore.space import DataInfo

        reg = registry()
        data = None
        if self.data_config is not None:
            data = SearchData(build_config(DataConfig, self.data_config, "data"), self.seed)
        space_cls = reg.get("space", self.space)
        space = space_cls(build_config(space_cls.config_cls, self.space_config, "space"),
                          DataInfo(**self.data_info))
        context = SearchContext(
            space=space, seed=self.seed, device=device_of(self.device), events=EventLog(),
            data=data,
            budget=None if self.budget is None else build_config(Budget, self.budget, "budget"),
        )
        cls = reg.get("estimator", self.estimator)
        return cls(build_config(cls.config_cls, self.estimator_config, "estimator"), context)


@attrs.frozen
class EstimateTask:
    """One estimate on a worker: ``task((arch dict, budget dict or None))`` returns the
    estimate and the event records the estimator logged for it."""

    spec: EstimatorSpec

    def __call__(self, item: tuple[Mapping[str, Any], Mapping[str, Any] | None]
                 ) -> tuple[Estimate, list[dict[str, Any]]]:
        key = self.spec.key()
        if key not in _BUILT:
            _BUILT.clear()
            _BUILT[key] = self.spec.build()
        estimator = _BUILT[key]
        arch_data, budget_data = item
        budget = None if budget_data is None else build_config(Budget, budget_data, "budget")
        records = estimator.context.events.records
        records.clear()
        estimate = estimator.estimate(Architecture.from_dict(arch_data), budget)
        logged = list(records)
        records.clear()
        return estimate, logged


def estimate_on_workers(estimator: Estimator, archs: Sequence[Architecture],
                        budget: Budget | None = None) -> list[Estimate]:
    """``estimator``'s estimates of ``archs`` (in order) on its context's executor."""
    context = estimator.context
    task = EstimateTask(EstimatorSpec.of(estimator))
    budget_data = None if budget is None else config_to_dict(budget)
    try:
        outcomes = context.executor.map(task, [(a.to_dict(), budget_data) for a in archs])
    except TaskFailed as failed:
        candidate = context.space.format(archs[failed.index])
        rebuilt = failed.failure.nascore_error()
        if rebuilt is not None:
            rebuilt.args = (f"candidate {candidate}: {rebuilt}",)
            raise rebuilt from None
        raise CandidateError(
            f"estimating candidate {candidate} failed on a worker: {failed.failure.summary()}"
        ) from None
    for _estimate, logged in outcomes:
        for record in logged:
            context.events.log(record)
    return [estimate for estimate, _logged in outcomes]
