"""The shared base of discrete strategies: ask for candidates, query an estimator, keep the best.

A discrete search spends a budget of estimator *queries* (every call counts, repeats included),
optionally cut short by a wall-clock ``time_limit``. It asks for ``batch_size`` candidates at a
time (:meth:`DiscreteStrategy.ask`, by default ``propose`` once per candidate), estimates them
together (``Estimator.estimate_many``: in parallel on the run's executor's workers) and observes
the results in the order asked. Results therefore depend on the seed and the batch size only,
never on how many workers there are; random search does not depend on the batch size either.
Each observed query is one step of the engine loop (one yielded item), ``queries_per_epoch``
steps make an epoch, and a batch never spans two epochs.

Constraints act as filters: only architectures whose built network satisfies every bound are
proposed (measured once per architecture); a proposal loop that finds nothing feasible in
``max_tries`` raises :class:`~nascore.errors.InfeasibleError`. A measured (noisy) constraint
such as latency can read a network differently at the end: the run then ends with the best
queried architecture (:meth:`DiscreteStrategy.ranked`) whose network meets every bound when
measured again (:func:`~nascore.constraint.final_pick`). All randomness comes from one
seeded numpy Generator whose state is part of :meth:`DiscreteStrategy.state_dict`, as is the batch
asked for but not yet observed (with its estimates once they are in), so a search resumes
exactly at any query, and a batch whose evaluation failed is evaluated again when resumed.

A zero-cost warm-up (``warmup_proxy``, off by default) scores ``warmup_samples`` random feasible
candidates with another estimator, looked up by name (a training-free proxy such as ``synflow``
from the zerocost plugin), before the first query, and proposes the ``warmup_top`` best of them
first, best first: they seed evolution's population or are the first samples of any other
strategy (Abdelfattah et al., ICLR 2021, "Zero-Cost Proxies for Lightweight NAS", Sec. 5). The
proxy's scores cost no queries; the candidates still to be proposed are part of the state.
"""

from __future__ import annotations

import logging
import math
import time
from abc import abstractmethod
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
import numpy as np
import torch

from nascore.architecture import Architecture
from nascore.config import field, positive
from nascore.context import SearchContext
from nascore.errors import IncompatibleError, InfeasibleError, MalformedArchitecture, NascoreError
from nascore.estimator import Estimate
from nascore.strategy import Strategy


@attrs.frozen
class DiscreteConfig:
    """Budget and constraint handling common to all discrete strategies."""

    queries: int = field(
        100, "estimator queries (repeated architectures count)", validator=positive
    )
    time_limit: float | None = field(
        None,
        "stop after this many seconds of search (None: only the query budget)",
        validator=positive,
    )
    queries_per_epoch: int = field(
        10, "queries per epoch (progress/summary unit)", validator=positive
    )
    max_tries: int = field(
        200,
        "proposals tried per query before the constraints are declared infeasible",
        validator=positive,
    )
    batch_size: int = field(
        1,
        "candidates asked for at once; their estimates run in parallel on the executor's "
        "workers (executor.workers) and are observed in the order asked, so results depend on "
        "the seed and this batch size, never on the workers (random search: on the seed only)",
        validator=positive,
    )
    preset: str | None = field(None, "named preset of this strategy's settings (see its docs)")
    warmup_proxy: str | None = field(
        None,
        "estimator (by name, e.g. synflow) scoring warmup_samples random candidates before the "
        "search; its best are proposed first (Abdelfattah et al., ICLR 2021, Sec. 5); None: no "
        "warm-up",
    )
    warmup_samples: int = field(
        3000,
        "random candidates the warm-up proxy scores (Abdelfattah et al., ICLR 2021, Sec. 5: "
        "3000 on NAS-Bench-201)",
        validator=positive,
    )
    warmup_top: int | None = field(
        None,
        "warm-up candidates proposed first, best first (None: strategy.population when the "
        "strategy has one, as the paper seeds evolution's population, else 1)",
        validator=positive,
    )


