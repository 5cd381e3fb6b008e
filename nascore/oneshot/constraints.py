"""Constraint handlers: parts that enforce ``--constraint`` bounds during a one-shot search.

A handler sees the run's constraints and the space's per-candidate cost tables (measured at the
size the search runs). The core ships :class:`Penalty`; plugins add others (RC-DARTS's
projection) through the ``nascore_constraint_handlers`` hook. Every handler ends with the same
guarantee: the derivation scores are repaired (:func:`feasible_scores`) so that the derived
architecture meets every bound, measured exactly by the cost tables, or the run fails with
:class:`~nascore.errors.InfeasibleError`; and every handler records whether the search's own
derivation (the argmax of its scores) already met the bounds or which decisions the repair
changed (:class:`RepairRecord`, in ``result.json`` and on the console).

Helpers: :class:`ConstraintCosts` (the tables of the constrained metrics, expected and exact
costs, violations normalised by their bounds) and :func:`reachable_range` (the lowest and
highest cost the space's derivation rule can produce).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import torch

from nascore.config import field, non_negative
from nascore.constraint import Constraint
from nascore.costs import CostTable
from nascore.errors import IncompatibleError, InfeasibleError, MalformedArchitecture
from nascore.oneshot.part import Part

if TYPE_CHECKING:
    from nascore.space import DecisionGroup, SearchSpace

Scores = dict[str, torch.Tensor]


def _metric_of(constraint: Constraint) -> str:
    metric = constraint.metric
    if metric is None:
        raise IncompatibleError(
            f"constraint {constraint.name} has no differentiable form, so no one-shot strategy "
            "can enforce it; use a discrete strategy (e.g. --strategy evolution) or drop it"
        )
    return metric


def cost_tables(
    space: SearchSpace, constraints: Sequence[Constraint], proxy: Mapping[str, Any]
) -> dict[str, CostTable]:
    """The cost table of every constrained metric, with one-line errors for a space without
    tables or a metric it does not measure."""
    if "cost" not in space.capabilities:
        raise IncompatibleError(
            f"space {space.name} has no per-candidate cost tables, so one-shot strategies cannot "
            "enforce --constraint on it; use a discrete strategy or a space with costs"
        )
    tables = {}
    for constraint in constraints:
        metric = _metric_of(constraint)
        if metric not in space.cost_metrics:
            raise IncompatibleError(
                f"space {space.name} measures {', '.join(space.cost_metrics) or 'no metric'}, "
                f"not {metric} (constraint {constraint.spec()}); drop the constraint"
            )
        if metric not in tables:
            with constraint.measuring():
                tables[metric] = space.cost_table(metric, proxy)
    return tables


def reachable_range(space: SearchSpace, table: CostTable) -> tuple[float, float]:
    """The lowest and highest cost the space's derivation rule reaches: the costs of the
    architectures derived from the negated and the plain per-candidate costs."""
    low = table.exact(space.kept_mask(table.effective(-1.0)))
    high = table.exact(space.kept_mask(table.effective(1.0)))
    return low, high


def check_reachable(
    space: SearchSpace, constraints: Sequence[Constraint], tables: Mapping[str, CostTable]
) -> None:
    """One-line :class:`InfeasibleError` for a bound outside what the space can reach."""
    for constraint in constraints:
        low, high = reachable_range(space, tables[_metric_of(constraint)])
        outside = (constraint.high is not None and constraint.high < low) or (
            constraint.low is not None and constraint.low > high
        )
        if outside:
            raise InfeasibleError(
                f"constraint {constraint.spec()} is outside what space {space.name} reaches at "
                f"this size ({low:.6g}..{high:.6g}); choose bounds inside that range"
            )


class ConstraintCosts:
    """The constrained metrics' cost tables of one search, and costs and violations on them."""

    def __init__(
        self, space: SearchSpace, constraints: Sequence[Constraint], proxy: Mapping[str, Any]
    ) -> None:
        self.space = space
        self.constraints = list(constraints)
        self.tables = cost_tables(space, self.constraints, proxy)

    def table(self, constraint: Constraint) -> CostTable:
        """The cost table of ``constraint``'s metric."""
        return self.tables[_metric_of(constraint)]

    def expected(
        self, probs: Mapping[str, torch.Tensor], kept: Mapping[str, torch.Tensor]
    ) -> list[torch.Tensor]:
        """Per constraint, the differentiable expected cost over the kept edges (Eq. 6)."""
        return [self.table(c).expected(probs, kept) for c in self.constraints]

    def exact(self, kept: Mapping[str, torch.Tensor]) -> list[float]:
        """Per constraint, the exact cost of the architecture ``kept`` describes."""
        return [self.table(c).exact(kept) for c in self.constraints]

    def violation(self, values: Sequence[torch.Tensor | float]) -> torch.Tensor:
        """``sum_c (max(low_c - v_c, 0) + max(v_c - high_c, 0)) / bound_c``: each violation
        normalised by the bound it breaks."""
        total = torch.zeros((), dtype=torch.float64)
        for c, value in zip(self.constraints, values, strict=True):
            v = torch.as_tensor(value, dtype=torch.float64)
            if c.low is not None:
                total = total + torch.clamp(c.low - v, min=0) / max(abs(c.low), 1e-12)
            if c.high is not None:
                total = total + torch.clamp(v - c.high, min=0) / max(abs(c.high), 1e-12)
        return total


