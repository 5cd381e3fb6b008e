"""The one place where the plugin asks a core estimator about architectures under a budget.

:func:`estimate_many` calls the core's ``Estimator.estimate_many(archs, budget=...)``
(order-preserving; parallel when an executor is configured). A training that diverges
(:class:`nascore.NonFiniteLossError`) scores 0: the network predicts nothing, and r_s ranks it
last instead of the whole budget search stopping; the other architectures of the call are then
estimated one by one so that their results are kept.
"""

from __future__ import annotations

from collections.abc import Sequence

from nascore import Architecture, Budget, Estimate, Estimator, NonFiniteLossError

#: The estimate of a diverged training.
DIVERGED = Estimate(score=0.0, report={"diverged": 1.0})


def estimate_many(
    estimator: Estimator, archs: Sequence[Architecture], budget: Budget
) -> list[Estimate]:
    """Estimates of ``archs`` (in order) under ``budget``."""
    try:
        return estimator.estimate_many(archs, budget=budget)
    except NonFiniteLossError:
        estimates = []
        for arch in archs:
            try:
                estimates.append(estimator.estimate(arch, budget))
            except NonFiniteLossError:
                estimates.append(DIVERGED)
        return estimates
