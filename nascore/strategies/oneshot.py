"""The shared base of one-shot (supernet) strategies: DARTS, PC-DARTS, GDAS and plugins on them.

:class:`OneShotStrategy` trains a supernet built from ``context.space``: per step one weights step
(SGD) on a "weights" batch, then, unless the epoch is a warm-up epoch, one architecture step per
:attr:`DecisionGroup.stage <nascore.space.DecisionGroup>` (one Adam optimiser per stage, stepped
in stage order) on an "arch" batch.

Extension points for plugins (override in a subclass, call ``super()`` where it makes sense):

* :meth:`OneShotStrategy.edge_weights` -- the sampling policy of one group for one forward pass.
* :meth:`OneShotStrategy.edge_scale` -- optional per-edge multipliers (edge normalisation).
* :meth:`OneShotStrategy.scores` -- what :meth:`derive` hands to ``space.derive``.
* :meth:`OneShotStrategy.after_weights_step` / :meth:`OneShotStrategy.after_arch_step` -- called
  with a :class:`StepRecord` (the selections used, hence the sampled candidates, and the batch
  loss and accuracy) after every update.
* :meth:`OneShotStrategy.compute_loss` -- the training objective (cross-entropy by default).
* :meth:`OneShotStrategy.prune` / :meth:`OneShotStrategy.set_mask` -- candidate masks; pruned
  candidates get weight 0, score ``-inf`` and never run.
* :attr:`OneShotStrategy.warmup_epochs` -- epochs without architecture steps.
* :meth:`OneShotStrategy.add_arch_parameter` -- extra architecture parameters (trained by the
  stage's Adam, saved in the state).
* :meth:`OneShotStrategy.extra_state` / :meth:`OneShotStrategy.load_extra_state` -- a plugin's own
  resumable state.
* :meth:`OneShotStrategy.end_epoch` -- per-epoch work (pruning, projections), metrics.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from typing import Any

import attrs
import torch
import torch.nn.functional as F
from torch import nn

from nascore.architecture import Architecture
from nascore.config import field, non_negative, positive
from nascore.context import SearchContext
from nascore.data import SearchData
from nascore.errors import ConfigError, NonFiniteLossError, UsageError
from nascore.space import DecisionGroup, EdgeWeights, SupernetOptions
from nascore.strategies.sampling import masked_logits, masked_softmax
from nascore.strategies.unrolled import detach_selections, unrolled_arch_gradients
from nascore.strategy import Strategy

Batch = tuple[torch.Tensor, torch.Tensor]


def _betas(_inst: Any, attribute: attrs.Attribute, value: tuple[float, ...]) -> None:
    if len(value) != 2 or not all(0.0 <= b < 1.0 for b in value):
        raise ConfigError(f"{attribute.name} must be two numbers in [0, 1), got {value!r}")


@attrs.frozen
class OneShotConfig:
    """Settings shared by all one-shot strategies (defaults: DARTS)."""

    epochs: int = field(50, "search epochs", validator=positive)
    batch_size: int = field(64, "batch size of weights and arch steps", validator=positive)
    lr: float = field(
        0.025, "initial SGD learning rate of the supernet weights", validator=positive
    )
    lr_min: float = field(
        0.001, "final learning rate of the cosine schedule", validator=non_negative
    )
    momentum: float = field(0.9, "SGD momentum", validator=non_negative)
    weight_decay: float = field(3e-4, "SGD weight decay", validator=non_negative)
    grad_clip: float = field(5.0, "gradient norm clip of the weights step", validator=positive)
    arch_lr: float = field(
        3e-4, "Adam learning rate of the architecture parameters", validator=positive
    )
    arch_betas: tuple[float, float] = field(
        (0.5, 0.999), "Adam betas of the architecture step", validator=_betas
    )
    arch_weight_decay: float = field(
        1e-3, "Adam weight decay of the architecture parameters", validator=non_negative
    )
    warmup_epochs: int = field(0, "first epochs without architecture steps", validator=non_negative)
    second_order: bool = field(False, "unrolled (second-order) architecture gradient")
    joint_arch_step: bool = field(
        False, "update all decision-group stages from one architecture forward/backward pass "
        "(cheaper; the default steps stage after stage, e.g. A-DARTS alpha then beta)",
    )
    valid_batches: int | None = field(
        None,
        "arch batches evaluated at the end of each epoch (None: the whole split)",
        validator=positive,
    )
    budget_schedule: bool = field(
        True,
        "with --budget, take epochs, batch size, lr, momentum, weight decay and grad clip "
        "from it (its layers and channels always size the proxy supernet)",
    )

    def __attrs_post_init__(self) -> None:
        if self.lr_min > self.lr:
            raise ConfigError(f"lr_min {self.lr_min} is above lr {self.lr}; lower lr_min")
        _check_warmup(self.warmup_epochs, self.epochs)


def _check_warmup(warmup: int, epochs: int) -> None:
    if warmup >= epochs:
        raise ConfigError(
            f"warmup_epochs ({warmup}) must be below epochs ({epochs}), or the architecture is "
            "never trained; lower warmup_epochs or raise epochs"
        )


@attrs.frozen
class StepRecord:
    """What one weights or architecture update did, handed to the ``after_*_step`` hooks.

    ``selections`` are the :class:`EdgeWeights` of the forward pass; for sampling strategies
    ``selections[group].index`` holds the candidate each edge ran. ``stage`` is ``None`` for a
    weights step. ``accuracy`` is the top-1 accuracy on the batch (0..1).
    """

    epoch: int
    step: int
    split: str
    stage: int | None
    loss: float
    accuracy: float
    selections: Mapping[str, EdgeWeights]


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


class OneShotStrategy(Strategy):
    """Base of supernet strategies; see the module docstring for the extension points.

    Public attributes: ``supernet``, ``groups`` (its :class:`DecisionGroup` list), ``alphas``
    (group name -> ``[edges, candidates]`` parameter), ``masks`` (group name -> bool tensor),
    ``arch_parameters`` (every architecture parameter by name), ``generator`` (the torch
    generator sampling strategies draw from; saved in the state), ``epoch`` (current epoch) and
    ``hyper`` (:class:`Hyper`).
    """

    kind = "one-shot"
    requires = frozenset({"supernet"})
    config_cls = OneShotConfig

    def __init__(self, config: Any, context: SearchContext) -> None:
        super().__init__(config, context)
        self.device = torch.device(context.device)
        self.hyper = self._hyper()
        _check_warmup(self.warmup_epochs, self.hyper.epochs)
        options = self.supernet_options()
        self._check_partial_channels(options)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(context.seed)
            self.supernet = context.space.build_supernet(options).to(self.device)
        self.groups: list[DecisionGroup] = list(self.supernet.groups)
        self.generator = torch.Generator().manual_seed(context.seed)
        self.epoch = 0

        self.weights_optimizer = torch.optim.SGD(
            self.supernet.parameters(),
            lr=self.hyper.lr,
            momentum=self.hyper.momentum,
            weight_decay=self.hyper.weight_decay,
        )
        self.weights_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            self.weights_optimizer, T_max=self.hyper.epochs, eta_min=config.lr_min
        )
        self.arch_parameters: dict[str, nn.Parameter] = {}
        self.arch_stages: dict[str, int] = {}
        self.arch_optimizers: dict[int, torch.optim.Adam] = {}
        self.alphas: dict[str, nn.Parameter] = {}
        self.masks: dict[str, torch.Tensor] = {}
        for group in self.groups:
            self.alphas[group.name] = self.new_arch_parameter(group.shape)
            self.add_arch_parameter(group.name, self.alphas[group.name], group.stage)
            self.masks[group.name] = torch.ones(group.shape, dtype=torch.bool, device=self.device)
        self._stats = self._empty_stats()

    # -- construction ------------------------------------------------------------------------
    def _hyper(self) -> Hyper:
        c, budget = self.config, self.context.budget
        source = budget if budget is not None and c.budget_schedule else c
        return Hyper(
            epochs=source.epochs,
            batch_size=source.batch_size,
            lr=source.lr,
            momentum=source.momentum,
            weight_decay=source.weight_decay,
            grad_clip=source.grad_clip,
        )

    def partial_channels(self) -> int:
        """K of partial-channel mixing (1: every channel goes through the candidates)."""
        return 1

    def supernet_options(self) -> SupernetOptions:
        """How the supernet is built: partial channels, and the budget's proxy layers/channels."""
        budget = self.context.budget
        proxy = {} if budget is None else {"layers": budget.layers, "channels": budget.channels}
        return SupernetOptions(partial_channels=self.partial_channels(), proxy=proxy)

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

    def new_arch_parameter(self, shape: tuple[int, ...]) -> nn.Parameter:
        """A fresh architecture parameter, ``1e-3 * randn`` from :attr:`generator`."""
        init = 1e-3 * torch.randn(shape, generator=self.generator)
        return nn.Parameter(init.to(self.device))

    def add_arch_parameter(self, name: str, param: nn.Parameter, stage: int = 0) -> None:
        """Train ``param`` with the Adam optimiser of ``stage`` and keep it in the state."""
        if name in self.arch_parameters:
            raise ValueError(f"architecture parameter {name!r} is already registered")
        self.arch_parameters[name] = param
        self.arch_stages[name] = stage
        optimizer = self.arch_optimizers.get(stage)
        if optimizer is None:
            self.arch_optimizers[stage] = torch.optim.Adam(
                [param],
                lr=self.config.arch_lr,
                betas=tuple(self.config.arch_betas),
                weight_decay=self.config.arch_weight_decay,
            )
        else:
            optimizer.add_param_group({"params": [param]})

    # -- extension points --------------------------------------------------------------------
    @property
    def warmup_epochs(self) -> int:
        """Number of first epochs without architecture steps."""
        return self.config.warmup_epochs

    def in_warmup(self, epoch: int) -> bool:
        """Whether ``epoch`` trains only the supernet weights."""
        return epoch < self.warmup_epochs

    def edge_scale(self, group: DecisionGroup) -> torch.Tensor | None:
        """Per-edge output multipliers of ``group`` (``None``: no edge normalisation)."""
        return None

    def edge_weights(self, group: DecisionGroup) -> EdgeWeights:
        """The sampling policy: how ``group``'s candidates mix on the next forward pass.

        DARTS: a dense softmax over the unpruned candidates. Called once per group per forward
        pass, under ``torch.no_grad()`` for weights steps and evaluation.
        """
        mask = self.masks[group.name]
        return EdgeWeights(
            weights=masked_softmax(self.alphas[group.name], mask),
            mask=None if bool(mask.all()) else mask,
            edge_scale=self.edge_scale(group),
        )

    def forward_weights(self) -> dict[str, EdgeWeights]:
        """:meth:`edge_weights` of every group: the ``weights`` argument of a supernet forward."""
        return {group.name: self.edge_weights(group) for group in self.groups}

    def probabilities(self) -> dict[str, torch.Tensor]:
        """Differentiable softmax of each group's alphas over its unpruned candidates."""
        return {
            g.name: masked_softmax(self.alphas[g.name], self.masks[g.name]) for g in self.groups
        }

    def scores(self) -> dict[str, torch.Tensor]:
        """Per-group ``[edges, candidates]`` scores for ``space.derive`` (pruned: ``-inf``).

        Default: the candidate probabilities, times :meth:`edge_scale` where it is set.
        """
        with torch.no_grad():
            result = {}
            for group in self.groups:
                score = masked_softmax(self.alphas[group.name], self.masks[group.name])
                scale = self.edge_scale(group)
                if scale is not None:
                    score = score * scale[:, None]
                result[group.name] = masked_logits(score, self.masks[group.name]).cpu()
            return result

    def compute_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The training objective of both steps (cross-entropy)."""
        return F.cross_entropy(logits, targets)

    def after_weights_step(self, record: StepRecord) -> None:
        """Called after every weights update (no-op here)."""

    def after_arch_step(self, record: StepRecord) -> None:
        """Called after every architecture update, once per stage (no-op here)."""

    def extra_state(self) -> dict[str, Any]:
        """A subclass's own resumable state (stored under ``"extra"`` in :meth:`state_dict`)."""
        return {}

    def load_extra_state(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`extra_state`."""

    # -- masks -------------------------------------------------------------------------------
    def _group(self, name: str) -> DecisionGroup:
        for group in self.groups:
            if group.name == name:
                return group
        raise KeyError(
            f"no decision group {name!r}; groups: {', '.join(g.name for g in self.groups)}"
        )

    def prune(self, group: str, edge: int | str, candidate: int | str) -> None:
        """Remove one candidate from one edge (by index or name); it never runs again."""
        g = self._group(group)
        e = g.edges.index(edge) if isinstance(edge, str) else edge
        c = g.candidates.index(candidate) if isinstance(candidate, str) else candidate
        mask = self.masks[group].clone()
        mask[e, c] = False
        self.set_mask(group, mask)

    def set_mask(self, group: str, mask: torch.Tensor) -> None:
        """Replace a group's candidate mask (``True`` = kept); every edge must keep one."""
        shape = self._group(group).shape
        mask = torch.as_tensor(mask, dtype=torch.bool, device=self.device)
        if tuple(mask.shape) != shape:
            raise ValueError(f"mask of {group} must have shape {shape}, got {tuple(mask.shape)}")
        if not bool(mask.any(dim=1).all()):
            raise ValueError(f"mask of {group} would leave an edge without any candidate")
        self.masks[group] = mask

    # -- training ----------------------------------------------------------------------------
    @property
    def num_epochs(self) -> int:
        return self.hyper.epochs

    @property
    def data(self) -> SearchData:
        """The search data; a clear error when the run has none."""
        if self.context.data is None:
            raise UsageError(f"strategy {self.name} needs training data; pass a dataset")
        return self.context.data

    def steps_per_epoch(self, epoch: int) -> int:
        return self.data.num_batches("weights", self.hyper.batch_size)

    def _arch_batches(self, epoch: int, start: int) -> Iterator[Batch]:
        """The arch split's batches of ``epoch`` from batch ``start``, cycling if it is short."""
        n = self.data.num_batches("arch", self.hyper.batch_size)
        start %= n
        while True:
            yield from self.data.batches("arch", self.hyper.batch_size, epoch, start=start)
            start = 0

    def run_epoch(self, epoch: int, start_step: int = 0) -> Iterator[Mapping[str, float]]:
        """Search steps of ``epoch`` from ``start_step``; yields ``{"loss", "arch_loss"}`` per step
        (``arch_loss`` is absent in warm-up epochs)."""
        self.epoch = epoch
        weights_batches = self.data.batches(
            "weights", self.hyper.batch_size, epoch, start=start_step
        )
        arch_batches = None if self.in_warmup(epoch) else self._arch_batches(epoch, start_step)
        for step in range(start_step, self.steps_per_epoch(epoch)):
            batch = next(weights_batches)
            arch_batch = None if arch_batches is None else next(arch_batches)
            yield self.search_step(batch, arch_batch, step)

    def search_step(self, batch: Batch, arch_batch: Batch | None, step: int) -> dict[str, float]:
        """One weights step on ``batch``, then (if ``arch_batch`` is given) the arch steps."""
        batch = self._to_device(batch)
        record = self.weights_step(batch, step)
        self.after_weights_step(record)
        self._stats["loss"] += record.loss
        self._stats["acc"] += record.accuracy
        self._stats["steps"] += 1
        metrics = {"loss": record.loss}
        if arch_batch is not None:
            arch_batch = self._to_device(arch_batch)
            arch_losses = []
            stages = tuple(sorted(self.arch_optimizers))
            groups = [stages] if self.config.joint_arch_step else [(s,) for s in stages]
            for group in groups:
                for arch_record in self.arch_steps(group, arch_batch, batch, step):
                    self.after_arch_step(arch_record)
                    arch_losses.append(arch_record.loss)
            metrics["arch_loss"] = arch_losses[0]
            self._stats["arch_loss"] += arch_losses[0]
            self._stats["arch_steps"] += 1
        return metrics

    def _to_device(self, batch: Batch) -> Batch:
        x, y = batch
        return x.to(self.device), y.to(self.device)

    def _check_finite(self, loss: torch.Tensor, which: str, step: int) -> None:
        if not bool(torch.isfinite(loss)):
            raise NonFiniteLossError(
                f"{which} loss is {float(loss.detach())} at epoch {self.epoch} step {step}; "
                "lower the learning rates or check the data"
            )

    def weights_step(self, batch: Batch, step: int) -> StepRecord:
        """One SGD step of the supernet weights (architecture fixed)."""
        x, y = batch
        self.supernet.train()
        with torch.no_grad():
            selections = self.forward_weights()
        logits = self.supernet(x, selections)
        loss = self.compute_loss(logits, y)
        self._check_finite(loss, "weights", step)
        self.weights_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.supernet.parameters(), self.hyper.grad_clip)
        self.weights_optimizer.step()
        return StepRecord(
            self.epoch,
            step,
            "weights",
            None,
            float(loss.detach()),
            _accuracy(logits, y),
            selections,
        )

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
        params = [p for name, p in self.arch_parameters.items() if self.arch_stages[name] in stages]
        self.supernet.train()
        selections = self.forward_weights()
        if self.config.second_order:
            loss, logits, grads = unrolled_arch_gradients(
                self.supernet,
                selections,
                params,
                train_batch,
                arch_batch,
                self.compute_loss,
                xi=self.weights_optimizer.param_groups[0]["lr"],
                check=lambda value, which: self._check_finite(value, which, step),
            )
        else:
            with self._frozen_weights():
                logits = self.supernet(arch_batch[0], selections)
            loss = self.compute_loss(logits, arch_batch[1])
            self._check_finite(loss, "arch", step)
            found = torch.autograd.grad(loss, params, allow_unused=True)
            grads = [
                torch.zeros_like(p) if g is None else g for g, p in zip(found, params, strict=True)
            ]
        for p, g in zip(params, grads, strict=True):
            p.grad = g.detach()
        for stage in stages:
            self.arch_optimizers[stage].step()
        for p in params:
            p.grad = None
        loss_value, accuracy = float(loss.detach()), _accuracy(logits, arch_batch[1])
        used = detach_selections(selections)
        return [
            StepRecord(self.epoch, step, "arch", stage, loss_value, accuracy, used)
            for stage in stages
        ]

    # -- epochs ------------------------------------------------------------------------------
    @staticmethod
    def _empty_stats() -> dict[str, float]:
        return {"loss": 0.0, "acc": 0.0, "steps": 0, "arch_loss": 0.0, "arch_steps": 0}

    @torch.no_grad()
    def evaluate(self, split: str = "arch") -> dict[str, float]:
        """Mean loss and accuracy of the supernet (eval mode) on ``split`` of this epoch."""
        self.supernet.eval()
        total_loss, correct, count = 0.0, 0, 0
        limit = self.config.valid_batches
        for i, batch in enumerate(self.data.batches(split, self.hyper.batch_size, self.epoch)):
            if limit is not None and i >= limit:
                break
            x, y = self._to_device(batch)
            logits = self.supernet(x, self.forward_weights())
            total_loss += float(self.compute_loss(logits, y)) * len(y)
            correct += int((logits.argmax(dim=1) == y).sum())
            count += len(y)
        self.supernet.train()
        return {"loss": total_loss / max(count, 1), "accuracy": correct / max(count, 1)}

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
            pruned = {g: int((~m).sum()) for g, m in self.masks.items()}
            if any(pruned.values()):
                metrics["pruned"] = pruned
        return metrics

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        """Validate on the arch split, step the lr schedule, report losses and arch weights."""
        self.epoch = epoch
        valid = self.evaluate("arch")
        stats = self._stats
        steps, arch_steps = max(stats["steps"], 1), stats["arch_steps"]
        metrics: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": stats["loss"] / steps,
            "train_acc": stats["acc"] / steps,
            "valid_loss": valid["loss"],
            "valid_acc": valid["accuracy"],
            "lr": self.weights_optimizer.param_groups[0]["lr"],
            "warmup": self.in_warmup(epoch),
            **self.arch_metrics(),
        }
        if arch_steps:
            metrics["arch_loss"] = stats["arch_loss"] / arch_steps
        self.weights_scheduler.step()
        self._stats = self._empty_stats()
        return metrics

    def derive(self) -> Architecture:
        """``space.derive(self.scores())``."""
        return self.context.space.derive(self.scores())

    # -- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "supernet": self.supernet.state_dict(),
            "arch_parameters": {n: p.detach().clone() for n, p in self.arch_parameters.items()},
            "masks": {n: m.clone() for n, m in self.masks.items()},
            "weights_optimizer": self.weights_optimizer.state_dict(),
            "weights_scheduler": self.weights_scheduler.state_dict(),
            "arch_optimizers": {str(s): o.state_dict() for s, o in self.arch_optimizers.items()},
            "generator": self.generator.get_state(),
            "stats": dict(self._stats),
            "extra": self.extra_state(),
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
        scheduler.eta_min, scheduler.T_max = c.lr_min, h.epochs
        t = min(scheduler.last_epoch, h.epochs)
        lr = c.lr_min + (h.lr - c.lr_min) * (1 + math.cos(math.pi * t / h.epochs)) / 2
        for group in self.weights_optimizer.param_groups:
            group.update(lr=lr, initial_lr=h.lr, momentum=h.momentum,
                         weight_decay=h.weight_decay)
        scheduler._last_lr = [lr for _ in scheduler.base_lrs]
        for optimizer in self.arch_optimizers.values():
            for group in optimizer.param_groups:
                group.update(lr=c.arch_lr, betas=tuple(c.arch_betas),
                             weight_decay=c.arch_weight_decay)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.supernet.load_state_dict(state["supernet"])
        with torch.no_grad():
            for name, value in state["arch_parameters"].items():
                self.arch_parameters[name].copy_(value)
        for name, mask in state["masks"].items():
            self.masks[name] = mask.to(device=self.device, dtype=torch.bool).clone()
        self.weights_optimizer.load_state_dict(state["weights_optimizer"])
        self.weights_scheduler.load_state_dict(state["weights_scheduler"])
        for stage, optimizer_state in state["arch_optimizers"].items():
            self.arch_optimizers[int(stage)].load_state_dict(optimizer_state)
        self.generator.set_state(state["generator"])
        self._stats = dict(state["stats"])
        self.load_extra_state(state["extra"])
        if state.get("settings", self._optimiser_settings()) != self._optimiser_settings():
            self._reapply_settings()
