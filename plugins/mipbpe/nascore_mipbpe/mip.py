"""Minimum Importance Pruning (Algorithm 1 of MIP-BPE) as a resumable loop over an evaluator.

Each round draws up to K new budgets by Eq. 2 (:mod:`.sampling`), has the *evaluator* score the
fixed architecture sample G under each (accuracies and mean seconds per architecture), adds
``(budget, r_s)`` to D, fits a random forest on D (:mod:`.importance`) and fixes the least
important free hyper-parameter by Eq. 9 (:mod:`.pruning`; among values of equal FLOPs the
cheapest is the one with the lowest measured seconds per unit of FLOPs in D). Rounds go on until
one free hyper-parameter is left; that last one is explored by a final round. The forest sees every
hyper-parameter of the grid (D holds budgets from before each was fixed); Eq. 9 chooses among the
free ones. The result is the budget of D with the best Eq. 1 objective (:mod:`.objective`; with
the default weight 0, the best r_s).

The evaluator is any callable ``budget -> Evaluation``: a table lookup, a synthetic function, a
tabular benchmark or live training. :class:`MIPState` holds everything the loop knows (D, the
fixed values, the pending budgets of the round and the sampler's RNG) as JSON-ready data, and
the loop reports every change through ``on_event``, so a caller can checkpoint after each budget
and resume with the same outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import attrs
import numpy as np
from numpy.typing import ArrayLike

import nascore
from nascore.config import non_negative, positive
from nascore_mipbpe.budget_objective import objective
from nascore_mipbpe.importance import hyperparameter_importances
from nascore_mipbpe.pruning import THRESHOLD, choose_fix
from nascore_mipbpe.ranking import spearman
from nascore_mipbpe.sampling import (
    Cost,
    Grid,
    budget_key,
    cheapest_value,
    sample_budgets,
    value_probabilities,
)

PHASES = ("sample", "evaluate", "fit", "done")
SECONDS_PER_HOUR = 3600.0


@attrs.frozen
class Evaluation:
    """What an evaluator says about one budget: the accuracy of every architecture of G (in G's
    order) and the mean seconds one architecture's training took."""

    accuracies: tuple[float, ...] = attrs.field(converter=lambda v: tuple(float(a) for a in v))
    seconds: float = 0.0


class Evaluator(Protocol):
    """Scores the architecture sample G under a budget (a mapping hyper-parameter -> value)."""

    def __call__(self, budget: Mapping[str, Any]) -> Evaluation: ...


@attrs.frozen
class MIPSettings:
    """The knobs of Algorithm 1."""

    samples: int = nascore.field(
        10, "budgets sampled per round, K (source: paper, Sec. 4.2: K = 10)", validator=positive
    )
    threshold: float = nascore.field(
        THRESHOLD, "Eq. 9: below this importance a hyper-parameter is fixed to its cheapest "
        "value, else to its value in the best budget of D (source: paper, Eq. 9)",
        validator=non_negative,
    )
    trees: int = nascore.field(
        100, "trees of the random forest (the paper gives none; scikit-learn's default)",
        validator=positive,
    )
    time_weight: float = nascore.field(
        0.0, "lambda of Eq. 1 per hour of mean training time, as a penalty (the paper gives "
        "0 < lambda < 1 but no value; Algorithm 1 ranks by r_s alone, hence 0)",
        validator=non_negative,
    )


@attrs.define
class MIPState:
    """Everything the loop knows, as JSON-ready data (see :meth:`to_dict`).

    ``records`` is D: one dict per evaluated budget with ``budget``, ``r_s``, ``seconds``,
    ``round`` and ``accuracies``. ``fixes`` holds one dict per pruning step (``round``,
    ``name``, ``value``, ``rule``, ``importance``, ``importances``).
    """

    grid: dict[str, list[Any]]
    fixed: dict[str, Any]
    rng: dict[str, Any]
    records: list[dict[str, Any]] = attrs.field(factory=list)
    pending: list[dict[str, Any]] = attrs.field(factory=list)
    fixes: list[dict[str, Any]] = attrs.field(factory=list)
    round: int = 0
    phase: str = "sample"

    @classmethod
    def start(cls, grid: Grid, seed: int) -> MIPState:
        """A fresh state; single-valued hyper-parameters start fixed."""
        if not grid:
            raise ValueError("the budget grid is empty")
        empty = [name for name, options in grid.items() if not options]
        if empty:
            raise ValueError(f"hyper-parameter {empty[0]!r} has no values in the grid")
        return cls(
            grid={name: list(options) for name, options in grid.items()},
            fixed={name: options[0] for name, options in grid.items() if len(options) == 1},
            rng=np.random.default_rng(seed).bit_generator.state,
        )

    def to_dict(self) -> dict[str, Any]:
        """The state as plain data (JSON-ready)."""
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MIPState:
        """Inverse of :meth:`to_dict`."""
        state = cls(**data)
        if state.phase not in PHASES:
            raise ValueError(f"unknown MIP phase {state.phase!r}")
        return state


