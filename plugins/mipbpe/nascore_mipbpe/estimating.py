"""The one place where the plugin asks a core estimator about architectures under a budget.

Today's core estimators read their budget from ``SearchContext.budget`` when they are built, so
:func:`estimate_many` builds a copy of the estimator whose context carries ``budget`` and asks it
about each architecture in turn. When the core offers
``Estimator.estimate_many(archs, budget=None)`` (order-preserving, parallel when an executor is
configured), the body becomes ``estimator.estimate_many(archs, budget=budget)`` with the
divergence rule below kept.

A training that diverges (:class:`nascore.NonFiniteLossError`) scores 0: the network predicts
nothing, and r_s ranks it last instead of the whole budget search stopping.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from nascore import Architecture, Budget, Estimate, Estimator, NonFiniteLossError


def estimate_many(
    estimator: Estimator, archs: Sequence[Architecture], budget: Budget
) -> list[Estimate]:
    """Estimates of ``archs`` (in order) under ``budget``."""
    scoped = type(estimator)(estimator.config, attrs.evolve(estimator.context, budget=budget))
    estimates = []
    for arch in archs:
        try:
            estimates.append(scoped.estimate(arch))
        except NonFiniteLossError:
            estimates.append(Estimate(score=0.0, report={"diverged": 1.0}))
    return estimates
