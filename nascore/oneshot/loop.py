"""The one-shot step loop: a supernet, its architecture parameters, a sampling policy and parts.

Per step, on one "weights" batch and one "arch" batch: one architecture step per decision-group
stage (Adam, on the arch batch; none in warm-up epochs or when a part says so) and one weights
step (SGD, on the weights batch). The architecture step comes first, as in the DARTS and PC-DARTS
reference code (the second-order step then linearises at the current weights);
``arch_step_first = false`` puts it after the weights step (GDAS's reference order).

A strategy is a declaration on this loop (:func:`one_shot_strategy`): a sampling policy, parts,
and published defaults. See :mod:`nascore.oneshot.part` for the points where parts hook in.

Data-parallel (``torchrun``, :mod:`nascore.distributed`): each process runs every step on its
share of the batch; the weights' gradients are averaged by DDP, the architecture gradients
(second-order ones included) are averaged before the architecture optimisers step, sampling
draws from the same seeded generator everywhere, the end-of-epoch validation sums over all
processes and a non-finite loss on any process stops all of them. Architecture parameters,
masks and derived architectures are therefore the same on every process.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import attrs
import torch
import torch.nn.functional as F
from torch import nn

from nascore import distributed
from nascore.architecture import Architecture
from nascore.config import (
    Default,
    Renamed,
    compose_config,
    field,
    non_negative,
    one_of,
    positive,
)
from nascore.context import SearchContext
from nascore.data import SearchData
from nascore.errors import ConfigError, IncompatibleError, NonFiniteLossError, UsageError
from nascore.nn.recompute import set_op_recompute, set_recompute
from nascore.oneshot.edgenorm import EdgeNormalization
from nascore.oneshot.params import AdamSettings, ArchParameters
from nascore.oneshot.part import Part, StepRecord
from nascore.oneshot.policy import SamplingPolicy, Softmax
from nascore.oneshot.sampling import masked_logits
from nascore.oneshot.speed import MEMORY_FORMATS, RECOMPUTE, memory_format, recompute_ops
from nascore.oneshot.unrolled import detach_selections, unrolled_arch_gradients
from nascore.plugins import registry
from nascore.space import DecisionGroup, EdgeWeights, SupernetOptions
from nascore.strategy import Strategy
from nascore.training.augment import cutout
from nascore.training.fit import precision_context, resize_batch

Batch = tuple[torch.Tensor, torch.Tensor]


def _betas(_inst: Any, attribute: attrs.Attribute, value: tuple[float, ...]) -> None:
    if len(value) != 2 or not all(0.0 <= b < 1.0 for b in value):
        raise ConfigError(f"{attribute.name} must be two numbers in [0, 1), got {value!r}")


def _lr_min(inst: Any, _attribute: attrs.Attribute, value: float) -> None:
    if value > inst.lr:
        raise ConfigError(f"lr_min {value} is above lr {inst.lr}; lower lr_min")


def _warmup(inst: Any, _attribute: attrs.Attribute, value: int | None) -> None:
    if value is not None:
        check_warmup(value, inst.epochs)


def _recompute(inst: Any, _attribute: attrs.Attribute, value: str) -> None:
    if value == "cells" and inst.second_order:
        raise ConfigError(
            f"recompute = {value} does not work with second_order (the unrolled step runs the "
            "supernet on swapped weights); set recompute = auto or second_order = false"
        )


def check_warmup(warmup: int, epochs: int) -> None:
    """A warm-up must leave at least one epoch with architecture steps."""
    if warmup >= epochs:
        raise ConfigError(
            f"warmup_epochs ({warmup}) must be below epochs ({epochs}), or the architecture is "
            "never trained; lower warmup_epochs or raise epochs"
        )


#: Default share of the epochs without architecture steps when ``warmup_epochs`` is ``None``:
#: EoiNAS's 20 of 160.
WARMUP_FRACTION = 0.125


def scaled_warmup(epochs: int, fraction: float = WARMUP_FRACTION) -> int:
    """``fraction`` of ``epochs`` rounded down (default: one eighth, EoiNAS's 20 of 160), at least
    1 when ``fraction`` is positive, and below ``epochs``."""
    share = math.floor(fraction * epochs + 1e-9)
    return min(max(1 if fraction > 0 else 0, share), epochs - 1)


def _fraction(_inst: Any, attribute: attrs.Attribute, value: float) -> None:
    if not 0 <= value < 1:
        raise ConfigError(f"{attribute.name} must be in [0, 1), got {value}")


@attrs.frozen
class OneShotConfig:
    """Settings of the one-shot loop (defaults: DARTS, Liu et al. 2019, Sec. 3.1 / A.1.1)."""

    preset: str | None = field(None, "named preset of this strategy's settings (see its docs)")
    epochs: int = field(50, "search epochs [DARTS: 50]", validator=positive)
    batch_size: int = field(64, "batch size of weights and arch steps [DARTS: 64]",
                            validator=positive)
    lr: float = field(0.025, "initial SGD learning rate of the supernet weights [DARTS: 0.025]",
                      validator=positive)
    lr_min: float = field(0.001, "final learning rate of the cosine schedule [DARTS: 0.001]",
                          validator=[non_negative, _lr_min])
    momentum: float = field(0.9, "SGD momentum [DARTS: 0.9]", validator=non_negative)
    nesterov: bool = field(False, "Nesterov momentum of the weights' SGD [DARTS: false]")
    weight_decay: float = field(3e-4, "SGD weight decay [DARTS: 3e-4]", validator=non_negative)
    grad_clip: float = field(5.0, "gradient norm clip of the weights step [DARTS: 5]",
                             validator=positive)
    arch_lr: float = field(3e-4, "Adam learning rate of the architecture parameters "
                           "[DARTS: 3e-4]", validator=positive)
    arch_betas: tuple[float, float] = field((0.5, 0.999), "Adam betas of the architecture step "
                                            "[DARTS: (0.5, 0.999)]", validator=_betas)
    arch_weight_decay: float = field(1e-3, "Adam weight decay of the architecture parameters "
                                     "[DARTS: 1e-3]", validator=non_negative)
    warmup_epochs: int | None = field(
        0, "first epochs without architecture steps (None: warmup_fraction of the epochs, at "
        "least 1, so the warm-up scales with --epochs)", validator=[non_negative, _warmup],
    )
    warmup_fraction: float = field(
        WARMUP_FRACTION, "share of the epochs without architecture steps when warmup_epochs is "
        "None, rounded down (0.125: EoiNAS's 20 of 160)", validator=_fraction,
    )
    arch_step_first: bool = field(
        True, "architecture step before the weights step on each batch pair (DARTS and "
        "PC-DARTS reference code); false: after it (GDAS reference code)",
    )
    second_order: bool = field(False, "unrolled (second-order) architecture gradient "
                               "[DARTS: first order is the default]")
    joint_arch_step: bool = field(
        False, "update all decision-group stages from one architecture forward/backward pass "
        "(cheaper; the default steps stage after stage, e.g. A-DARTS alpha then beta)",
    )
    partial_channels: int = field(1, "K: candidates run on 1/K of the channels (PC-DARTS)",
                                  validator=positive)
    edge_normalization: bool = field(
        False, "learn a softmax-normalised weight per incoming edge of each node (PC-DARTS)"
    )
    levels: int = field(1, "normal-cell depth groups with their own architecture parameters "
                        "(RC-DARTS multi-level search; 1: one normal cell)", validator=positive)
    valid_batches: int | None = field(
        None, "arch batches evaluated at the end of each epoch (None: the whole split)",
        validator=positive,
    )
    budget_schedule: bool = field(
        True, "with --budget, take epochs, batch size, lr, momentum, weight decay and grad clip "
        "from it (its layers, channels, image size, cutout and precision always apply)",
    )
    parts: tuple[str, ...] = field(
        (), "parts added to this strategy's own, by name (`nas plugins` lists them), e.g. "
        "[\"gradual_pruning\"]",
    )
    constraint_handler: str = field(
        "penalty", "how --constraint bounds are enforced during the search (`nas plugins` "
        "lists the handlers)",
    )
    memory_format: str = field(
        "auto", "layout of the supernet's weights and images: channels_last (on CPU about 0.7x "
        "the CPU time per darts step of contiguous, docs/performance.md), contiguous, or auto "
        "(channels_last on CPU without partial channels, contiguous elsewhere); same math",
        validator=one_of(*MEMORY_FORMATS),
    )
    recompute: str = field(
        "auto", "activation recomputation in backward: ops keeps only each sep/dil conv's "
        "input and recomputes its inner maps (darts 16x16: 223 MB kept instead of 592 MB), "
        "cells keeps only each supernet cell's inputs and runs the cell again, none keeps the "
        "ops' BatchNorm inputs too, auto is ops unless the ops run on partial channels "
        "(pcdarts: none); same math, docs/performance.md",
        validator=[one_of(*RECOMPUTE), _recompute],
    )


@attrs.frozen
class Hyper:
    """The training hyper-parameters in force: the config's, or a budget's where it sets them."""

    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    grad_clip: float


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(dim=1) == y).float().mean())


def _registered_parts(names: Sequence[str]) -> list[type[Part]]:
    return [registry().get("part", name) for name in names]


class OneShotStrategy(Strategy):
    """The one-shot loop; strategies are declared with :func:`one_shot_strategy`.

    Public attributes: ``supernet``; ``params`` (:class:`ArchParameters`: alphas, masks,
    stages, optimisers); ``groups``; ``policy``; ``parts`` (instances, in call order);
    ``generator`` (the torch generator of initialisation and sampling; saved in the state);
    ``epoch``; ``hyper`` (:class:`Hyper`).
    """

    kind = "one-shot"
    requires = frozenset({"supernet"})
    policy_cls: ClassVar[type[SamplingPolicy]] = Softmax
    own_parts: ClassVar[tuple[type[Part], ...]] = ()
    defaults: ClassVar[Mapping[str, Default]] = {}
    #: Deprecated config keys of this strategy: ``{old: new or Renamed}``.
    renamed: ClassVar[Mapping[str, str | Renamed]] = {}
    config_cls: ClassVar[type] = OneShotConfig
    _nascore_composed: ClassVar[dict[tuple[Any, ...], type]]

    # -- configuration -----------------------------------------------------------------------
    @classmethod
    def part_classes(cls, extra: Sequence[str], handler: str | None) -> list[type[Part]]:
        """The strategy's own parts, then ``extra`` by name, then the constraint ``handler``."""
        found = [*cls.own_parts, *_registered_parts(extra)]
        if handler is not None:
            found.append(registry().get("constraint_handler", handler))
        names = [p.name for p in found]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigError(f"part {twice[0]!r} is listed twice; drop it from strategy.parts")
        return found

    @classmethod
    def compose(cls, extra: Sequence[str] = (), handler: str | None = None) -> type:
        """The config class of this strategy with ``extra`` parts and the fields of constraint
        ``handler`` (``None``: none; registered parts are looked up by name)."""
        key = (tuple(extra), handler)
        cache = cls.__dict__.get("_nascore_composed")
        if cache is None:
            cache = {}
            cls._nascore_composed = cache
        if key not in cache:
            sources = [OneShotConfig]
            if cls.policy_cls.config_cls is not None:
                sources.append(cls.policy_cls.config_cls)
            sources += [p.config_cls for p in cls.part_classes(extra, handler) if p.config_cls]
            cache[key] = compose_config(
                f"{cls.__name__}Config", sources, cls.defaults, f"Settings of strategy {cls.name}.",
                cls.renamed,
            )
        return cache[key]

    @classmethod
    def declared_handler(cls) -> str:
        """The constraint handler this strategy uses unless the config names another."""
        default = cls.defaults.get("constraint_handler")
        return default.value if default is not None else "penalty"

    @classmethod
    def config_class(cls, raw: Mapping[str, Any]) -> type:
        """The config class for the raw ``[strategy]`` section: the strategy's own config plus
        the fields of the parts and the constraint handler it names."""
        extra = raw.get("parts") or ()
        if isinstance(extra, str):
            extra = [p.strip() for p in extra.split(",") if p.strip()]
        if not isinstance(extra, (list, tuple)) or not all(isinstance(p, str) for p in extra):
            raise ConfigError(f"strategy.parts must be a list of part names, got {extra!r}")
        handler = raw.get("constraint_handler") or cls.declared_handler()
        return cls.compose(tuple(extra), str(handler))

    # -- construction ------------------------------------------------------------------------
    def __init__(self, config: Any, context: SearchContext) -> None:
        super().__init__(config, context)
        self.device = torch.device(context.device)
        self.hyper = self._hyper()
        options = self.supernet_options()
        self._check_partial_channels(options)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(context.seed)
            self.supernet = context.space.build_supernet(options).to(self.device)
        self.memory_format = memory_format(config.memory_format, self.device,
                                           config.partial_channels)
        self.supernet.to(memory_format=self.memory_format)
        ops = set_op_recompute(self.supernet,
                               recompute_ops(config.recompute, config.partial_channels))
        if config.recompute == "ops" and not ops:
            raise IncompatibleError(
                f"space {context.space.name} has no ops that recompute; set recompute = auto"
            )
        if config.recompute == "cells" and not set_recompute(self.supernet, True):
            raise IncompatibleError(
                f"space {context.space.name} has no recomputable cells; set recompute = auto"
            )
        self.groups: list[DecisionGroup] = list(self.supernet.groups)
        handler = config.constraint_handler if context.constraints else None
        part_classes = self.part_classes(config.parts, handler)
        #: Epochs the loop runs: the parts' planned epochs, else ``hyper.epochs``.
        self.loop_epochs = self._planned_epochs(part_classes)
        check_warmup(self.warmup_epochs, self.num_epochs)
        self.generator = torch.Generator().manual_seed(context.seed)
        self.augment_generator = torch.Generator().manual_seed(context.seed + 1)
        self.epoch = 0
        self.weights_optimizer = torch.optim.SGD(
            self.supernet.parameters(), lr=self.hyper.lr, momentum=self.hyper.momentum,
            weight_decay=self.hyper.weight_decay, nesterov=config.nesterov,
        )
        self.weights_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.weights_optimizer, T_max=self.num_epochs, eta_min=config.lr_min
        )
        self.params = ArchParameters(self.groups, self._adam(), self.generator, self.device)
        self.edge_norm = (
            EdgeNormalization(self.params) if config.edge_normalization else None
        )
        self.policy = self.policy_cls(config, self.num_epochs, self.generator)
        self.parts: list[Part] = []
        for part_cls in part_classes:
            missing = set(part_cls.requires) - set(context.space.capabilities)
            if missing:
                raise IncompatibleError(
                    f"part {part_cls.name} needs a space with {', '.join(sorted(missing))}, "
                    f"which space {context.space.name} lacks; choose another space"
                )
            self.parts.append(part_cls(self))
        self._nascore_stats = self._empty_stats()
        self.replicas = distributed.world_size()
        for size in sorted({self.batch_size(e) for e in range(self.num_epochs)}):
            if size % self.replicas:
                raise ConfigError(
                    f"batch size {size} does not split evenly over "
                    f"{self.replicas} processes; use a multiple of {self.replicas}"
                )
        #: The module the weights step runs: the supernet, under DDP when data-parallel.
        self.forward_net: nn.Module = (
            distributed.data_parallel(self.supernet, self.device) if self.replicas > 1
            else self.supernet
        )

    def _hyper(self) -> Hyper:
        c, budget = self.config, self.context.budget
        source = budget if budget is not None and c.budget_schedule else c
        return Hyper(
            epochs=source.epochs, batch_size=source.batch_size, lr=source.lr,
            momentum=source.momentum, weight_decay=source.weight_decay,
            grad_clip=source.grad_clip,
        )

    def _adam(self) -> AdamSettings:
        c = self.config
        return AdamSettings(c.arch_lr, tuple(c.arch_betas), c.arch_weight_decay)

    def proxy(self) -> dict[str, int]:
        """The space-size overrides of the supernet: a budget's layers and channels."""
        budget = self.context.budget
        return {} if budget is None else {"layers": budget.layers, "channels": budget.channels}

    def supernet_options(self) -> SupernetOptions:
        """How the supernet is built: partial channels, levels, and the proxy size."""
        return SupernetOptions(
            partial_channels=self.config.partial_channels, proxy=self.proxy(),
            levels=self.config.levels,
        )

    def network_options(self) -> dict[str, Any]:
        """``build_network`` options of the network the search is about: the supernet's size."""
        return self.proxy()

    def cost_options(self) -> dict[str, Any]:
        """What constraint handlers ask the space's cost tables for: the network's size and,
        with more than one, its normal-cell ``levels``."""
        levels = self.config.levels
        return {**self.proxy(), **({"levels": levels} if levels > 1 else {})}

    def _check_partial_channels(self, options: SupernetOptions) -> None:
        k = options.partial_channels
        channels = options.proxy.get(
            "channels", getattr(self.context.space.config, "channels", None)
        )
        if k > 1 and isinstance(channels, int) and channels % k:
            raise ConfigError(
                f"partial_channels={k} does not divide the supernet's channels={channels}; "
                f"use channels that are a multiple of {k} or a partial_channels dividing {channels}"
            )

    def part(self, name: str) -> Part:
        """The part called ``name``; a clear error if this search does not run it."""
        for part in self.parts:
            if part.name == name:
                return part
        running = ", ".join(p.name for p in self.parts) or "none"
        raise ConfigError(f"strategy {self.name} runs no part {name!r} (parts: {running})")

    def all_reduce(self, tensor: torch.Tensor, op: str = "mean") -> torch.Tensor:
        """``tensor`` reduced over the processes of a data-parallel search (``sum``, ``mean``,
        ``max`` or ``min``; every process gets the same value); ``tensor`` itself on one
        process. Parts reduce the per-process statistics they decide on (a batch's accuracy
        is measured on this process's share of the batch) so that every process decides alike.
        """
        return distributed.all_reduce(tensor, op)

    def op_groups(self, user: str) -> list[DecisionGroup]:
        """The decision groups of role ``"op"``; a one-line error naming ``user`` (a part)
        when the space has none."""
        groups = [g for g in self.groups if g.role == "op"]
        if not groups:
            raise IncompatibleError(
                f"{user} works on decision groups of role 'op', and space "
                f"{self.context.space.name} has none; use a space with op choices (e.g. darts)"
            )
        return groups

    def remove_candidates(
        self, group: DecisionGroup, drops: Sequence[tuple[int, int, str]], **fields: Any
    ) -> list[dict[str, Any]]:
        """Remove ``(edge, candidate, reason)`` drops from ``group`` (they never run again) and
        log one ``prune`` event each, with ``fields`` (e.g. epoch, score) and the candidates the
        edge keeps; return the events."""
        mask = self.params.masks[group.name].clone()
        for edge, candidate, _reason in drops:
            mask[edge, candidate] = False
        self.params.set_mask(group.name, mask)
        kept = mask.cpu()
        events = []
        for edge, candidate, reason in drops:
            event = {
                "type": "prune", **fields, "group": group.name, "edge": group.edges[edge],
                "op": group.candidates[candidate], "reason": reason,
                "remaining": [group.candidates[c] for c in kept[edge].nonzero().flatten()],
            }
            self.context.events.log(event)
            events.append(event)
        return events

    # -- compatibility shortcuts (the parameters live in ``params``) ---------------------------
    @property
    def alphas(self) -> dict[str, nn.Parameter]:
        """Group name -> ``[edges, candidates]`` architecture logits."""
        return self.params.alphas

    @property
    def masks(self) -> dict[str, torch.Tensor]:
        """Group name -> bool mask of the candidates still in play."""
        return self.params.masks

    def prune(self, group: str, edge: int | str, candidate: int | str) -> None:
        """Remove one candidate from one edge; it never runs again (see :class:`ArchParameters`)."""
        self.params.prune(group, edge, candidate)

    def set_mask(self, group: str, mask: torch.Tensor) -> None:
        """Replace a group's candidate mask (``True`` = kept)."""
        self.params.set_mask(group, mask)

    # -- policy ------------------------------------------------------------------------------
    @property
    def warmup_epochs(self) -> int:
        """Number of first epochs without architecture steps."""
        configured = self.config.warmup_epochs
        if configured is None:
            return scaled_warmup(self.num_epochs, self.config.warmup_fraction)
        return configured

    def in_warmup(self, epoch: int) -> bool:
        """Whether ``epoch`` is a warm-up epoch (weights only)."""
        return epoch < self.warmup_epochs

    def arch_steps_enabled(self, epoch: int) -> bool:
        """Whether ``epoch`` runs architecture steps: past the warm-up, and every part agrees."""
        return not self.in_warmup(epoch) and all(p.arch_steps(epoch) for p in self.parts)

    def edge_scale(self, group: DecisionGroup) -> torch.Tensor | None:
        """Per-edge output multipliers of ``group`` (edge normalisation), or ``None``."""
        return None if self.edge_norm is None else self.edge_norm.scale(group.name)

    def edge_weights(self, group: DecisionGroup) -> EdgeWeights:
        """How ``group`` mixes on the next forward pass: the policy's weights (or sample), the
        mask, the edge scale, then every part's :meth:`~Part.edge_weights`."""
        mask = self.params.masks[group.name]
        weights, index = self.policy.mix(self.params.alphas[group.name], mask, self.epoch)
        result = EdgeWeights(
            weights=weights, index=index, mask=None if bool(mask.all()) else mask,
            edge_scale=self.edge_scale(group),
        )
        for part in self.parts:
            result = part.edge_weights(group, result)
        return result

    def forward_weights(self) -> dict[str, EdgeWeights]:
        """:meth:`edge_weights` of every group: the ``weights`` argument of a supernet forward."""
        return {group.name: self.edge_weights(group) for group in self.groups}

    def probabilities(self) -> dict[str, torch.Tensor]:
        """Differentiable softmax of each group's alphas over its unpruned candidates."""
        return self.params.probabilities()

    def scores(self, handlers: bool = True) -> dict[str, torch.Tensor]:
        """Per-group ``[edges, candidates]`` scores for ``space.derive`` (pruned: ``-inf``).

        The probabilities times the edge scale, then each part's :meth:`~Part.scores`;
        ``handlers=False`` stops before the constraint handler (what the search itself prefers).
        """
        with torch.no_grad():
            result = {}
            probabilities = self.probabilities()
            for group in self.groups:
                mask = self.params.masks[group.name]
                score = probabilities[group.name]
                scale = self.edge_scale(group)
                if scale is not None:
                    score = score * scale[:, None]
                result[group.name] = masked_logits(score, mask).detach().cpu()
            for part in self.parts:
                if not handlers and getattr(part, "is_constraint_handler", False):
                    break
                result = part.scores(result)
            return result

    def derive(self) -> Architecture:
        """``space.derive(self.scores())``."""
        return self.context.space.derive(self.scores())

    def derivation_report(self) -> dict[str, Any]:
        """The parts' :meth:`~Part.derivation_report` of the last :meth:`derive`."""
        report: dict[str, Any] = {}
        for part in self.parts:
            report.update(part.derivation_report())
        return report

    # -- training ----------------------------------------------------------------------------
    @property
    def num_epochs(self) -> int:
        """Epochs the loop runs (:attr:`loop_epochs`)."""
        return self.loop_epochs

    def _planned_epochs(self, part_classes: Sequence[type[Part]]) -> int:
        """The epochs the parts plan (:meth:`Part.planned_epochs`), else ``hyper.epochs``; a
        one-line error when two parts plan different numbers."""
        planned = {n: p.name for p in part_classes
                   if (n := p.planned_epochs(self)) is not None}
        if len(planned) > 1:
            names = " and ".join(f"{name} ({n})" for n, name in sorted(planned.items()))
            raise ConfigError(f"parts plan different numbers of epochs: {names}; drop one")
        return next(iter(planned), self.hyper.epochs)

    def batch_size(self, epoch: int) -> int:
        """The batch size of ``epoch``: the first part's :meth:`Part.batch_size`, else
        ``hyper.batch_size``."""
        for part in self.parts:
            size = part.batch_size(epoch)
            if size is not None:
                return size
        return self.hyper.batch_size

    @property
    def data(self) -> SearchData:
        """The search data; a clear error when the run has none."""
        if self.context.data is None:
            raise UsageError(f"strategy {self.name} needs training data; pass a dataset")
        return self.context.data

    def steps_per_epoch(self, epoch: int) -> int:
        """One pass over the weights split at the epoch's batch size; when the parts plan
        :attr:`num_epochs` other than ``hyper.epochs``, that pass times ``hyper.epochs /
        num_epochs`` (rounded, at least 1), so the run still trains ``hyper.epochs`` passes."""
        passes = self.data.num_batches("weights", self.batch_size(epoch))
        if self.num_epochs == self.hyper.epochs:
            return passes
        return max(1, round(passes * self.hyper.epochs / self.num_epochs))

    def _batches(self, split: str, epoch: int, start: int) -> Iterator[Batch]:
        """``split``'s batches of ``epoch`` from batch ``start``, cycling if it is short."""
        size = self.batch_size(epoch)
        start %= self.data.num_batches(split, size)
        while True:
            yield from self.data.batches(split, size, epoch, start=start)
            start = 0

    def run_epoch(self, epoch: int, start_step: int = 0) -> Iterator[Mapping[str, float]]:
        """Search steps of ``epoch`` from ``start_step``; yields ``{"loss", "arch_loss"}`` per step
        (``arch_loss`` is absent in epochs without architecture steps)."""
        self.epoch = epoch
        for part in self.parts:
            part.begin_epoch(epoch)
        weights_batches = self._batches("weights", epoch, start_step)
        arch_on = self.arch_steps_enabled(epoch)
        arch_batches = self._batches("arch", epoch, start_step) if arch_on else None
        for step in range(start_step, self.steps_per_epoch(epoch)):
            batch = next(weights_batches)
            arch_batch = None if arch_batches is None else next(arch_batches)
            yield self.search_step(batch, arch_batch, step)

    def _prepare(self, batch: Batch, train: bool) -> Batch:
        """The budget's cutout (weights batches) and image size, then the device."""
        x, y = batch
        budget = self.context.budget
        if budget is not None:
            if train and budget.cutout:
                x = cutout(x, budget.cutout, self.augment_generator)
            x = resize_batch(x, budget.image_size)
        return x.to(self.device, memory_format=self.memory_format), y.to(self.device)

    def _precision(self) -> contextlib.AbstractContextManager:
        budget = self.context.budget
        # the supernet's steps scale no loss: precision 16 is bfloat16 there, GPU included
        precision = budget.precision if budget is not None else 32
        return precision_context(self.device, precision, loss_scaling=False)

    def search_step(self, batch: Batch, arch_batch: Batch | None, step: int) -> dict[str, float]:
        """One weights step on ``batch`` and (if ``arch_batch`` is given) the arch steps, in the
        configured order."""
        batch = self._prepare(batch, train=True)
        arch_loss = None
        if arch_batch is not None and self.config.arch_step_first:
            arch_loss = self._arch_stages(self._prepare(arch_batch, train=False), batch, step)
        record = self.weights_step(batch, step)
        for part in self.parts:
            part.after_weights_step(record)
        if arch_batch is not None and not self.config.arch_step_first:
            arch_loss = self._arch_stages(self._prepare(arch_batch, train=False), batch, step)
        self._nascore_stats["loss"] += record.loss
        self._nascore_stats["acc"] += record.accuracy
        self._nascore_stats["steps"] += 1
        metrics = {"loss": record.loss}
        if arch_loss is not None:
            metrics["arch_loss"] = arch_loss
            self._nascore_stats["arch_loss"] += arch_loss
            self._nascore_stats["arch_steps"] += 1
        return metrics

    def _arch_stages(self, arch_batch: Batch, train_batch: Batch, step: int) -> float:
        """The architecture steps of every stage (one per stage, or one joint); first loss."""
        stages = tuple(sorted(self.params.optimizers))
        schedule = [stages] if self.config.joint_arch_step else [(s,) for s in stages]
        losses = []
        for group in schedule:
            for record in self.arch_steps(group, arch_batch, train_batch, step):
                for part in self.parts:
                    part.after_arch_step(record)
                losses.append(record.loss)
        return losses[0]

    def compute_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy plus the supernet's :meth:`~nascore.space.Supernet.extra_loss`."""
        loss = F.cross_entropy(logits.float(), targets)
        extra = self.supernet.extra_loss()
        return loss if extra is None else loss + extra

    def _part_terms(self, split: str, selections: Mapping[str, EdgeWeights]) -> torch.Tensor | None:
        terms = [t for p in self.parts if (t := p.loss_term(split, selections)) is not None]
        return sum(terms[1:], terms[0]) if terms else None

    def _check_finite(self, loss: torch.Tensor, which: str, step: int) -> None:
        """Raise :class:`NonFiniteLossError` when ``loss`` is not finite on some process (on
        every process alike: the check is collective)."""
        value = distributed.all_reduce(loss.detach().float().reshape(1), "mean")
        if not bool(torch.isfinite(value).all()):
            raise NonFiniteLossError(
                f"{which} loss is {float(value[0])} at epoch {self.epoch + 1} step "
                f"{step + 1}; lower the learning rates or check the data"
            )

    def weights_step(self, batch: Batch, step: int) -> StepRecord:
        """One SGD step of the supernet weights (architecture fixed)."""
        x, y = batch
        self.supernet.train()
        with torch.no_grad():
            selections = self.forward_weights()
        with self._precision():
            logits = self.forward_net(x, selections)
            loss = self.compute_loss(logits, y)
        term = self._part_terms("weights", selections)
        if term is not None:
            loss = loss + term
        self._check_finite(loss, "weights", step)
        self.weights_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.supernet.parameters(), self.hyper.grad_clip)
        self.weights_optimizer.step()
        return StepRecord(self.epoch, step, "weights", None, float(loss.detach()),
                          _accuracy(logits, y), selections)

    @contextlib.contextmanager
    def _frozen_weights(self) -> Iterator[None]:
        """Supernet parameters without ``requires_grad``: autograd then keeps only what input
        gradients need (e.g. no convolution inputs), about 15% less memory in an arch step."""
        trainable = [p for p in self.supernet.parameters() if p.requires_grad]
        for p in trainable:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in trainable:
                p.requires_grad_(True)

    def arch_steps(
        self, stages: tuple[int, ...], arch_batch: Batch, train_batch: Batch, step: int
    ) -> list[StepRecord]:
        """One Adam step of every stage in ``stages`` from a single forward/backward pass.

        Returns one :class:`StepRecord` per stage (sharing loss, accuracy and selections).
        """
        params = self.params.of_stages(stages)
        self.supernet.train()
        selections = self.forward_weights()
        if self.config.second_order:
            loss, logits, grads = unrolled_arch_gradients(
                self.supernet, selections, params, train_batch, arch_batch, self.compute_loss,
                xi=self.weights_optimizer.param_groups[0]["lr"],
                check=lambda value, which: self._check_finite(value, which, step),
                reduce=distributed.all_reduce_many,
            )
        else:
            with self._frozen_weights(), self._precision():
                logits = self.supernet(arch_batch[0], selections)
                loss = self.compute_loss(logits, arch_batch[1])
            self._check_finite(loss, "arch", step)
            found = torch.autograd.grad(loss, params, allow_unused=True)
            grads = [torch.zeros_like(p) if g is None else g
                     for g, p in zip(found, params, strict=True)]
        term = self._part_terms("arch", selections)
        if term is not None:
            self._check_finite(term, "arch penalty", step)
            extra = torch.autograd.grad(term, params, allow_unused=True)
            grads = [g if e is None else g + e for g, e in zip(grads, extra, strict=True)]
            loss = loss.detach() + term.detach()
        self.params.step(stages, distributed.all_reduce_many(grads))
        loss_value, accuracy = float(loss.detach()), _accuracy(logits, arch_batch[1])
        used = detach_selections(selections)
        return [StepRecord(self.epoch, step, "arch", stage, loss_value, accuracy, used)
                for stage in stages]

    # -- epochs ------------------------------------------------------------------------------
    @staticmethod
    def _empty_stats() -> dict[str, float]:
        return {"loss": 0.0, "acc": 0.0, "steps": 0, "arch_loss": 0.0, "arch_steps": 0}

    def _reduced_stats(self) -> dict[str, float]:
        """The epoch's step statistics, losses and accuracies averaged over the processes."""
        keys = ("loss", "acc", "arch_loss")
        means = distributed.all_reduce(
            torch.tensor([self._nascore_stats[k] for k in keys], dtype=torch.float64), "mean"
        ).tolist()
        return {**self._nascore_stats, **dict(zip(keys, means, strict=True))}

    @torch.no_grad()
    def evaluate(self, split: str = "arch", images: int | None = None) -> dict[str, float]:
        """Mean loss and accuracy of the supernet (eval mode) on ``split`` of this epoch (over
        every process's share of it, with rank 0's batch-norm statistics), limited by
        ``valid_batches``; with ``images``, on the first ``images`` images of one fixed seeded
        order of ``split`` instead (the same images at every call)."""
        distributed.broadcast_buffers(self.supernet)
        self.supernet.eval()
        total_loss, correct, count = 0.0, 0, 0
        limit = self.config.valid_batches if images is None else None
        size = self.batch_size(self.epoch)
        batches = self.data.batches(split, size, self.epoch if images is None else 0)
        for i, batch in enumerate(batches):
            if (limit is not None and i >= limit) or (images is not None and i * size >= images):
                break
            x, y = self._prepare(batch, train=False)
            if images is not None:
                keep = self._shard_count(images - i * size)
                x, y = x[:keep], y[:keep]
            with self._precision():
                logits = self.supernet(x, self.forward_weights())
            total_loss += float(F.cross_entropy(logits.float(), y)) * len(y)
            correct += int((logits.argmax(dim=1) == y).sum())
            count += len(y)
        self.supernet.train()
        sums = torch.tensor([total_loss, correct, count], dtype=torch.float64)
        total_loss, correct, count = distributed.all_reduce(sums, "sum").tolist()
        return {"loss": total_loss / max(count, 1), "accuracy": correct / max(count, 1)}

    def _shard_count(self, images: int) -> int:
        """How many of a batch's first ``images`` images this process holds (process ``rank``
        holds images ``rank, rank + replicas, ...``)."""
        data = self.data
        return max(0, -(-(images - data.rank) // data.replicas))

    def arch_metrics(self) -> dict[str, Any]:
        """Architecture parameters for the event log: per-group candidate probabilities."""
        with torch.no_grad():
            metrics: dict[str, Any] = {
                "arch_weights": {g: p.cpu().tolist() for g, p in self.probabilities().items()}
            }
            scales = {g.name: self.edge_scale(g) for g in self.groups}
            if any(s is not None for s in scales.values()):
                metrics["edge_weights"] = {
                    g: s.cpu().tolist() for g, s in scales.items() if s is not None
                }
            pruned = {g: int((~m).sum()) for g, m in self.params.masks.items()}
            if any(pruned.values()):
                metrics["pruned"] = pruned
        return metrics

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        """Validate on the arch split, report losses and arch weights, run the parts' end of
        epoch, step the lr schedule."""
        self.epoch = epoch
        valid = self.evaluate("arch")
        stats = self._reduced_stats()
        steps, arch_steps = max(stats["steps"], 1), stats["arch_steps"]
        metrics: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": stats["loss"] / steps,
            "train_acc": stats["acc"] / steps,
            "valid_loss": valid["loss"],
            "valid_acc": valid["accuracy"],
            "lr": self.weights_optimizer.param_groups[0]["lr"],
            "warmup": self.in_warmup(epoch),
            **self.policy.metrics(epoch),
            **self.arch_metrics(),
        }
        if arch_steps:
            metrics["arch_loss"] = stats["arch_loss"] / arch_steps
        for part in self.parts:
            part.end_epoch(epoch, metrics)
        self.weights_scheduler.step()
        self._nascore_stats = self._empty_stats()
        return metrics

    # -- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "supernet": self.supernet.state_dict(),
            "params": self.params.state_dict(),
            "weights_optimizer": self.weights_optimizer.state_dict(),
            "weights_scheduler": self.weights_scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "augment_generator": self.augment_generator.get_state(),
            "stats": dict(self._nascore_stats),
            "parts": {part.name: part.state_dict() for part in self.parts},
            "settings": self._optimiser_settings(),
        }

    def _optimiser_settings(self) -> dict[str, Any]:
        """The optimiser hyper-parameters in force (compared on resume)."""
        c = self.config
        return {
            **attrs.asdict(self.hyper),
            "lr_min": c.lr_min,
            "arch_lr": c.arch_lr,
            "arch_betas": list(c.arch_betas),
            "arch_weight_decay": c.arch_weight_decay,
        }

    def _reapply_settings(self) -> None:
        """After a resume with changed settings, put the new values into the optimisers.

        The cosine schedule restarts from the new ``lr``/``lr_min``/``epochs`` at the current
        epoch (closed form); Adam gets the new architecture learning rate, betas and decay.
        """
        h, c = self.hyper, self.config
        scheduler = self.weights_scheduler
        scheduler.base_lrs = [h.lr for _ in scheduler.base_lrs]
        epochs = self.num_epochs
        scheduler.eta_min, scheduler.T_max = c.lr_min, epochs
        t = min(scheduler.last_epoch, epochs)
        lr = c.lr_min + (h.lr - c.lr_min) * (1 + math.cos(math.pi * t / epochs)) / 2
        for group in self.weights_optimizer.param_groups:
            group.update(lr=lr, initial_lr=h.lr, momentum=h.momentum,
                         weight_decay=h.weight_decay)
        scheduler._last_lr = [lr for _ in scheduler.base_lrs]
        self.params.apply_settings(self._adam())

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.supernet.load_state_dict(state["supernet"])
        self.params.load_state_dict(state["params"])
        self.weights_optimizer.load_state_dict(state["weights_optimizer"])
        self.weights_scheduler.load_state_dict(state["weights_scheduler"])
        self.generator.set_state(state["generator"])
        self.augment_generator.set_state(state["augment_generator"])
        self._nascore_stats = dict(state["stats"])
        parts = state["parts"]
        for part in self.parts:
            part.load_state_dict(parts.get(part.name, {}))
        if state["settings"] != self._optimiser_settings():
            self._reapply_settings()

    @classmethod
    def plot(cls, events: list[dict[str, Any]], path_stem: str) -> list[str]:
        """The plots of the strategy's own parts."""
        return [path for part in cls.own_parts for path in part.plot(events, path_stem)]


