"""Retraining recipes: the DARTS CIFAR evaluation setting and the DARTS ImageNet setting.

:class:`TrainConfig` defaults are the CIFAR recipe (600 epochs, batch 96, SGD lr 0.025 with a
cosine schedule to 0, momentum 0.9, weight decay 3e-4, cutout 16, drop path 0.2 ramped linearly,
auxiliary weight 0.4, gradient clip 5, C=36, 20 cells). :data:`IMAGENET_RECIPE` holds what the
ImageNet recipe changes (250 epochs, batch 128, lr 0.1 decayed by 0.97 every epoch, weight decay
3e-5, label smoothing 0.1, C=48, 14 cells, the ImageNet stem, no cutout or drop path). A search
method may change the CIFAR recipe for the networks it found (its strategy's
:attr:`~nascore.strategy.Strategy.retrain_defaults`, e.g. RC-DARTS's drop path 0.3).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from nascore.config import field, non_negative, one_of, positive


@attrs.frozen
class TrainConfig:
    """How a derived network is retrained (section ``[train]`` of a train run)."""

    epochs: int = field(600, "training epochs", validator=positive)
    batch_size: int = field(96, "batch size (also used for evaluation)", validator=positive)
    lr: float = field(0.025, "initial SGD learning rate", validator=positive)
    schedule: str = field(
        "cosine", "cosine (to lr_min) or step (times lr_decay every epoch)",
        validator=one_of("cosine", "step"),
    )
    lr_min: float = field(0.0, "final learning rate of the cosine schedule", validator=non_negative)
    lr_decay: float = field(0.97, "per-epoch factor of the step schedule", validator=positive)
    momentum: float = field(0.9, "SGD momentum", validator=non_negative)
    weight_decay: float = field(3e-4, "SGD weight decay", validator=non_negative)
    grad_clip: float = field(5.0, "gradient norm clip (0: off)", validator=non_negative)
    cutout: int = field(16, "cutout length in pixels (0: off; clamped to the image)",
                        validator=non_negative)
    drop_path: float = field(0.2, "final drop-path probability (ramped linearly from 0)",
                             validator=non_negative)
    auxiliary_weight: float = field(0.4, "weight of the auxiliary head's loss (0: no head)",
                                    validator=non_negative)
    label_smoothing: float = field(0.0, "label smoothing of the cross-entropy",
                                   validator=non_negative)
    channels: int = field(36, "initial channels C of the network", validator=positive)
    layers: int = field(20, "number of cells", validator=positive)
    variant: str = field("cifar", "network stem: cifar or imagenet",
                         validator=one_of("cifar", "imagenet"))
    valid_fraction: float = field(
        0.0, "share of the training set held out to choose best.safetensors by validation "
        "accuracy (0: the DARTS recipe, trains on every image; then only the last weights are "
        "kept)", validator=non_negative,
    )
    seed: int = field(0, "seed of initialisation, data order, cutout and drop path")
    device: str = field("auto", "auto (a GPU when there is one), cpu, cuda or cuda:N")
    log_every: int = field(
        0, "log a line every N steps of an epoch with the running means of the step metrics, "
        "besides the epoch lines (0: epoch lines only)", validator=non_negative,
    )


#: What the ImageNet recipe changes relative to the :class:`TrainConfig` defaults.
IMAGENET_RECIPE: dict[str, Any] = {
    "epochs": 250,
    "batch_size": 128,
    "lr": 0.1,
    "schedule": "step",
    "lr_decay": 0.97,
    "weight_decay": 3e-5,
    "label_smoothing": 0.1,
    "cutout": 0,
    "drop_path": 0.0,
    "channels": 48,
    "layers": 14,
    "variant": "imagenet",
}

#: Datasets trained with :data:`IMAGENET_RECIPE` by default.
IMAGENET_STYLE_DATASETS = ("imagefolder",)


def recipe_defaults(dataset: str, method: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The recipe's values that differ from the :class:`TrainConfig` defaults for ``dataset``:
    the ImageNet recipe, or the CIFAR recipe with ``method``'s changes (a search method's
    :attr:`~nascore.strategy.Strategy.retrain_defaults` values)."""
    return dict(IMAGENET_RECIPE) if dataset in IMAGENET_STYLE_DATASETS else dict(method or {})


def learning_rate(config: TrainConfig, epoch: int) -> float:
    """The learning rate of ``epoch`` (0-based): cosine from ``lr`` to ``lr_min``, or step decay.

    The schedule is a function of the epoch alone, so a resumed run needs no scheduler state.
    """
    if config.schedule == "step":
        return config.lr * config.lr_decay**epoch
    return cosine_lr(config.lr, epoch, config.epochs, config.lr_min)


def cosine_lr(lr: float, epoch: int, epochs: int, lr_min: float = 0.0) -> float:
    """Cosine annealing from ``lr`` at epoch 0 to ``lr_min`` at epoch ``epochs``."""
    return lr_min + (lr - lr_min) * (1 + math.cos(math.pi * epoch / epochs)) / 2
