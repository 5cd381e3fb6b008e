"""RC-DARTS's iterative projection (Algorithm 1, Eq. 6-8) as the constraint handler
``projection``.

The search alternates two phases. **Phase I**: ``e_u`` ordinary iterations of the one-shot loop
(a weights step and an architecture step each); the first Phase I may be longer (warm start).
**Phase II**: the architecture parameters ``theta`` of every group the cost tables cover are
replaced by their projection onto the feasible set (Eq. 7),

    min_{theta_p}  1/2 ||theta - theta_p||^2
                   + lambda * sum_m ( max(C_L^m - Phi_m(theta_p), 0)
                                      + max(Phi_m(theta_p) - C_H^m, 0) )

(Eq. 8, one ``lambda`` for every bound, each violation divided by the bound it breaks), solved
from ``theta_p = theta`` with a fresh Adam for at most ``e_p`` steps, stopping as soon as every
expected cost ``Phi_m`` lies inside its bounds. ``Phi_m`` is Eq. 6: the cost table's per-op
costs times the softmax, summed over the edges the derivation rule keeps (recomputed from
``theta_p`` at every step, honouring pruning masks and edge normalisation), plus the fixed cost
of the rest of the network. ``lambda`` decays exponentially with the epochs, and at the end of
training it is 0 (Sec. 3.2.2: "At the end of training, lambda -> 0 and theta_p := theta"): the
last Phase II, after the last epoch, leaves theta as the last Phase I left it.

As every nascore constraint handler, the derivation is finally repaired so that the derived
network meets every bound (:class:`nascore.oneshot.ConstraintHandler`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import torch

from nascore import ConfigError
from nascore.config import field, positive
from nascore.oneshot import ConstraintCosts, ConstraintHandler, StepRecord
from nascore.oneshot.sampling import masked_softmax

_PAPER = "RC-DARTS, Sec. 4.1"
Tensors = dict[str, torch.Tensor]


def _betas(_inst: Any, attribute: attrs.Attribute, value: tuple[float, ...]) -> None:
    if len(value) != 2 or not all(0.0 <= b < 1.0 for b in value):
        raise ConfigError(f"{attribute.name} must be two numbers in [0, 1), got {value!r}")


def _decay(_inst: Any, attribute: attrs.Attribute, value: float) -> None:
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"{attribute.name} must be in (0, 1], got {value!r}")


@attrs.frozen
class ProjectionConfig:
    """Settings of the ``projection`` constraint handler (RC-DARTS, Algorithm 1)."""

    phase1_steps: int = field(
        150, f"e_u: Phase I iterations (weights + architecture step) between two projections "
        f"[{_PAPER}: 150]", validator=positive,
    )
    warm_start_steps: int | None = field(
        None, "Phase I iterations before the first projection (the warm start: RC-DARTS, Sec. "
        "3.2.1, makes the first Phase I longer but gives no length); None: 2 * phase1_steps, "
        "nascore's choice", validator=positive,
    )
    projection_steps: int = field(
        500, f"e_p: at most this many Adam steps per projection (Phase II), fewer once the "
        f"expected costs are feasible [{_PAPER}: 500]", validator=positive,
    )
    projection_lr: float = field(3e-4, f"Adam learning rate of the projection [{_PAPER}: 3e-4]",
                                 validator=positive)
    projection_betas: tuple[float, float] = field(
        (0.5, 0.999), f"Adam betas of the projection (no weight decay) [{_PAPER}: (0.5, 0.999)]",
        validator=_betas,
    )
    lambda_start: float = field(
        100.0, "lambda of Eq. 8 in the first epoch, the same for every bound, on violations "
        "divided by their bounds; nascore's choice (not published): lambda times the typical "
        "gradient of a normalised cost (~3e-3 at C=16, 8 cells) lets theta_p leave theta by "
        "~0.3, more than e_p Adam steps travel", validator=positive,
    )
    lambda_decay: float = field(
        0.9, "lambda is multiplied by this once per epoch (RC-DARTS, Sec. 3.2.2: lambda "
        "diminishes exponentially towards 0; the rate is nascore's choice, not published: "
        "0.9 leaves 0.6% of lambda_start after 50 epochs)", validator=_decay,
    )


def lambda_at(epoch: int, start: float, decay: float) -> float:
    """``lambda`` of ``epoch`` (0-based) during training: ``start * decay ** epoch`` (the
    Phase II after the last epoch runs at 0, see :meth:`Projection.end_epoch`)."""
    return start * decay**epoch


@attrs.frozen
class ProjectionResult:
    """One Phase II: Adam steps taken, whether the expected costs ended feasible, the normalised
    violation before and after, the seconds it took, the ``lambda`` it ran at and each
    constraint's expected cost (Eq. 6) before and after."""

    steps: int
    feasible: bool
    violation_before: float
    violation_after: float
    seconds: float
    lam: float | None = None
    expected_before: tuple[float, ...] = attrs.field(default=(), converter=tuple)
    expected_after: tuple[float, ...] = attrs.field(default=(), converter=tuple)