def one_shot_strategy(
    name: str,
    *,
    policy: type[SamplingPolicy] = Softmax,
    parts: Sequence[type[Part]] = (),
    defaults: Mapping[str, Default | Any] | None = None,
    presets: Mapping[str, Mapping[str, Any]] | None = None,
    doc: str = "",
    class_name: str | None = None,
    renamed: Mapping[str, str | Renamed] | None = None,
) -> type[OneShotStrategy]:
    """Declare a one-shot strategy: a sampling policy, parts and published defaults.

    ``defaults`` map config keys to :class:`~nascore.config.Default` (value and source) or plain
    values; ``presets`` name alternative settings (``--set strategy.preset=NAME``); ``renamed``
    keeps old config keys working as deprecated aliases (``{old: new}`` or
    :class:`~nascore.config.Renamed`). The result is a registrable
    :class:`~nascore.strategy.Strategy` class.
    """
    declared = {
        key: value if isinstance(value, Default) else Default(value)
        for key, value in (defaults or {}).items()
    }
    cls_name = class_name or "".join(p.capitalize() for p in name.replace("-", "_").split("_"))
    cls = type(
        f"{cls_name}Strategy",
        (OneShotStrategy,),
        {
            "name": name,
            "policy_cls": policy,
            "own_parts": tuple(parts),
            "defaults": declared,
            "presets": dict(presets or {}),
            "renamed": dict(renamed or {}),
            "__doc__": doc or f"The one-shot strategy {name}.",
            "__module__": _caller_module(),
        },
    )
    cls.config_cls = cls.compose()  # without handler fields: no registry lookup at import
    return cls


def _caller_module() -> str:
    import sys

    return sys._getframe(2).f_globals.get("__name__", __name__)

