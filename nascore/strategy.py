"""The Strategy interface and the context a run hands to it.

A strategy is driven by the run engine (:mod:`nascore.runner`) epoch by epoch::

    for epoch in range(start, strategy.num_epochs):
        for metrics in strategy.run_epoch(epoch, start_step):   # one item per step
            ...   # progress, SIGINT/SIGTERM checkpoints (state_dict + step index)
        summary = strategy.end_epoch(epoch)                    # logged to events.jsonl
    arch = strategy.derive()

``run_epoch`` must be resumable at any step: after ``load_state_dict`` a call with
``start_step=k`` continues exactly where the interrupted call stood after yielding ``k`` times.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import attrs

from nascore.architecture import Architecture
from nascore.config import Default, apply_renamed, build_config
from nascore.context import SearchContext
from nascore.errors import ConfigError


class Strategy(ABC):
    """How to search. See the module docstring for the driving loop.

    Class attributes: ``name``; ``config_cls`` (attrs); ``kind`` (``"one-shot"`` or
    ``"discrete"``); ``requires``, the space capabilities it needs; ``needs_estimator``.
    """

    name: ClassVar[str]
    config_cls: ClassVar[type]
    kind: ClassVar[str] = "one-shot"
    requires: ClassVar[frozenset[str]] = frozenset()
    needs_estimator: ClassVar[bool] = False
    #: Named alternative settings: ``--set strategy.preset=NAME`` applies ``presets[NAME]``
    #: under the keys the user sets (needs a ``preset`` field in the config).
    presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: Defaults this strategy declares for settings of the space (``[space]``), with their
    #: source (e.g. RC-DARTS searches connection cells: ``{"connection_cell": Default(True,
    #: "...")}``); they apply to every space that has the setting, under the user's values.
    space_defaults: ClassVar[Mapping[str, Default]] = {}
    #: Per preset, the space settings it sets (under the user's values), e.g.
    #: ``{"no_connection_cell": {"connection_cell": False}}``.
    space_presets: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: Changes to the retraining recipe (``nas train`` of a run of this strategy, CIFAR recipe:
    #: :mod:`nascore.training.recipe`) the method's paper evaluates with, with their source
    #: (e.g. RC-DARTS: ``{"drop_path": Default(0.3, "...")}``).
    retrain_defaults: ClassVar[Mapping[str, Default]] = {}

    def __init__(self, config: Any, context: SearchContext) -> None:
        self.config = config
        self.context = context

    @classmethod
    def config_class(cls, raw: Mapping[str, Any]) -> type:
        """The attrs config class for the raw ``[strategy]`` section (default ``config_cls``;
        one-shot strategies add the fields of the parts the section names)."""
        return cls.config_cls

    @classmethod
    def configure(cls, raw: Mapping[str, Any] | None = None) -> Any:
        """The validated config from a raw ``[strategy]`` section: deprecated keys renamed
        (:func:`~nascore.config.apply_renamed`), then presets applied."""
        values = apply_renamed(cls.config_class(raw or {}), raw or {}, "strategy")
        preset = values.get("preset")
        if preset is not None:
            if preset not in cls.presets:
                raise ConfigError(
                    f"strategy {cls.name} has no preset {preset!r}; presets: "
                    + (", ".join(sorted(cls.presets)) or "none")
                )
            values = {**cls.presets[preset], **values}
        return build_config(cls.config_class(values), values, "strategy")

    @classmethod
    def space_settings(
        cls, space_config_cls: type, raw: Mapping[str, Any] | None = None
    ) -> dict[str, Default]:
        """The space defaults this strategy sets for a space with config ``space_config_cls``
        under the raw ``[strategy]`` section ``raw``: :attr:`space_defaults`, then the space
        values of its ``preset`` (source ``preset NAME``), for the keys the space has."""
        keys = {f.name for f in attrs.fields(space_config_cls)}
        found = {k: d for k, d in cls.space_defaults.items() if k in keys}
        preset = (raw or {}).get("preset")
        for key, value in cls.space_presets.get(preset, {}).items() if preset else ():
            if key in keys:
                found[key] = Default(value, f"strategy {cls.name}, preset {preset}")
        return found

    def network_options(self) -> dict[str, Any]:
        """``build_network`` options of the network the search is about (where constraints
        are measured); default: the space's own size."""
        return {}

    @property
    @abstractmethod
    def num_epochs(self) -> int:
        """Number of epochs (units of progress) of the whole search."""

    @abstractmethod
    def steps_per_epoch(self, epoch: int) -> int:
        """Number of items :meth:`run_epoch` yields in ``epoch`` (for progress bars)."""

    @abstractmethod
    def run_epoch(self, epoch: int, start_step: int = 0) -> Iterator[Mapping[str, float]]:
        """Run the steps of ``epoch`` from ``start_step``, yielding step metrics."""

    def finished(self) -> bool:
        """Whether the search ended early (e.g. a time limit); checked after every epoch."""
        return False

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        """Finish ``epoch`` (validation, schedules, pruning); return JSON-able metrics."""
        return {}

    @abstractmethod
    def derive(self) -> Architecture:
        """The architecture the search has found so far."""

    def ranked(self) -> list[Architecture] | None:
        """The architectures this search evaluated, best first, that the run may end with
        instead of :meth:`derive`'s when a measured constraint rejects its network at the end
        (:func:`~nascore.constraint.final_pick`); ``None`` (default): the search enforces its
        constraints itself (one-shot strategies: through cost tables) and its derived network
        is final."""
        return None

    def derivation_report(self) -> dict[str, Any]:
        """JSON-able facts about the last :meth:`derive`, merged into ``result.json`` (one-shot
        strategies: their parts', e.g. ``constraint_repair``); default none."""
        return {}

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume (tensors, numbers, strings, lists, dicts only)."""

    @abstractmethod
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""

    @classmethod
    def plot(cls, events: list[dict[str, Any]], path_stem: str) -> list[str]:
        """Write strategy-specific plots from a run's events; return the written paths.

        A classmethod: ``nas show`` calls it on a finished run without rebuilding the strategy.
        """
        return []