def _kept_or_none(space: SearchSpace, scores: Scores) -> dict[str, torch.Tensor] | None:
    try:
        return space.kept_mask(scores)
    except MalformedArchitecture:
        return None


def _chosen_score(scores: Scores, kept: Mapping[str, torch.Tensor]) -> float:
    return sum(float(scores[g][kept[g]].sum()) for g in kept if g in scores)


def _moves(scores: Scores, kept: Mapping[str, torch.Tensor]) -> Iterator[Scores]:
    """Trial scores: on every kept edge, each other unexcluded candidate made the edge's best
    by excluding the candidates scored at least as high (the chosen one included)."""
    for group, mask in kept.items():
        for edge, candidate in mask.nonzero().tolist():
            row = scores[group][edge]
            finite = torch.isfinite(row)
            for alternative in finite.nonzero().flatten().tolist():
                if alternative == candidate:
                    continue
                above = finite & (row >= row[alternative])
                above[alternative] = False
                trial = dict(scores)
                trial[group] = scores[group].clone()
                trial[group][edge, above] = float("-inf")
                yield trial


#: How far a derivation is from the bounds: ``(costs, exact values) -> number`` (0 inside).
Progress = Callable[["ConstraintCosts", Sequence[float]], float]


def _violation(costs: ConstraintCosts, values: Sequence[float]) -> float:
    return float(costs.violation(values))


def _towards_middle(costs: ConstraintCosts, values: Sequence[float]) -> float:
    """Per constraint, the normalised distance to the middle of a two-sided range, or the
    normalised violation of a one-sided bound."""
    total = 0.0
    for c, value in zip(costs.constraints, values, strict=True):
        if c.low is not None and c.high is not None:
            total += abs(value - (c.low + c.high) / 2) / max(abs(c.high), 1e-12)
        elif c.low is not None:
            total += max(c.low - value, 0.0) / max(abs(c.low), 1e-12)
        elif c.high is not None:
            total += max(value - c.high, 0.0) / max(abs(c.high), 1e-12)
    return total


def _greedy(
    scores: Scores, costs: ConstraintCosts, progress: Progress
) -> tuple[Scores, dict[str, torch.Tensor], float]:
    """Exclusion moves until the derivation meets every bound or no move lowers ``progress``;
    returns the scores, what they keep and the normalised violation left."""
    space = costs.space
    current = {g: s.clone() for g, s in scores.items()}
    kept = space.kept_mask(current)
    values = costs.exact(kept)
    violation, distance = float(costs.violation(values)), progress(costs, values)
    limit = sum(int(torch.isfinite(s).sum()) for s in current.values())
    for _ in range(limit):
        if violation <= 0:
            break
        base = _chosen_score(current, kept)
        best: tuple[float, Scores, dict[str, torch.Tensor], list[float]] | None = None
        for trial in _moves(current, kept):
            trial_kept = _kept_or_none(space, trial)
            if trial_kept is None:
                continue
            trial_values = costs.exact(trial_kept)
            gain = distance - progress(costs, trial_values)
            if gain <= 0:
                continue
            lost = max(base - _chosen_score(trial, trial_kept), 0.0)
            value = gain / (lost + 1e-9)
            if best is None or value > best[0]:
                best = (value, trial, trial_kept, trial_values)
        if best is None:
            break
        _, current, kept, values = best
        violation, distance = float(costs.violation(values)), progress(costs, values)
    return current, kept, violation


