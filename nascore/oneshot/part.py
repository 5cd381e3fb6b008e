"""Parts: pieces of a one-shot search hooked into the step loop at fixed points.

A strategy lists its parts (EoiNAS: an importance indicator and gradual pruning); a user adds
more through ``strategy.parts`` (e.g. EoiNAS's gradual pruning under ``pcdarts``); a plugin
registers new ones through the ``nascore_parts`` hook. Every hook is optional; parts are called
in order (the strategy's own, the user's, then the constraint handler) at these points:

==========================  ==================================================================
``planned_epochs(search)``  (classmethod) epochs the part's schedule needs, or ``None``: the
                            loop then runs that many epochs over ``strategy.epochs`` passes of
                            the data (asked before the parts are built)
``batch_size(epoch)``       the batch size of ``epoch``, or ``None`` for the strategy's
``begin_epoch(epoch)``      before the steps of an epoch (also when an epoch is resumed)
``edge_weights(g, w)``      may replace the sampling policy's :class:`EdgeWeights` of group
                            ``g`` (e.g. a fixed sampled architecture for a whole epoch)
``arch_steps(epoch)``       ``False`` skips the architecture steps of ``epoch``
``loss_term(split, sel)``   an extra term added to the loss of a ``"weights"`` or ``"arch"`` step
``after_weights_step(r)``   after every weights update, with its :class:`StepRecord`
``after_arch_step(r)``      after every architecture update, once per stage
``scores(s)``               transforms the per-group scores the space derives from
``end_epoch(epoch, m)``     at the end of an epoch (pruning, projections); adds to metrics ``m``
``derivation_report()``     JSON-able facts about the last derivation for ``result.json``
``state_dict()``            the part's resumable state (tensors, numbers, strings, lists, dicts)
``plot(events, stem)``      (classmethod) plots ``nas show`` writes from the run's events
==========================  ==================================================================

A part reaches the search (architecture parameters ``search.params``, the space, the config,
the event log) through ``self.search``; its own settings are fields of ``config_cls``, merged
into the strategy's config (``nas config`` lists them).

In a data-parallel search (``torchrun``, ``nas run --nproc N``) every process runs the parts
on its share of each batch. What comes from the architecture parameters, the masks and the
seeded sampling is the same on every process; a statistic measured on the data (a
:class:`StepRecord`'s ``accuracy`` or ``loss``) is this process's own. A part that decides on
such a statistic (prunes, reduces, stops) reduces it first with
``self.search.all_reduce(tensor, op="mean")`` (``sum``, ``max``, ``min`` too; the identity on
one process), so every process makes the same decision. The end-of-epoch metrics
``valid_loss``/``valid_acc`` are already over all processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import torch

from nascore.space import DecisionGroup, EdgeWeights

if TYPE_CHECKING:
    from nascore.oneshot.loop import OneShotStrategy


@attrs.frozen
class StepRecord:
    """What one weights or architecture update did, handed to the ``after_*_step`` hooks.

    ``selections`` are the :class:`EdgeWeights` of the forward pass (detached); for sampling
    policies ``selections[group].index`` holds the candidate each edge ran. ``stage`` is ``None``
    for a weights step. ``accuracy`` is the top-1 accuracy on the batch (0..1): on this process's
    share of it in a data-parallel search (see the module docstring).
    """

    epoch: int
    step: int
    split: str
    stage: int | None
    loss: float
    accuracy: float
    selections: Mapping[str, EdgeWeights]


class Part:
    """Base of one-shot parts; see the module docstring for the hooks."""

    name: ClassVar[str]
    config_cls: ClassVar[type | None] = None
    #: Space capabilities the part needs.
    requires: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, search: OneShotStrategy) -> None:
        self.search = search

    @property
    def config(self) -> Any:
        """The strategy's config (this part's fields included)."""
        return self.search.config

    @classmethod
    def planned_epochs(cls, search: OneShotStrategy) -> int | None:
        """The number of epochs this part's schedule needs (``None``: any). ``search`` is being
        built: its config, context, ``hyper`` and ``groups`` are set, the parts are not. When
        it differs from ``hyper.epochs``, the loop runs this many epochs of ``hyper.epochs /
        planned`` passes over the weights split each (so ``strategy.epochs`` stays the amount
        of training)."""
        return None

    def batch_size(self, epoch: int) -> int | None:
        """The batch size of ``epoch``'s weights and arch steps (``None``: the strategy's)."""
        return None

    def begin_epoch(self, epoch: int) -> None:
        """Called before the steps of ``epoch`` (and again when a resumed epoch continues)."""

    def edge_weights(self, group: DecisionGroup, weights: EdgeWeights) -> EdgeWeights:
        """The weights ``group`` mixes with on the next forward pass (default: unchanged)."""
        return weights

    def arch_steps(self, epoch: int) -> bool:
        """Whether ``epoch`` runs architecture steps (every part must agree)."""
        return True

    def loss_term(self, split: str, selections: Mapping[str, EdgeWeights]) -> torch.Tensor | None:
        """An extra loss term for a ``"weights"`` or ``"arch"`` step, or ``None``."""
        return None

    def after_weights_step(self, record: StepRecord) -> None:
        """Called after every weights update."""

    def after_arch_step(self, record: StepRecord) -> None:
        """Called after every architecture update (once per stage)."""

    def scores(self, scores: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Transform the per-group derivation scores (pruned candidates must stay ``-inf``)."""
        return scores

    def end_epoch(self, epoch: int, metrics: dict[str, Any]) -> None:
        """Per-epoch work; add JSON-able values to ``metrics``."""

    def derivation_report(self) -> dict[str, Any]:
        """JSON-able facts about the last derivation, merged into ``result.json`` (e.g. a
        constraint handler's repair)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """The part's resumable state."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""

    @classmethod
    def plot(cls, events: list[dict[str, Any]], path_stem: str) -> list[str]:
        """Plots from a finished run's events; return the written paths."""
        return []
