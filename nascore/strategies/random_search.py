"""The ``random`` strategy: uniform samples of the space, the best-scoring one wins."""

from __future__ import annotations

from nascore.architecture import Architecture
from nascore.strategies.discrete import DiscreteConfig, DiscreteStrategy


class RandomSearch(DiscreteStrategy):
    """Random search: every query is an independent uniform (feasible) sample."""

    name = "random"
    config_cls = DiscreteConfig
    requires = frozenset({"sample"})

    def propose(self) -> Architecture:
        return self.first_feasible(lambda: self.space.sample(self.rng))
