"""Base classes keep their own state where a subclass cannot clobber it: every attribute a base
keeps on its instances is documented (nascore.public_api.DOCUMENTED_ATTRIBUTES) or named
``_nascore...``, and subclasses that use the base's internal names for themselves still work."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import pytest
import torch

from nascore.architecture import Architecture
from nascore.config import build_config
from nascore.constraint import Constraint, ParamsConstraint
from nascore.context import SearchContext
from nascore.estimator import Estimate, Estimator
from nascore.estimators.nb201 import NB201Estimator, NB201EstimatorConfig
from nascore.events import EventLog
from nascore.oneshot import ConstraintHandler, Part, SamplingPolicy, one_shot_strategy
from nascore.plugins import registry
from nascore.public_api import DOCUMENTED_ATTRIBUTES, qualified
from nascore.space import DataInfo, SearchSpace
from nascore.spaces.nb201 import NB201Config, NB201Space
from nascore.strategies.discrete import STATE_KEY, DiscreteConfig, DiscreteStrategy, run_search
from nascore.strategy import Strategy
from nascore.testing import TINY, drive, tiny_data, tiny_space


def undocumented(obj: object) -> list[str]:
    """Attributes ``obj`` holds that no base of its class documents and that are not
    ``_nascore...``."""
    documented = {name for cls in type(obj).__mro__
                  for name in DOCUMENTED_ATTRIBUTES.get(qualified(cls), ())}
    return sorted(name for name in vars(obj)
                  if name not in documented and not name.startswith("_nascore"))


def check_clean(obj: object, base: type) -> None:
    found = undocumented(obj)
    assert not found, (
        f"{qualified(base)} keeps {', '.join(found)} on its instances, where a subclass can "
        "clobber it: name it _nascore_... or document it (DOCUMENTED_ATTRIBUTES in "
        "nascore/public_api.py and docs/writing-a-plugin.md)"
    )


# -- discrete strategies ---------------------------------------------------------------------
def discrete_context(seed: int = 0) -> SearchContext:
    context = SearchContext(space=NB201Space(NB201Config(), DataInfo(3, 32, 10)), seed=seed,
                            device=torch.device("cpu"), events=EventLog(None))
    context.estimator = NB201Estimator(NB201EstimatorConfig(), context)
    return context


class Plain(DiscreteStrategy):
    """Samples until the batch is full (the guide's simplest strategy)."""

    name = "plain"

    def propose(self) -> Architecture:
        return self.first_feasible(lambda: self.space.sample(self.rng))


def internal_names(strategy: DiscreteStrategy) -> set[str]:
    """The base's internal names, collected: its private state's fields, its state dict keys,
    its read-only views, and each with a leading underscore."""
    names = {*attrs.fields_dict(type(strategy._nascore_discrete)),
             *strategy.state_dict()[STATE_KEY],
             *(n for n, v in vars(DiscreteStrategy).items() if type(v).__name__ == "_View")}
    return names | {f"_{n}" for n in names}


def public_methods(cls: type) -> set[str]:
    """Methods and properties a subclass must not replace by data (they are the API)."""
    return {n for n in dir(cls) if not n.startswith("_") and type(getattr(cls, n, None)).__name__
            != "_View" and (callable(getattr(cls, n)) or isinstance(
                getattr(cls, n), property))}


def clobbering(names: set[str], keep: set[str]) -> type[DiscreteStrategy]:
    """A subclass that sets every name not in ``keep`` to ``None`` and saves and restores state
    dict entries of its own under every name (the base's own state dict keys included)."""
    own = sorted(names - keep)
    keys = sorted(names)

    class Clobbering(Plain):
        def __init__(self, config: DiscreteConfig, context: SearchContext) -> None:
            super().__init__(config, context)
            for name in own:
                setattr(self, name, None)

        def state_dict(self) -> dict[str, Any]:
            return {**super().state_dict(), **{name: None for name in keys}}

        def load_state_dict(self, state: Mapping[str, Any]) -> None:
            super().load_state_dict(state)
            assert all(state[name] is None for name in keys)
            for name in own:
                setattr(self, name, state[name])

    return Clobbering


def test_discrete_strategy_keeps_only_documented_attributes() -> None:
    strategy = Plain(build_config(DiscreteConfig, {"queries": 6, "batch_size": 4}),
                     discrete_context())
    check_clean(strategy, DiscreteStrategy)
    steps = strategy.run_epoch(0)
    next(steps)  # a batch asked for and partly observed
    check_clean(strategy, DiscreteStrategy)


def test_a_discrete_subclass_may_use_the_base_internal_names() -> None:
    config = build_config(DiscreteConfig, {"queries": 12, "queries_per_epoch": 6,
                                           "batch_size": 4})
    reference = Plain(config, discrete_context())
    documented = set(DOCUMENTED_ATTRIBUTES[qualified(DiscreteStrategy)])
    names = internal_names(reference)
    assert {"pending", "elapsed", "_costs", "history", "rng"} <= names
    cls = clobbering(names, documented | public_methods(DiscreteStrategy))
    first = cls(config, discrete_context())
    steps = first.run_epoch(0)
    for _ in range(3):  # stop inside a batch: pending candidates go into the checkpoint
        next(steps)
    assert first.pending is None and first.elapsed is None and first._costs is None
    assert first.asked == 4 and first.finished() is False
    state = first.state_dict()
    resumed = cls(config, discrete_context())
    resumed.load_state_dict(state)
    for _ in resumed.run_epoch(0, start_step=3):
        pass
    resumed.end_epoch(0)
    for _ in resumed.run_epoch(1):
        pass
    run_search(reference)
    assert [q.arch for q in resumed.history] == [q.arch for q in reference.history]
    assert resumed.derive() == reference.derive()


def test_reading_the_pending_batch_still_works() -> None:
    strategy = Plain(build_config(DiscreteConfig, {"queries": 6, "batch_size": 3}),
                     discrete_context())
    next(strategy.run_epoch(0))
    assert len(strategy.pending) == 2 and strategy.asked == 3
    with pytest.raises(AttributeError):
        del strategy.pending


def test_a_flat_checkpoint_of_earlier_versions_loads() -> None:
    config = build_config(DiscreteConfig, {"queries": 6, "batch_size": 2})
    first = Plain(config, discrete_context())
    next(first.run_epoch(0))
    flat = first.state_dict()[STATE_KEY]
    resumed = Plain(config, discrete_context())
    resumed.load_state_dict(flat)
    assert resumed.history == first.history and resumed.pending == first.pending


# -- one-shot: the loop, parts, constraint handlers, policies --------------------------------
Declared = one_shot_strategy("declared_for_state_test", doc="A one-shot strategy for a test.")


class Clobbering(Declared):  # type: ignore[misc, valid-type]
    """Names of the loop's internals used as attributes of a subclass."""

    _stats = None
    _composed = None
    stats = None

    def __init__(self, config: Any, context: SearchContext) -> None:
        super().__init__(config, context)
        self._stats = self.stats = self.composed = None


def one_shot(cls: type, constraints: tuple[Constraint, ...] = (), **options: Any) -> Any:
    context = SearchContext(space=tiny_space(), seed=0, device=torch.device("cpu"),
                            events=EventLog(None), data=tiny_data(), constraints=list(constraints))
    return cls(cls.configure({**TINY, "epochs": 1, **options}), context)


def test_the_one_shot_loop_keeps_only_documented_attributes() -> None:
    search = one_shot(Declared)
    check_clean(search, type(search).__mro__[1])
    drive(search, [0])
    check_clean(search, type(search).__mro__[1])


def test_a_one_shot_subclass_may_use_the_loop_internal_names() -> None:
    plain, clobbering = one_shot(Declared), one_shot(Clobbering)
    internal = {n.removeprefix("_nascore_") for n in dir(plain) if n.startswith("_nascore_")}
    assert internal == {"stats", "composed"}, "name each new internal in Clobbering too"
    assert {f"_{n}" for n in internal} <= set(vars(Clobbering)) | set(vars(clobbering))
    assert drive(clobbering, [0]) == drive(plain, [0])
    assert clobbering._stats is None and clobbering.stats is None


class Quiet(Part):
    name = "quiet_for_state_test"


@attrs.frozen
class _NoConfig:
    pass


class Handler(ConstraintHandler):
    name = "handler_for_state_test"


def test_parts_and_handlers_keep_only_documented_attributes() -> None:
    search = one_shot(Declared, (ParamsConstraint(None, 1e9),))
    part, handler = Quiet(search), Handler(search)
    check_clean(part, Part)
    check_clean(handler, ConstraintHandler)
    handler.scores(search.scores(handlers=False))
    check_clean(handler, ConstraintHandler)


class Policy(SamplingPolicy):
    name = "policy_for_state_test"


# -- spaces, estimators, constraints, strategies ---------------------------------------------
class Space(SearchSpace):
    name = "space_for_state_test"
    config_cls = _NoConfig


class Guess(Estimator):
    name = "guess_for_state_test"
    config_cls = _NoConfig

    def estimate(self, arch: Architecture, budget: Any = None) -> Estimate:
        return Estimate(score=0.0)


class Size(Constraint):
    name = "size_for_state_test"

    def measure(self, network: torch.nn.Module, example: torch.Tensor) -> float:
        return 0.0


class Bare(Strategy):
    name = "bare_for_state_test"
    config_cls = _NoConfig
    num_epochs = 0

    def steps_per_epoch(self, epoch: int) -> int:
        return 0

    def run_epoch(self, epoch: int, start_step: int = 0) -> Iterator[Mapping[str, float]]:
        yield from ()

    def derive(self) -> Architecture:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        pass


def test_other_bases_keep_only_documented_attributes() -> None:
    context = discrete_context()
    instances = {
        SearchSpace: Space(_NoConfig(), DataInfo(3, 8, 10)),
        Estimator: Guess(_NoConfig(), context),
        Constraint: Size(None, 1.0),
        Strategy: Bare(_NoConfig(), context),
        SamplingPolicy: Policy(_NoConfig(), 1, torch.Generator()),
    }
    for base, instance in instances.items():
        check_clean(instance, base)


def test_every_base_a_plugin_subclasses_is_covered() -> None:
    for kind in ("space", "strategy", "estimator", "constraint", "part", "constraint_handler"):
        for cls in registry().components[kind].values():
            assert any(qualified(base) in DOCUMENTED_ATTRIBUTES for base in cls.__mro__), cls
