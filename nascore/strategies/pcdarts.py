"""PC-DARTS (Xu et al., 2020): partial-channel mixing and edge normalisation on top of DARTS."""

from nascore.deprecated import Replacement, moved
from nascore.oneshot import Default, Softmax, one_shot_strategy

_PAPER = "PC-DARTS, Xu et al. 2020, Sec. 4.2 (CIFAR-10)"

PCDartsStrategy = one_shot_strategy(
    "pcdarts",
    policy=Softmax,
    defaults={
        "batch_size": Default(256, _PAPER),
        "lr": Default(0.1, _PAPER),
        "arch_lr": Default(6e-4, _PAPER),
        "warmup_epochs": Default(None, f"{_PAPER}: 15 of 50 epochs, scaled with epochs"),
        "warmup_fraction": Default(0.3, f"{_PAPER}: 15 of 50 epochs"),
        "partial_channels": Default(4, _PAPER),
        "edge_normalization": Default(True, _PAPER),
    },
    doc="PC-DARTS: DARTS's softmax on 1/K of the channels, with edge normalisation and a "
    "weights-only warm-up.",
    class_name="PCDarts",
)

#: The config class of plugin API 1 (now composed from the loop's, the policy's and the parts').
__getattr__ = moved(__name__, {
    "PCDartsConfig": Replacement(
        lambda: PCDartsStrategy.config_class({}),
        "nascore.strategies.pcdarts.PCDartsStrategy.config_class({})",
    ),
})