def feasible_scores(scores: Scores, costs: ConstraintCosts) -> Scores:
    """``scores`` with candidates excluded (``-inf``) until the derivation meets every bound.

    Greedy: while the derived architecture violates a bound, take the move that lowers the
    normalised violation the most per unit of lost score (the sum of the chosen candidates'
    scores). A move makes another candidate the choice of a kept edge by excluding those scored
    at least as high (so it also reaches candidates behind others of the same cost, and drops
    edges whose ops are all excluded). When no move helps, the greedy starts again aiming at the
    middle of two-sided bounds (it then gets stuck less at the edge of one bound while another
    is violated). Raises :class:`InfeasibleError` when that fails too.
    """
    attempts = []
    for progress in (_violation, _towards_middle):
        current, kept, violation = _greedy(scores, costs, progress)
        if violation <= 0:
            return current
        attempts.append((violation, kept))
    _, closest = min(attempts, key=lambda attempt: attempt[0])
    found = ", ".join(
        f"{c.name} {v:.6g}" for c, v in zip(costs.constraints, costs.exact(closest), strict=True)
    )
    bounds = ", ".join(c.spec() for c in costs.constraints)
    raise InfeasibleError(
        f"no architecture derivable from this search meets {bounds} (closest: {found}); "
        "loosen the bounds"
    )


