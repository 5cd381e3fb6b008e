"""The Constraint interface: ``low <= cost(arch) <= high`` for a resource metric.

Two faces: the exact :meth:`Constraint.measure` of a built network (discrete strategies, final
checks) and the differentiable :meth:`Constraint.expected` from a space's measured per-candidate
costs (one-shot strategies such as RC-DARTS).
"""

from __future__ import annotations

import contextlib
import re
import statistics
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import nn

from nascore.costs import CostTable, count_macs, count_params
from nascore.errors import ConfigError, InfeasibleError

if TYPE_CHECKING:
    from nascore.architecture import Architecture
    from nascore.space import SearchSpace

_UNITS = {"": 1.0, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6, "g": 1e9, "G": 1e9, "b": 1e9, "B": 1e9}
_NUMBER = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([kKmMgGbB]?)\s*$")


def parse_quantity(text: str) -> float:
    """Parse ``"2M"``, ``"600k"``, ``"1.8e5"`` into a number."""
    match = _NUMBER.match(text)
    if not match:
        raise ConfigError(f"cannot read {text!r} as a number (examples: 2M, 600k, 1.8e5)")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_bounds(text: str) -> tuple[float | None, float | None]:
    """Parse ``"LOW..HIGH"`` (either end optional) into ``(low, high)``."""
    low_text, sep, high_text = text.partition("..")
    if not sep:
        raise ConfigError(f"bounds must look like LOW..HIGH (either end optional), got {text!r}")
    low = parse_quantity(low_text) if low_text.strip() else None
    high = parse_quantity(high_text) if high_text.strip() else None
    if low is None and high is None:
        raise ConfigError(f"bounds {text!r} set neither a lower nor an upper end")
    if low is not None and high is not None and low > high:
        raise ConfigError(f"bounds {text!r} are empty: lower end above upper end")
    return low, high


