"""The ``train`` estimator: train the architecture's network under a budget, score its accuracy.

Each estimate builds ``space.build_network(arch)`` with the budget's ``channels`` and ``layers``
(plus an auxiliary head when the budget weights one), trains it from scratch (SGD with the
budget's lr, momentum and weight decay, cosine schedule over ``epochs``, gradient clip, cutout,
drop path ramped to the budget's ``drop_path``, autocast for precision 16: float16 with loss
scaling on CUDA, bfloat16 on the CPU) and scores top-1 accuracy on held-out training images.
Images are augmented at full size and then resized (bilinear) to the budget's ``image_size``.
Without a budget (no ``--budget`` and no ``[budget]`` section) the
:class:`~nascore.budget.Budget` defaults apply.

Which images score an estimate (``estimator.holdout``): by default 5,000 training images are
held out and the rest train, as MIP-BPE does on CIFAR-10 (Sec. 5.1.1: 5K of the 50K training
images). A training set smaller than 50,000 images holds out the same share (a tenth; e.g. 144 of
digits' 1,437), with a note. ``holdout = 0`` uses the search split instead: the *weights* part
trains and the *arch* part (``data.arch_fraction``) scores.

Training is seeded by the run seed, the architecture and the budget (so an estimate does not
depend on what was evaluated before it, nor on the process it runs in) and does not disturb the
global RNG. Results are cached per architecture and budget; the cache is part of the state dict,
so a resumed search does not retrain. With a parallel executor, :meth:`TrainEstimator.estimate_many`
trains the uncached candidates on the workers and caches their results here.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import torch
from torch import nn

from nascore.architecture import Architecture
from nascore.budget import Budget
from nascore.config import field, non_negative
from nascore.data import iterate_batches
from nascore.errors import DataError, IncompatibleError, NonFiniteLossError
from nascore.estimator import Estimate, Estimator
from nascore.training.augment import cutout
from nascore.training.fit import (
    EpochStats,
    evaluate_batches,
    fit_epoch,
    grad_scaler,
    precision_name,
    resize_batch,
    set_learning_rate,
)
from nascore.training.network import build_network, network_costs, require_network
from nascore.training.recipe import cosine_lr

if TYPE_CHECKING:
    from collections.abc import Iterator

    from nascore.context import SearchContext

log = logging.getLogger("nascore")

#: MIP-BPE's validation set during search: 5K of CIFAR-10's 50K training images (Sec. 5.1.1).
PAPER_HOLDOUT, PAPER_TRAIN_IMAGES = 5000, 50000


def holdout_size(images: int, holdout: int) -> int:
    """Images held out of a training set of ``images``: ``holdout``, or on a set smaller than
    ``holdout * PAPER_TRAIN_IMAGES / PAPER_HOLDOUT`` images (50,000 for the paper's 5,000) the
    same share of it, rounded (at least 1)."""
    full = holdout * PAPER_TRAIN_IMAGES // PAPER_HOLDOUT
    if images >= full:
        return holdout
    return max(1, round(images * PAPER_HOLDOUT / PAPER_TRAIN_IMAGES))


@attrs.frozen
class TrainEstimatorConfig:
    """Caching and seeding of the training estimator (the training itself is the budget)."""

    cache: bool = field(True, "reuse the estimate of an architecture evaluated before")
    seed_per_arch: bool = field(
        True, "seed each training by run seed and architecture (False: by the run seed alone)"
    )
    holdout: int = field(
        PAPER_HOLDOUT, "training images held out to score an estimate; the rest train "
        "(source: MIP-BPE Sec. 5.1.1, 5K of CIFAR-10's 50K; a smaller training set holds out "
        "the same tenth; 0: train on the weights part and score on the arch part of the search "
        "split, data.arch_fraction)", validator=non_negative,
    )


class TrainEstimator(Estimator):
    """Proxy training under ``context.budget`` (see the module docstring)."""

    name = "train"
    config_cls = TrainEstimatorConfig
    requires = frozenset({"network"})

    def __init__(self, config: TrainEstimatorConfig, context: SearchContext) -> None:
        super().__init__(config, context)
        require_network(context.space)
        if context.data is None:
            raise IncompatibleError(
                "estimator train needs the run's data to train on; build the SearchContext "
                "with data=SearchData(...)"
            )
        self.data = context.data
        self.budget = context.budget or Budget()
        self.cache: dict[str, Estimate] = {}
        self.split = self._split()

    def _split(self) -> dict[str, Any] | None:
        """Training-set indices of the held-out split (``train``, ``valid``), or ``None`` for
        the search split; a proportional holdout is noted on the console and in the log."""
        holdout = self.config.holdout
        if holdout == 0:
            return None
        images = len(self.data.train)  # type: ignore[arg-type]
        valid = holdout_size(images, holdout)
        if images - valid < 2:
            raise DataError(
                f"the train estimator cannot hold out {valid} of {images} training images and "
                "train on the rest; use more images (data.subset) or estimator.holdout=0 (score "
                "on the search split)"
            )
        order = np.random.default_rng([self.context.seed, 3]).permutation(images)
        if valid != holdout:
            message = (
                f"note: the train estimator holds out {valid} of the {images} training images "
                f"to score estimates (MIP-BPE holds out {PAPER_HOLDOUT:,} of "
                f"{PAPER_TRAIN_IMAGES:,}; the same share of a smaller training set)"
            )
            log.info(message)
            self.context.events.log({"type": "note", "message": message})
        return {"valid": order[:valid], "train": order[valid:]}

    def _batches(self, part: str, batch_size: int, epoch: int) -> Iterator[Any]:
        """Batches of ``part`` (``train`` or ``valid``) of the estimator's split, shuffled per
        epoch for training."""
        if self.split is None:
            yield from self.data.batches("weights" if part == "train" else "arch", batch_size,
                                         epoch)
            return
        indices = self.split[part]
        if part == "train":
            indices = indices[np.random.default_rng([self.context.seed, epoch, 3])
                              .permutation(len(indices))]
        yield from iterate_batches(self.data.train, indices, batch_size, 0,
                                   self.data.config.workers)

    @staticmethod
    def cache_key(arch: Architecture, budget: Budget) -> str:
        """The key of ``arch`` trained under ``budget`` (cache and seed)."""
        return json.dumps([arch.key(), attrs.asdict(budget)], sort_keys=True)

    def seed_for(self, arch: Architecture, budget: Budget | None = None) -> int:
        """The training seed of ``arch`` under ``budget``: a stable hash of the run seed, the
        architecture and the budget."""
        if not self.config.seed_per_arch:
            return self.context.seed
        key = self.cache_key(arch, budget or self.budget)
        return zlib.crc32(f"{self.context.seed}:{key}".encode())

    def build(self, arch: Architecture, budget: Budget | None = None) -> nn.Module:
        """The network ``budget`` trains (initialised from the current global RNG), with an
        auxiliary head when the budget weights one and the space's networks have one."""
        info, budget = self.data.info, budget or self.budget
        options: dict[str, Any] = {
            "channels": budget.channels, "layers": budget.layers,
            "num_classes": info.num_classes, "in_channels": info.in_channels,
        }
        if budget.auxiliary_weight > 0:
            options["auxiliary"] = True
        return build_network(self.context.space, arch, options, quiet=True)[0]

    def estimate(self, arch: Architecture, budget: Budget | None = None) -> Estimate:
        """Validation accuracy after training under ``budget`` (default: the run's budget),
        from the cache if evaluated under that budget before."""
        budget = budget or self.budget
        key = self.cache_key(arch, budget)
        cached = key in self.cache
        estimate = self.cache[key] if cached else self._train(arch, budget)
        if self.config.cache:
            self.cache[key] = estimate
        self.context.events.log({
            "type": "estimate", "arch": self.context.space.format(arch), "cached": cached,
            "score": estimate.score, "cost_seconds": estimate.cost_seconds,
            "params": estimate.params, "flops": estimate.flops,
            "precision": precision_name(self.context.device, budget.precision),
            **estimate.report,
        })
        return estimate

    def estimate_many(
        self, archs: Sequence[Architecture], budget: Budget | None = None
    ) -> list[Estimate]:
        """Estimates of ``archs`` in order: cached ones from the cache, the others trained
        (on the executor's workers when there is one) and then cached."""
        budget = budget or self.budget
        keys = [self.cache_key(arch, budget) for arch in archs]
        todo = [i for i, key in enumerate(keys) if key not in self.cache]
        fresh = dict(zip(todo, super().estimate_many([archs[i] for i in todo], budget),
                         strict=True))
        if self.config.cache:
            self.cache.update({keys[i]: estimate for i, estimate in fresh.items()})
        return [fresh[i] if i in fresh else self.estimate(archs[i], budget)
                for i in range(len(archs))]

    def _train(self, arch: Architecture, budget: Budget) -> Estimate:
        began = time.perf_counter()
        device, seed = self.context.device, self.seed_for(arch, budget)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            network = self.build(arch, budget).to(device)
            optimizer = torch.optim.SGD(network.parameters(), lr=budget.lr,
                                        momentum=budget.momentum,
                                        weight_decay=budget.weight_decay)
            generator = torch.Generator().manual_seed(seed)
            scaler = grad_scaler(device, budget.precision)

            def augment(images: torch.Tensor) -> torch.Tensor:
                return resize_batch(cutout(images, budget.cutout, generator), budget.image_size)

            train = EpochStats(float("nan"), 0.0, 0)
            for epoch in range(budget.epochs):
                set_learning_rate(optimizer, cosine_lr(budget.lr, epoch, budget.epochs))
                if hasattr(network, "drop_path_prob"):
                    network.drop_path_prob = budget.drop_path * epoch / budget.epochs
                batches = self._batches("train", budget.batch_size, epoch)
                try:
                    train = fit_epoch(network, batches, optimizer, nn.CrossEntropyLoss(), device,
                                      grad_clip=budget.grad_clip, precision=budget.precision,
                                      auxiliary_weight=budget.auxiliary_weight,
                                      augment=augment, scaler=scaler)
                except NonFiniteLossError as exc:
                    raise NonFiniteLossError(
                        f"{exc} of epoch {epoch + 1} of a train estimate; lower the learning "
                        "rate (--set budget.lr=...)"
                    ) from None
            valid = evaluate_batches(network, self._batches("valid", budget.batch_size, 0),
                                     lambda images: resize_batch(images, budget.image_size))
        size = budget.image_size or self.data.info.image_size
        costs = network_costs(network, attrs.evolve(self.data.info, image_size=size))
        return Estimate(
            score=valid.accuracy, cost_seconds=time.perf_counter() - began,
            params=costs["params"], flops=costs["macs"],
            report={"train_loss": train.loss, "train_acc": train.accuracy,
                    "valid_loss": valid.loss},
        )

    def state_dict(self) -> dict[str, Any]:
        return {"cache": {key: attrs.asdict(e) for key, e in self.cache.items()}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.cache = {key: Estimate(**e) for key, e in state.get("cache", {}).items()}
