"""Evaluating a fixed architecture sample G under budgets with a core estimator.

:class:`SampleEvaluator` is the evaluator of Algorithm 1 for live training (``train``) and for
tabular benchmarks (``nb201``): it estimates every architecture of G under a budget, in chunks
through :func:`~nascore_mipbpe.estimating.estimate_many`, and keeps each estimate in an
:class:`EstimateCache` so that a resumed search never estimates an architecture twice under the
same budget.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nascore import Architecture, Budget, DataError, Estimator
from nascore.config import config_to_dict
from nascore_mipbpe.estimating import estimate_many
from nascore_mipbpe.mip import Evaluation

#: At most one progress line per this many seconds while a budget is being estimated.
PROGRESS_SECONDS = 10.0


def budget_id(budget: Budget) -> str:
    """A canonical string of every field of ``budget``."""
    return json.dumps(config_to_dict(budget), sort_keys=True)


class EstimateCache:
    """Estimates by (budget, architecture index), appended to a JSON-lines file when ``path``
    is given (a line cut short by a crash is ignored when reading)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self.entries: dict[tuple[str, int], dict[str, Any]] = {}
        if self.path is not None and self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[(entry["budget"], int(entry["arch"]))] = entry
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue

    def get(self, budget: str, arch: int) -> dict[str, Any] | None:
        """The stored estimate (``score``, ``seconds``, ``report``) or ``None``."""
        return self.entries.get((budget, arch))

    def add(self, budget: str, arch: int, score: float, seconds: float,
            report: Mapping[str, float]) -> None:
        """Store one estimate (and append it to the file)."""
        entry = {"budget": budget, "arch": arch, "score": float(score),
                 "seconds": float(seconds), "report": {k: float(v) for k, v in report.items()}}
        self.entries[(budget, arch)] = entry
        if self.path is not None:
            with self.path.open("a") as fh:
                fh.write(json.dumps(entry) + "\n")


class SampleEvaluator:
    """Scores the architectures ``archs`` under budgets given as hyper-parameter mappings on top
    of ``base``; ``chunk`` architectures go to the estimator per call (and per cache write)."""

    def __init__(
        self,
        estimator: Estimator,
        archs: Sequence[Architecture],
        base: Budget,
        cache: EstimateCache | None = None,
        chunk: int = 10,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.estimator = estimator
        self.archs = list(archs)
        self.base = base
        self.cache = cache or EstimateCache()
        self.chunk = max(1, chunk)
        self.progress = progress or (lambda _message: None)
        self._last_progress = time.monotonic()

    def budget(self, values: Mapping[str, Any]) -> Budget:
        """The full budget of a hyper-parameter mapping."""
        return self.base.evolve(**values)

    def estimates(self, budget: Budget) -> list[dict[str, Any]]:
        """The estimate of every architecture under ``budget`` (cached ones are reused)."""
        key = budget_id(budget)
        todo = [i for i in range(len(self.archs)) if self.cache.get(key, i) is None]
        for start in range(0, len(todo), self.chunk):
            indices = todo[start:start + self.chunk]
            results = estimate_many(self.estimator, [self.archs[i] for i in indices], budget)
            for index, estimate in zip(indices, results, strict=True):
                self.cache.add(key, index, estimate.score, estimate.cost_seconds,
                               estimate.report)
            if time.monotonic() - self._last_progress >= PROGRESS_SECONDS:
                done = len(self.archs) - len(todo) + start + len(indices)
                self.progress(f"  estimated {done}/{len(self.archs)} architectures")
                self._last_progress = time.monotonic()
        return [self.cache.get(key, i) for i in range(len(self.archs))]  # type: ignore[misc]

    def __call__(self, values: Mapping[str, Any]) -> Evaluation:
        found = self.estimates(self.budget(values))
        return Evaluation(
            accuracies=[e["score"] for e in found],
            seconds=float(np.mean([e["seconds"] for e in found])),
        )

    def scores(self, budget: Budget) -> list[float]:
        """The score of every architecture under ``budget``."""
        return [e["score"] for e in self.estimates(budget)]

    def reported(self, key: str) -> list[float]:
        """The estimator's report value ``key`` of every architecture under the base budget
        (e.g. ``test_200`` of the ``nb201`` table: the final accuracy)."""
        found = self.estimates(self.base)
        missing = [e for e in found if key not in e["report"]]
        if missing:
            available = ", ".join(sorted(missing[0]["report"])) or "nothing"
            raise DataError(
                f"estimator '{self.estimator.name}' reports no {key!r} (it reports "
                f"{available}); choose another --final"
            )
        return [e["report"][key] for e in found]