def project(
    theta: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor],
    costs: ConstraintCosts,
    kept_of: Callable[[Tensors], Mapping[str, torch.Tensor]],
    lam: float,
    steps: int,
    lr: float = 3e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    stop_when_feasible: bool = True,
) -> tuple[Tensors, ProjectionResult]:
    """The projection of ``theta`` (group -> ``[edges, candidates]`` logits) by Eq. 8.

    ``masks`` marks the unpruned candidates; ``kept_of(theta_p)`` returns what the derivation
    keeps for the (detached) logits ``theta_p``. Starts at ``theta_p = theta`` and takes at most
    ``steps`` Adam steps (no weight decay), stopping when every expected cost is inside its
    bounds (unless ``stop_when_feasible`` is false, e.g. to time all ``steps``). With
    ``lam = 0`` Eq. 8 is minimised by ``theta`` itself: no step is taken. Returns the projected
    logits (new tensors; ``theta`` is not modified) and a :class:`ProjectionResult`.
    """
    started = time.perf_counter()
    target = {n: t.detach().clone() for n, t in theta.items()}
    current = {n: t.clone().requires_grad_() for n, t in target.items()}
    optimizer = torch.optim.Adam(list(current.values()), lr=lr, betas=betas, weight_decay=0.0)
    before = after = 0.0
    first: list[float] = []
    values: list[float] = []
    taken = 0
    for taken in range(steps + 1):
        probs = {n: masked_softmax(t, masks.get(n)) for n, t in current.items()}
        kept = kept_of({n: t.detach() for n, t in current.items()})
        expected = costs.expected(probs, kept)
        violation = costs.violation(expected)
        after, values = float(violation.detach()), [float(v.detach()) for v in expected]
        if taken == 0:
            before, first = after, values
        if taken == steps or lam == 0 or (stop_when_feasible and after <= 0):
            break
        distance = sum(((current[n] - target[n]) ** 2).sum() for n in current)
        objective = 0.5 * distance + lam * violation
        optimizer.zero_grad(set_to_none=True)
        objective.backward()
        optimizer.step()
    projected = {n: t.detach() for n, t in current.items()}
    seconds = time.perf_counter() - started
    return projected, ProjectionResult(taken, after <= 0, before, after, seconds, lam, first,
                                       values)


