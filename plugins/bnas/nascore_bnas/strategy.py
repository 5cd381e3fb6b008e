"""The ``bnas`` strategy: PC-DARTS (softmax on half the channels, edge normalisation) with BNAS's
performance-based search-space reduction (:class:`~nascore_bnas.reduction_part.SpaceReduction`),
declared on the core's one-shot loop with the paper's settings."""

from __future__ import annotations

from nascore.oneshot import Default, Softmax, one_shot_strategy
from nascore_bnas.plan import epoch_plan
from nascore_bnas.reduction_part import SpaceReduction

_PROTOCOL = "BNAS, Experiment Protocol"

BNASStrategy = one_shot_strategy(
    "bnas",
    policy=Softmax,
    parts=(SpaceReduction,),
    defaults={
        "epochs": Default(
            len(epoch_plan()), "BNAS, Algorithm 1: L = 5, then 7 stages of T = 3 rounds of "
            "ceil(K/2) sampling epochs (57) and V = 1 PC-DARTS epoch (7); other values scale "
            "every planned epoch to epochs/69 of a pass",
        ),
        "batch_size": Default(
            128, f"{_PROTOCOL}: 128 in the first L epochs (reduction_batch_size: 400 after)",
        ),
        "lr": Default(0.025, _PROTOCOL),
        "lr_min": Default(0.0, f"{_PROTOCOL}: cosine schedule 'annealed down to zero'"),
        "momentum": Default(0.9, _PROTOCOL),
        "weight_decay": Default(5e-4, _PROTOCOL),
        "arch_lr": Default(
            0.01, f"{_PROTOCOL}: 'the learning rate for finding the hyper-parameters is set to "
            "0.01'",
        ),
        "warmup_epochs": Default(0, f"{_PROTOCOL}: the first 3 epochs tune only the weights; "
                                 "they are the plan's reduction_weights_only"),
        "partial_channels": Default(2, f"{_PROTOCOL}: PC-DARTS's C set to 2"),
        "edge_normalization": Default(True, "PC-DARTS, which BNAS follows"),
    },
    doc="BNAS: PC-DARTS on half the channels, then Algorithm 1's performance-based search-space "
    "reduction (sampled architectures, Eq. 2-5) down to one op per edge.",
    class_name="BNAS",
)