class Constraint(ABC):
    """A bound on one metric. Subclasses set ``name`` and implement :meth:`measure`; ``metric``
    names the space cost table that gives the differentiable form one-shot strategies enforce
    (``None``: none, e.g. a measured latency)."""

    name: ClassVar[str]
    metric: ClassVar[str | None] = None
    #: Settings class of this constraint (``[constraint]`` keys ``NAME.KEY``, shown by ``nas
    #: config``), handed to :meth:`configure`; ``None``: no settings.
    config_cls: ClassVar[type | None] = None
    #: Whether the space's cost table only estimates the metric (e.g. latency), so
    #: ``result.json`` records its prediction beside the measured value.
    table_predicts: ClassVar[bool] = False
    #: Whether :meth:`measure` reads a noisy value (a timing), so two readings of one network
    #: can differ: a final network reading outside the bounds is read again and the median
    #: decides (:func:`final_pick`).
    noisy: ClassVar[bool] = False

    def __init__(self, low: float | None = None, high: float | None = None) -> None:
        if low is None and high is None:
            raise ConfigError(f"constraint {self.name} needs a lower or an upper bound")
        self.low, self.high = low, high

    @classmethod
    def from_spec(cls, bounds: str) -> Constraint:
        """Build from the ``LOW..HIGH`` part of ``--constraint NAME:LOW..HIGH``."""
        return cls(*parse_bounds(bounds))

    def spec(self) -> str:
        """The ``NAME:LOW..HIGH`` text of this constraint."""
        low = "" if self.low is None else f"{self.low:g}"
        high = "" if self.high is None else f"{self.high:g}"
        return f"{self.name}:{low}..{high}"

    def configure(self, config: Any, device: torch.device | None = None) -> None:
        """Take the settings (an instance of :attr:`config_cls`) and the run's device."""

    def measuring(self) -> contextlib.AbstractContextManager[Any]:
        """Context in which the space's cost table of :attr:`metric` is measured (e.g. with
        this constraint's latency meter)."""
        return contextlib.nullcontext()

    @abstractmethod
    def measure(self, network: nn.Module, example: torch.Tensor) -> float:
        """The exact cost of a built network on an example input batch of size 1."""

    def satisfied(self, value: float) -> bool:
        """Whether ``value`` lies within the bounds."""
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def expected(
        self,
        costs: CostTable,
        probs: Mapping[str, torch.Tensor],
        kept: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Differentiable expected cost under per-group candidate probabilities, over the kept
        edges (see :meth:`CostTable.expected`)."""
        return costs.expected(probs, kept)

    def violation(self, value: torch.Tensor) -> torch.Tensor:
        """``max(low - value, 0) + max(value - high, 0)`` (differentiable)."""
        zero = torch.zeros_like(value)
        low = zero if self.low is None else torch.clamp(self.low - value, min=0)
        high = zero if self.high is None else torch.clamp(value - self.high, min=0)
        return low + high


class ParamsConstraint(Constraint):
    """Number of parameters (auxiliary heads excluded)."""

    name = "params"
    metric = "params"

    def measure(self, network: nn.Module, example: torch.Tensor) -> float:
        return float(count_params(network, exclude=("auxiliary",)))


class FlopsConstraint(Constraint):
    """Multiply-adds of one forward pass at batch size 1."""

    name = "flops"
    metric = "flops"

    def measure(self, network: nn.Module, example: torch.Tensor) -> float:
        return float(count_macs(network, example))


def check_consistent(constraints: Sequence[Constraint]) -> None:
    """One-line :class:`~nascore.errors.InfeasibleError` for bounds on one metric that no value
    meets at once (``params:..3000`` with ``params:5000..``); needs no space, so it runs first."""
    for constraint in constraints:
        for other in constraints:
            if other.name == constraint.name and constraint.low is not None \
                    and other.high is not None and constraint.low > other.high:
                raise InfeasibleError(
                    f"constraints {other.spec()} and {constraint.spec()} contradict each other: "
                    "no network meets both; drop or widen one"
                )


def check_space_reaches(space: SearchSpace, constraints: Sequence[Constraint],
                        proxy: Mapping[str, Any] | None = None) -> None:
    """The one-shot reachability check (:func:`~nascore.oneshot.constraints.check_reachable`)
    for searches that measure built networks (discrete strategies): every bound on a metric
    the space has cost tables for (at the size ``proxy`` gives) must lie within the lowest and
    highest cost of the space's architectures; spaces without tables are not checked."""
    from nascore.oneshot.constraints import check_reachable, cost_tables

    if "cost" not in space.capabilities:
        return
    tabled = [c for c in constraints if c.metric in space.cost_metrics]
    if tabled:
        check_reachable(space, tabled, cost_tables(space, tabled, proxy or {}))


#: Further readings of a noisy constraint whose first reading of a final network misses its
#: bounds; the median of the readings decides (nascore's own choice: a majority of three).
RECHECKS = 2


def read_constraints(constraints: Sequence[Constraint], network: nn.Module,
                     example: torch.Tensor) -> dict[str, list[float]]:
    """Per constraint (``spec -> readings``), one reading of ``network``; :data:`RECHECKS`
    more of a :attr:`~Constraint.noisy` constraint whose first reading misses its bounds."""
    readings = {}
    for c in constraints:
        values = [c.measure(network, example)]
        if c.noisy and not c.satisfied(values[0]):
            values += [c.measure(network, example) for _ in range(RECHECKS)]
        readings[c.spec()] = values
    return readings


def final_pick(
    constraints: Sequence[Constraint],
    pick: Architecture,
    alternatives: Iterable[Architecture] | None,
    build: Callable[[Architecture], nn.Module],
    example: torch.Tensor,
    describe: Callable[[Architecture], str],
) -> tuple[Architecture, dict[str, list[float]], dict[str, Any] | None]:
    """The architecture a search ends with, its readings (:func:`read_constraints`) and what
    the check did (``None`` when the first readings of ``pick``'s network met every bound).

    A network meets a bound when the median of its readings does. When ``pick``'s misses one
    and the search ranks ``alternatives`` (its other evaluated architectures, best first), they
    are built and read in turn and the first that meets every bound replaces it; none meeting
    them is an :class:`~nascore.errors.InfeasibleError`. Without alternatives (``None``: a
    search that enforces its bounds otherwise, e.g. through cost tables) ``pick`` stays."""
    checked: list[dict[str, Any]] = []
    first: dict[str, list[float]] | None = None
    for rank, arch in enumerate([pick] if alternatives is None else
                                _chain(pick, alternatives), start=1):
        readings = read_constraints(constraints, build(arch), example)
        met = all(c.satisfied(statistics.median(readings[c.spec()])) for c in constraints)
        if rank == 1:
            first = readings
            if all(len(r) == 1 for r in readings.values()) and (met or alternatives is None):
                return arch, readings, None
        checked.append({"rank": rank, "text": describe(arch), "readings": readings, "met": met})
        if met or alternatives is None:
            return arch, readings, {"replaced": rank > 1, "checked": checked}
    bounds = ", ".join(c.spec() for c in constraints)
    values = "; ".join(f"{spec} {', '.join(f'{v:.4g}' for v in r)}"
                       for spec, r in (first or {}).items())
    raise InfeasibleError(
        f"no architecture this search evaluated meets {bounds} when its network is measured "
        f"at the end ({len(checked)} checked, best first; the pick read {values}): loosen the "
        "bound, leaving a margin for measurement noise, or search more (strategy.queries)"
    )


def _chain(pick: Architecture, alternatives: Iterable[Architecture]) -> Iterable[Architecture]:
    """``pick``, then the ``alternatives`` other than it."""
    yield pick
    yield from (a for a in alternatives if a.key() != pick.key())


def describe_recheck(record: Mapping[str, Any]) -> str:
    """One console line for a ``constraint_recheck`` record of ``result.json``."""

    def reads(entry: Mapping[str, Any]) -> str:
        return "; ".join(f"{spec} read {', '.join(f'{v:.4g}' for v in values)}"
                         for spec, values in entry["readings"].items())

    first, last = record["checked"][0], record["checked"][-1]
    if not record["replaced"]:
        verdict = "met by the median: kept" if first["met"] else "NOT met by the median"
        return f"the search's pick measured again ({reads(first)}): {verdict}"
    return (f"the search's pick misses the bounds when measured ({reads(first)}); took the "
            f"architecture ranked {last['rank']} instead ({reads(last)})")