class Projection(ConstraintHandler):
    """RC-DARTS's iterative projection (see the module docstring): every ``phase1_steps``
    iterations (``warm_start_steps`` before the first), the architecture parameters of the
    costed groups are replaced in place by their projection. Algorithm 1's loop ends with a
    Phase II, at ``lambda = 0`` (Sec. 3.2.2: theta_p := theta), which leaves theta unchanged and
    only records the expected costs. The architecture optimiser's state is left alone.
    """

    name = "projection"
    config_cls = ProjectionConfig

    def __init__(self, search: Any) -> None:
        super().__init__(search)
        costed = {name for table in self.costs.tables.values() for name in table.per_group}
        #: The decision groups the projection moves: every group a cost table covers.
        self.groups = [g.name for g in search.groups if g.name in costed]
        self.iterations = 0
        self.projections = 0
        self.results: list[ProjectionResult] = []
        self._pending = False

    # -- schedule ----------------------------------------------------------------------------
    @property
    def phase_length(self) -> int:
        """Iterations of the current Phase I (the warm start before the first projection)."""
        c = self.config
        if self.projections == 0:
            return c.warm_start_steps if c.warm_start_steps is not None else 2 * c.phase1_steps
        return c.phase1_steps

    def lam(self, epoch: int | None = None) -> float:
        """``lambda`` of ``epoch`` (default: the current one)."""
        epoch = self.search.epoch if epoch is None else epoch
        return lambda_at(epoch, self.config.lambda_start, self.config.lambda_decay)

    def _last_stage(self) -> int:
        return max(self.search.params.optimizers)

    def after_arch_step(self, record: StepRecord) -> None:
        if record.stage != self._last_stage():
            return
        if self.search.config.arch_step_first:
            self._pending = True  # the iteration ends with its weights step
        else:
            self._iteration_done()

    def after_weights_step(self, record: StepRecord) -> None:
        if self._pending:
            self._pending = False
            self._iteration_done()

    def _iteration_done(self) -> None:
        self.iterations += 1
        if self.iterations >= self.phase_length:
            self.project()

    # -- Phase II ----------------------------------------------------------------------------
    def _kept_of(self, alphas: Tensors) -> dict[str, torch.Tensor]:
        """What the derivation keeps with the costed groups' logits set to ``alphas``: they are
        written into the search's parameters (the projection replaces them anyway)."""
        with torch.no_grad():
            for name, value in alphas.items():
                self.search.params.alphas[name].copy_(value)
        return self.kept()

    def project(
        self, stop_when_feasible: bool = True, lam: float | None = None
    ) -> ProjectionResult:
        """Phase II now: replace the costed groups' alphas by their projection (Eq. 7-8) at
        ``lam`` (default: the current epoch's ``lambda``)."""
        c, params = self.config, self.search.params
        theta = {n: params.alphas[n].detach().clone() for n in self.groups}
        projected = theta  # what the parameters hold if the projection fails
        try:
            projected, result = project(
                theta, {n: params.masks[n] for n in self.groups}, self.costs, self._kept_of,
                self.lam() if lam is None else lam, c.projection_steps, c.projection_lr,
                tuple(c.projection_betas),
                stop_when_feasible,
            )
        finally:
            with torch.no_grad():
                for name in self.groups:
                    params.alphas[name].copy_(projected[name])
        self.iterations = 0
        self.projections += 1
        self.results.append(result)
        return result

    # -- reporting and state -----------------------------------------------------------------
    def end_epoch(self, epoch: int, metrics: dict[str, Any]) -> None:
        """At the last epoch, the final Phase II at ``lambda = 0`` (if Phase I iterations ran
        since the last projection; it leaves theta unchanged); then this epoch's projections
        (their lambda, steps, and each constraint's expected cost before and after) and the
        base handler's cost report."""
        if epoch == self.search.num_epochs - 1 and self.iterations > 0:
            self.project(lam=0.0)
        specs = [c.spec() for c in self.costs.constraints]
        metrics["projection"] = {
            "lambda": self.lam(epoch),
            "count": len(self.results),
            "lambdas": [r.lam for r in self.results],
            "steps": [r.steps for r in self.results],
            "feasible": [r.feasible for r in self.results],
            "violation_before": [r.violation_before for r in self.results],
            "violation_after": [r.violation_after for r in self.results],
            "expected_before": [dict(zip(specs, r.expected_before, strict=False))
                                for r in self.results],
            "expected_after": [dict(zip(specs, r.expected_after, strict=False))
                               for r in self.results],
            "seconds": sum(r.seconds for r in self.results),
            "phase1_iterations": self.iterations,
        }
        self.results = []
        super().end_epoch(epoch, metrics)

    def state_dict(self) -> dict[str, Any]:
        return {
            "iterations": self.iterations,
            "projections": self.projections,
            "results": [attrs.asdict(r) for r in self.results],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.iterations = int(state.get("iterations", 0))
        self.projections = int(state.get("projections", 0))
        self.results = [ProjectionResult(**r) for r in state.get("results", [])]