class MinimumImportancePruning:
    """Algorithm 1 over ``grid`` (hyper-parameter -> values) for an architecture sample whose
    final accuracies are ``final``; ``cost`` prices a budget for Eq. 2 and Eq. 9."""

    def __init__(
        self,
        grid: Grid,
        final: ArrayLike,
        cost: Cost,
        settings: MIPSettings | None = None,
        seed: int = 0,
        state: MIPState | None = None,
    ) -> None:
        self.final = np.asarray(final, dtype=float)
        self.cost = cost
        self.settings = settings or MIPSettings()
        self.seed = seed
        self.state = state if state is not None else MIPState.start(grid, seed)
        if self.state.grid != {name: list(options) for name, options in grid.items()}:
            raise ValueError("the saved MIP state was made for another budget grid")
        self.names = list(self.state.grid)
        self.rng = np.random.default_rng()
        self.rng.bit_generator.state = self.state.rng

    @property
    def free(self) -> list[str]:
        """Hyper-parameters not fixed yet, in grid order."""
        return [name for name in self.names if name not in self.state.fixed]

    def run(
        self, evaluate: Evaluator, on_event: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        """Continue from the current phase until done; return the best record of D.

        ``on_event`` gets a dict after every change of the state (``type`` ``bpe_sampled``,
        ``bpe_budget``, ``bpe_fix`` or ``bpe_done``); the state is consistent at that moment.
        """
        notify = on_event or (lambda _event: None)
        steps = {"sample": self._sample, "evaluate": self._evaluate, "fit": self._fit}
        while self.state.phase != "done":
            steps[self.state.phase](evaluate, notify)
        return self.best()

    def best(self) -> dict[str, Any]:
        """The record of D with the highest Eq. 1 objective (first of ties)."""
        if not self.state.records:
            raise ValueError("no budget has been evaluated yet")
        return self.state.records[int(np.argmax(self.objectives()))]

    def objectives(self) -> np.ndarray:
        """Eq. 1 of every record of D."""
        records = self.state.records
        return objective(
            [r["r_s"] for r in records],
            [r["seconds"] / SECONDS_PER_HOUR for r in records],
            self.settings.time_weight,
        )

    def _sample(self, _evaluate: Evaluator, notify: Callable[[dict[str, Any]], None]) -> None:
        state = self.state
        probabilities = value_probabilities(state.grid, self.cost, state.fixed)
        seen = {budget_key(r["budget"], self.names) for r in state.records}
        state.pending = sample_budgets(
            state.grid, probabilities, state.fixed, self.settings.samples, self.rng, seen
        )
        state.rng = self.rng.bit_generator.state
        state.phase = "evaluate"
        notify({
            "type": "bpe_sampled", "round": state.round, "budgets": list(state.pending),
            "free": self.free,
            "probabilities": {name: p.round(6).tolist() for name, p in probabilities.items()},
        })

    def _evaluate(self, evaluate: Evaluator, notify: Callable[[dict[str, Any]], None]) -> None:
        state = self.state
        while state.pending:
            budget = state.pending[0]
            result = evaluate(budget)
            if len(result.accuracies) != len(self.final):
                raise ValueError(
                    f"the evaluator scored {len(result.accuracies)} architectures, "
                    f"expected {len(self.final)}"
                )
            record = {
                "budget": dict(budget), "r_s": spearman(result.accuracies, self.final),
                "seconds": float(result.seconds), "round": state.round,
                "accuracies": list(result.accuracies),
            }
            state.records.append(record)
            state.pending.pop(0)
            notify({"type": "bpe_budget", "left": len(state.pending),
                    **{k: v for k, v in record.items() if k != "accuracies"}})
        state.phase = "fit"

    def _fit(self, _evaluate: Evaluator, notify: Callable[[dict[str, Any]], None]) -> None:
        state, free = self.state, self.free
        if len(free) <= 1:
            state.phase = "done"
            notify({"type": "bpe_done", "best": {k: v for k, v in self.best().items()
                                                 if k != "accuracies"}})
            return
        x = [[r["budget"][name] for name in self.names] for r in state.records]
        y = [r["r_s"] for r in state.records]
        values = hyperparameter_importances(
            x, y, self.settings.trees, self.seed + state.round
        )
        importances = {name: float(v) for name, v in zip(self.names, values, strict=True)}
        best = max(state.records, key=lambda r: r["r_s"])
        measured = [(r["budget"], r["seconds"]) for r in state.records]
        fix = choose_fix(
            importances, free,
            cheapest=lambda name: cheapest_value(
                state.grid, self.cost, state.fixed, name, measured
            ),
            best_budget=best["budget"], threshold=self.settings.threshold,
        )
        state.fixed[fix.name] = fix.value
        step = {"round": state.round, **attrs.asdict(fix), "importances": importances}
        state.fixes.append(step)
        state.round += 1
        state.phase = "sample"
        notify({"type": "bpe_fix", **step})
