"""The ``reinforce`` strategy: a factorized categorical policy trained with REINFORCE.

The policy holds one logit vector per decision of the space; an architecture is sampled
decision by decision. After each query with reward ``r`` (the estimator's score) the logits take a
gradient-ascent step on ``(r - b) * log p(choices)``, where ``b`` is a moving-average baseline
(``b <- m * b + (1 - m) * r``, started at the first reward). For a categorical the gradient of
``log p(c)`` with respect to the logits is ``onehot(c) - softmax(logits)``. The policy is plain
numpy (a query must cost microseconds on tabular estimators).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np

from nascore.architecture import Architecture
from nascore.config import field, one_of, positive
from nascore.context import SearchContext
from nascore.errors import ConfigError
from nascore.strategies.discrete import DiscreteConfig, DiscreteStrategy


def _check_momentum(_inst: Any, attribute: attrs.Attribute, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{attribute.name} must lie in [0, 1), got {value}")


class CategoricalPolicy:
    """Independent categorical distributions (one logit vector per decision), Adam or SGD."""

    def __init__(
        self,
        sizes: Sequence[int],
        lr: float,
        optimizer: str = "adam",
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.logits = [np.zeros(n) for n in sizes]
        self.lr, self.optimizer, self.betas, self.eps = lr, optimizer, betas, eps
        self.m = [np.zeros(n) for n in sizes]
        self.v = [np.zeros(n) for n in sizes]
        self.t = 0

    def probs(self) -> list[np.ndarray]:
        """Softmax of every logit vector."""
        out = []
        for z in self.logits:
            e = np.exp(z - z.max())
            out.append(e / e.sum())
        return out

    def sample(self, rng: np.random.Generator) -> list[int]:
        """One choice per decision."""
        u = rng.random(len(self.logits))
        return [
            min(int(np.searchsorted(np.cumsum(p), x, side="right")), len(p) - 1)
            for p, x in zip(self.probs(), u, strict=True)
        ]

    def update(self, choices: Sequence[int], advantage: float) -> None:
        """One ascent step on ``advantage * log p(choices)``."""
        self.t += 1
        b1, b2 = self.betas
        for k, (p, c) in enumerate(zip(self.probs(), choices, strict=True)):
            grad = -advantage * p
            grad[c] += advantage
            if self.optimizer == "sgd":
                self.logits[k] += self.lr * grad
                continue
            self.m[k] = b1 * self.m[k] + (1 - b1) * grad
            self.v[k] = b2 * self.v[k] + (1 - b2) * grad**2
            m_hat = self.m[k] / (1 - b1**self.t)
            v_hat = self.v[k] / (1 - b2**self.t)
            self.logits[k] += self.lr * m_hat / (np.sqrt(v_hat) + self.eps)

    def state_dict(self) -> dict[str, Any]:
        """Logits and optimizer moments as plain lists."""
        return {
            "logits": [z.tolist() for z in self.logits],
            "m": [m.tolist() for m in self.m],
            "v": [v.tolist() for v in self.v],
            "t": self.t,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""
        self.logits = [np.array(z, dtype=float) for z in state["logits"]]
        self.m = [np.array(m, dtype=float) for m in state["m"]]
        self.v = [np.array(v, dtype=float) for v in state["v"]]
        self.t = int(state["t"])


@attrs.frozen
class ReinforceConfig(DiscreteConfig):
    """REINFORCE settings.

    Defaults are tuned for ~100-query NAS-Bench-201 searches on the search signal: Adam makes the
    step size independent of the reward scale (accuracies in percent or fractions alike); lr 0.1
    lets the policy concentrate within the budget (0.03 learns too little, 0.5 collapses onto
    early choices and ends below random search); baseline momentum 0.9.
    """

    lr: float = field(0.1, "policy learning rate", validator=positive)
    optimizer: str = field("adam", "adam | sgd", validator=one_of("adam", "sgd"))
    baseline_momentum: float = field(
        0.9, "moving-average momentum m of the reward baseline", validator=_check_momentum
    )


class Reinforce(DiscreteStrategy):
    """REINFORCE over the space's decisions with a moving-average baseline."""

    name = "reinforce"
    config_cls = ReinforceConfig
    requires = frozenset({"encode"})

    def __init__(self, config: ReinforceConfig, context: SearchContext) -> None:
        super().__init__(config, context)
        sizes = [len(d.candidates) for d in self.space.decisions()]
        self.policy = CategoricalPolicy(sizes, config.lr, config.optimizer)
        self.baseline: float | None = None

    def propose(self) -> Architecture:
        return self.first_feasible(lambda: self.space.decode(self.policy.sample(self.rng)))

    def observe(self, index: int) -> None:
        query = self.history[index]
        if self.baseline is None:
            self.baseline = query.score
        self.policy.update(self.space.encode(query.arch), query.score - self.baseline)
        m = self.config.baseline_momentum
        self.baseline = m * self.baseline + (1 - m) * query.score

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        return {**state, "policy": self.policy.state_dict(), "baseline": self.baseline}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.policy.load_state_dict(state["policy"])
        self.baseline = None if state["baseline"] is None else float(state["baseline"])