@attrs.frozen
class Query:
    """One evaluated architecture."""

    arch: Architecture
    score: float
    report: Mapping[str, float] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for state dicts)."""
        return {"arch": self.arch.to_dict(), "score": self.score, "report": dict(self.report)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Query:
        """Inverse of :meth:`to_dict`."""
        return cls(Architecture.from_dict(data["arch"]), float(data["score"]), data["report"])


@attrs.define
class _DiscreteState:
    """What :class:`DiscreteStrategy` keeps for itself (one attribute, ``_nascore_discrete``, so
    a subclass may use any ordinary attribute name)."""

    pending: list[Architecture] = attrs.field(factory=list)
    pending_estimates: list[Estimate] = attrs.field(factory=list)
    elapsed: float = 0.0
    costs: dict[str, dict[str, float]] = attrs.field(factory=dict)
    warmup: list[Architecture] | None = None


class _View:
    """A read-only view of a field of ``_nascore_discrete``. It has no setter, so a subclass
    assigning the same name gets an attribute of its own and the base keeps its state."""

    def __init__(self, field: str, doc: str) -> None:
        self.field, self.__doc__ = field, doc

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        return self if obj is None else getattr(obj._nascore_discrete, self.field)


#: The key of the base's own entries in :meth:`DiscreteStrategy.state_dict`.
STATE_KEY = "_nascore_discrete"


class DiscreteStrategy(Strategy):
    """Base of ``random``, ``evolution`` and ``reinforce``.

    Subclasses implement :meth:`propose` (the next architecture, usually through
    :meth:`first_feasible`) and may override :meth:`ask` (a whole batch at once), :meth:`observe`
    (learn from a query's result; called in ask order once the batch is estimated) and extend
    :meth:`state_dict` / :meth:`load_state_dict`. The base's attributes are ``space``, ``rng``,
    ``history``, ``best`` and the read-only ``pending``, ``asked`` and ``elapsed``; everything
    else it keeps is in ``_nascore_discrete`` (its state dict entries under :data:`STATE_KEY`),
    so a subclass may name its own attributes and state dict keys freely (assigning ``pending``
    or ``elapsed`` gives the subclass an attribute of its own).
    """

    pending = _View("pending", "Candidates asked for and not yet observed (read-only).")
    pending_estimates = _View("pending_estimates", "Estimates of ``pending`` received so far.")
    elapsed = _View("elapsed", "Seconds of search so far (what ``time_limit`` bounds).")

    kind = "discrete"
    needs_estimator = True
    config_cls = DiscreteConfig

    def __init__(self, config: DiscreteConfig, context: SearchContext) -> None:
        super().__init__(config, context)
        if context.estimator is None:
            raise IncompatibleError(f"strategy {self.name} needs an estimator; pass --estimator")
        if context.constraints and "network" not in context.space.capabilities:
            raise IncompatibleError(
                f"space {context.space.name} cannot build networks, so strategy {self.name} "
                "cannot check constraints; drop --constraint"
            )
        self.space = context.space
        self.rng = np.random.default_rng(context.seed)
        self.history: list[Query] = []
        self.best: int | None = None
        self._nascore_discrete = _DiscreteState()
        workers = 1 if context.executor is None else context.executor.workers
        if workers > config.batch_size:
            logging.getLogger("nascore").warning(
                f"executor.workers is {workers} but strategy.batch_size is {config.batch_size}: "
                f"at most {config.batch_size} candidate(s) run at a time; set "
                f"strategy.batch_size={workers} to keep every worker busy"
            )

    # -- engine interface -------------------------------------------------------------------
    @property
    def num_epochs(self) -> int:
        return math.ceil(self.config.queries / self.config.queries_per_epoch)

    def steps_per_epoch(self, epoch: int) -> int:
        per_epoch = self.config.queries_per_epoch
        return max(0, min(per_epoch, self.config.queries - epoch * per_epoch))

    def run_epoch(self, epoch: int, start_step: int = 0) -> Iterator[Mapping[str, float]]:
        """Ask, estimate and observe batches until the epoch's queries are made; one item per
        observed query (a resumed epoch continues from the history and the pending batch)."""
        own = self._nascore_discrete
        end = min(self.config.queries, (epoch + 1) * self.config.queries_per_epoch)
        while len(self.history) < end:
            started = time.monotonic()
            if not own.pending:
                if self.finished():
                    return
                count = min(self.config.batch_size, end - len(self.history))
                if own.warmup is None:
                    own.warmup = self._nascore_warmup() if not self.history else []
                own.pending.extend(own.warmup[:count])
                del own.warmup[:count]
                if count > len(own.pending):
                    self.ask(count - len(own.pending))
            if len(own.pending_estimates) < len(own.pending):
                own.pending_estimates = self.context.estimator.estimate_many(own.pending)
            index = self._nascore_record(own.pending.pop(0), own.pending_estimates.pop(0))
            self.observe(index)
            own.elapsed += time.monotonic() - started
            yield {"score": self.history[index].score, "best": self.best_score}

    def finished(self) -> bool:
        limit = self.config.time_limit
        return limit is not None and self._nascore_discrete.elapsed >= limit

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        summary: dict[str, Any] = {"queries": len(self.history)}
        if self.best is not None:
            summary.update(best_score=self.best_score, best=self.space.format(self.derive()))
        return summary

    def derive(self) -> Architecture:
        """The best-scoring architecture queried so far (the first one on ties)."""
        if self.best is None:
            raise NascoreError(f"strategy {self.name} has not evaluated any architecture yet")
        return self.history[self.best].arch

    def ranked(self) -> list[Architecture]:
        """Every architecture queried, best score first (ties: the first queried first; a
        repeated one at its best score); the run ends with the first whose network meets
        every bound when measured at the end (:func:`~nascore.constraint.final_pick`)."""
        order = sorted(range(len(self.history)), key=lambda i: (
            math.isnan(self.history[i].score), -self.history[i].score))
        found: dict[str, Architecture] = {}
        for i in order:
            found.setdefault(self.history[i].arch.key(), self.history[i].arch)
        return list(found.values())

    @property
    def best_score(self) -> float:
        """Score of :meth:`derive` (``-inf`` before the first query)."""
        return -math.inf if self.best is None else self.history[self.best].score

    # -- for subclasses ---------------------------------------------------------------------
    @property
    def asked(self) -> int:
        """Candidates proposed so far: the history and the pending batch."""
        return len(self.history) + len(self._nascore_discrete.pending)

    def ask(self, count: int) -> None:
        """Append ``count`` candidates to ``pending`` (default: :meth:`propose` for each; a
        proposal sees the ones before it in ``pending``, not their results)."""
        for _ in range(count):
            self._nascore_discrete.pending.append(self.propose())

    @abstractmethod
    def propose(self) -> Architecture:
        """The next architecture to query."""

    def observe(self, index: int) -> None:
        """Learn from ``self.history[index]``, the query just recorded (default: nothing)."""

    def first_feasible(self, make: Callable[[], Architecture]) -> Architecture:
        """Call ``make`` until it returns a valid architecture meeting every constraint."""
        for _ in range(self.config.max_tries):
            try:
                arch = make()
            except MalformedArchitecture:
                continue
            if self.feasible(arch):
                return arch
        bounds = ", ".join(c.spec() for c in self.context.constraints) or "validity"
        raise InfeasibleError(
            f"strategy {self.name} found no architecture meeting {bounds} in "
            f"{self.config.max_tries} tries; loosen the bound or raise strategy.max_tries"
        )

    def feasible(self, arch: Architecture) -> bool:
        """Whether the built network of ``arch`` meets every constraint (measured once)."""
        return all(c.satisfied(self.costs(arch)[c.name]) for c in self.context.constraints)

    def costs(self, arch: Architecture) -> dict[str, float]:
        """Measured value of every constrained metric for ``arch`` (cached per architecture)."""
        if not self.context.constraints:
            return {}
        key, known = arch.key(), self._nascore_discrete.costs
        if key not in known:
            info = self.space.data
            example = torch.zeros(1, info.in_channels, info.image_size, info.image_size)
            network = self.space.build_network(arch)
            known[key] = {c.name: c.measure(network, example) for c in self.context.constraints}
        return known[key]

    def evaluate(self, arch: Architecture) -> int:
        """Query the estimator about one architecture, record and log the result; return its
        history index."""
        return self._nascore_record(arch, self.context.estimator.estimate(arch))

    def _nascore_record(self, arch: Architecture, estimate: Estimate) -> int:
        """Add a query's result to the history and the event log; return its index."""
        index = self._nascore_remember(Query(arch, float(estimate.score), dict(estimate.report)))
        self.context.events.log(
            {
                "type": "query",
                "query": index,
                "arch": self.space.format(arch),
                "score": estimate.score,
                "best": self.best_score,
                **estimate.report,
                **self.costs(arch),
            },
            step=index,
        )
        return index

    def _nascore_remember(self, query: Query) -> int:
        self.history.append(query)
        index = len(self.history) - 1
        if self.best is None or query.score > self.best_score:
            self.best = index
        return index

    def _nascore_warmup(self) -> list[Architecture]:
        """The warm-up's candidates, best first (none without ``warmup_proxy``)."""
        name = self.config.warmup_proxy
        if name is None:
            return []
        from nascore.config import build_config
        from nascore.plugins import registry

        cls = registry().get("estimator", name)
        missing = (set(cls.requires) | {"sample"}) - set(self.space.capabilities)
        if missing:
            raise IncompatibleError(
                f"the warm-up proxy {name} needs a space with {', '.join(sorted(missing))}, "
                f"which space {self.space.name} lacks; drop strategy.warmup_proxy"
            )
        context = attrs.evolve(self.context, estimator=None, budget=None, executor=None)
        proxy = cls(build_config(cls.config_cls, {}, "estimator"), context)
        found: dict[str, Architecture] = {}
        for _ in range(self.config.warmup_samples):
            arch = self.first_feasible(lambda: self.space.sample(self.rng))
            found.setdefault(arch.key(), arch)
        candidates = list(found.values())
        scores = [e.score for e in proxy.estimate_many(candidates)]
        order = sorted(range(len(candidates)), key=lambda i: -scores[i])
        top = self.config.warmup_top or getattr(self.config, "population", 1)
        chosen = [candidates[i] for i in order[:top]]
        self.context.events.log({
            "type": "warmup", "proxy": name, "scored": len(candidates),
            "best": self.space.format(chosen[0]), "best_proxy_score": scores[order[0]],
        })
        return chosen

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The base's state under :data:`STATE_KEY` (a subclass adds keys of its own)."""
        own = self._nascore_discrete
        return {STATE_KEY: {
            "history": [q.to_dict() for q in self.history],
            "rng": self.rng.bit_generator.state,
            "elapsed": own.elapsed,
            "pending": [a.to_dict() for a in own.pending],
            "pending_estimates": [attrs.asdict(e) for e in own.pending_estimates],
            "warmup": None if own.warmup is None else [a.to_dict() for a in own.warmup],
        }}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`state_dict` (also reads the flat layout of earlier checkpoints)."""
        base = state.get(STATE_KEY, state)
        self.history, self.best = [], None
        for q in base["history"]:
            self._nascore_remember(Query.from_dict(q))
        self.rng.bit_generator.state = dict(base["rng"])
        self._nascore_discrete = _DiscreteState(
            [Architecture.from_dict(a) for a in base.get("pending", [])],
            [Estimate(**e) for e in base.get("pending_estimates", [])],
            float(base["elapsed"]),
            self._nascore_discrete.costs,
            None if base.get("warmup") is None
            else [Architecture.from_dict(a) for a in base["warmup"]],
        )


def run_search(strategy: Strategy) -> Architecture:
    """Drive ``strategy`` through the engine loop to the end, in memory (no checkpoints)."""
    for epoch in range(strategy.num_epochs):
        for _ in strategy.run_epoch(epoch):
            pass
        strategy.end_epoch(epoch)
        if strategy.finished():
            break
    return strategy.derive()