@attrs.frozen
class RepairRecord:
    """What the feasible derivation (:func:`feasible_scores`) did to the search's own one.

    ``argmax_met``: whether the derivation from the unrepaired scores (the argmax
    architecture) met every bound; ``argmax`` and ``derived``: each constraint's exact cost
    (``spec -> value``) before and after the repair; ``changed``: one entry per edge whose
    choice the repair changed, ``{"group", "edge", "from", "to"}`` (candidate names; ``None``
    where the edge was not kept).
    """

    argmax_met: bool
    argmax: dict[str, float]
    derived: dict[str, float]
    changed: tuple[dict[str, Any], ...] = attrs.field(converter=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``result.json``'s ``constraint_repair``)."""
        return attrs.asdict(self, value_serializer=lambda _i, _a, v: (
            list(v) if isinstance(v, tuple) else v))

    def describe(self) -> str:
        """One line for the console (:func:`describe_repair`)."""
        return describe_repair(self.to_dict())


def describe_repair(record: Mapping[str, Any]) -> str:
    """One console line for a ``constraint_repair`` record of ``result.json``."""
    argmax = ", ".join(f"{spec} {value:.6g}" for spec, value in record["argmax"].items())
    if record.get("expected"):
        argmax += "; expected " + ", ".join(f"{v:.6g}" for v in record["expected"].values())
    if record["argmax_met"]:
        return f"argmax architecture meets the bounds ({argmax}): not repaired"
    edits = ", ".join(f"{c['group']} {c['edge']}: {c['from']} -> {c['to']}"
                      for c in record["changed"])
    return (f"argmax architecture misses the bounds ({argmax}); the repair changed "
            f"{len(record['changed'])} edge(s): {edits}")


def repair_record(
    costs: ConstraintCosts, before: Scores, after: Scores,
    groups: Sequence[DecisionGroup] = (),
) -> RepairRecord:
    """The :class:`RepairRecord` of the derivation scores ``before`` and ``after`` the repair
    (``groups`` name the edges and candidates; indices where a group is not given)."""
    named = {g.name: g for g in groups}
    kept_before = costs.space.kept_mask(before)
    kept_after = costs.space.kept_mask(after)
    specs = [c.spec() for c in costs.constraints]
    argmax = dict(zip(specs, costs.exact(kept_before), strict=True))
    changed = []
    for name, mask in kept_after.items():
        old = kept_before[name]
        group = named.get(name)
        for edge in (old != mask).any(dim=1).nonzero().flatten().tolist():
            picks = [
                (int(m[edge].nonzero()[0]) if bool(m[edge].any()) else None) for m in (old, mask)
            ]
            changed.append({
                "group": name,
                "edge": group.edges[edge] if group else edge,
                **{key: (group.candidates[i] if group else i) if i is not None else None
                   for key, i in zip(("from", "to"), picks, strict=True)},
            })
    return RepairRecord(
        argmax_met=float(costs.violation(list(argmax.values()))) <= 0,
        argmax=argmax,
        derived=dict(zip(specs, costs.exact(kept_after), strict=True)),
        changed=changed,
    )


class ConstraintHandler(Part):
    """Base of constraint handlers: the cost tables of the run's constraints, the kept-edge
    expected costs, and the feasible derivation (see the module docstring)."""

    is_constraint_handler: ClassVar[bool] = True

    def __init__(self, search: Any) -> None:
        super().__init__(search)
        space = search.context.space
        self.costs = ConstraintCosts(space, search.context.constraints, search.cost_options())
        check_reachable(space, self.costs.constraints, self.costs.tables)
        #: What the last repair of the derivation scores did (``None`` before any).
        self.repair: RepairRecord | None = None

    def kept(self) -> dict[str, torch.Tensor]:
        """What the derivation keeps now (by the search's scores before any handler)."""
        return self.search.context.space.kept_mask(self.search.scores(handlers=False))

    def expected_costs(self) -> list[torch.Tensor]:
        """Per constraint, the differentiable expected cost of the current parameters."""
        return self.costs.expected(self.search.probabilities(), self.kept())

    def scores(self, scores: Scores) -> Scores:
        """The scores, repaired so that the derived architecture meets every bound (what the
        repair did is kept in :attr:`repair`)."""
        repaired = feasible_scores(scores, self.costs)
        self.repair = repair_record(self.costs, scores, repaired, self.search.groups)
        return repaired

    def derivation_report(self) -> dict[str, Any]:
        """``constraint_repair``: the last :class:`RepairRecord` with this handler's name and
        each constraint's expected cost (Eq. 6-style) at the end."""
        if self.repair is None:
            return {}
        with torch.no_grad():
            expected = [float(e) for e in self.expected_costs()]
        specs = [c.spec() for c in self.costs.constraints]
        return {"constraint_repair": {
            "handler": self.name, **self.repair.to_dict(),
            "expected": dict(zip(specs, expected, strict=True)),
        }}

    def end_epoch(self, epoch: int, metrics: dict[str, Any]) -> None:
        """Report each constraint's expected cost and the derived architecture's exact one."""
        with torch.no_grad():
            expected = self.expected_costs()
        exact = self.costs.exact(self.kept())
        metrics["constraints"] = {
            c.spec(): {"expected": float(e), "derived": v, "satisfied": c.satisfied(v)}
            for c, e, v in zip(self.costs.constraints, expected, exact, strict=True)
        }


@attrs.frozen
class PenaltyConfig:
    """Settings of the core's ``penalty`` constraint handler (nascore's own, no paper)."""

    penalty_weight: float = field(
        1.0, "weight of the normalised bound violation of the expected cost in the arch loss",
        validator=non_negative,
    )


class Penalty(ConstraintHandler):
    """A differentiable penalty on the expected cost over the kept edges: ``penalty_weight``
    times the normalised violation is added to every architecture step's loss."""

    name = "penalty"
    config_cls = PenaltyConfig

    def loss_term(self, split: str, selections: Mapping[str, Any]) -> torch.Tensor | None:
        if split != "arch" or self.config.penalty_weight == 0:
            return None
        violation = self.costs.violation(self.expected_costs())
        return (self.config.penalty_weight * violation).float()
