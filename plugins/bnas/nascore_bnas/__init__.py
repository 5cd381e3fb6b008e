"""BNAS for nascore: binarized convolutions (XNOR, PCNN), the ``bnas`` space (DARTS cells with
binarized ops), model size in bits, and the performance-based search-space reduction of
Algorithm 1 as the ``space_reduction`` part and the ``bnas`` strategy."""

from nascore_bnas.binary import (
    AMPLITUDE_THETA,
    BinaryConv2d,
    PCNNConv2d,
    XNORConv2d,
    hard_sign,
    sign_ste,
)
from nascore_bnas.bits import BitsConstraint, model_bits
from nascore_bnas.plan import PlannedEpoch, epoch_plan, epoch_sample, round_samples
from nascore_bnas.reduction import (
    OperationReduction,
    drop_least_likely,
    larger_likelihood,
    smaller_half,
    smaller_likelihood,
    update_likelihood,
)
from nascore_bnas.reduction_part import ReductionConfig, SpaceReduction
from nascore_bnas.space import BnasSpace, BnasSpaceConfig
from nascore_bnas.strategy import BNASStrategy
from nascore_bnas.surgery import BINARIZERS, amplitude_loss, binarize, strip_relus

__version__ = "0.1.0"

__all__ = [
    "AMPLITUDE_THETA",
    "BINARIZERS",
    "BNASStrategy",
    "BinaryConv2d",
    "BitsConstraint",
    "BnasSpace",
    "BnasSpaceConfig",
    "OperationReduction",
    "PCNNConv2d",
    "PlannedEpoch",
    "ReductionConfig",
    "SpaceReduction",
    "XNORConv2d",
    "__version__",
    "amplitude_loss",
    "binarize",
    "drop_least_likely",
    "epoch_plan",
    "epoch_sample",
    "hard_sign",
    "larger_likelihood",
    "model_bits",
    "round_samples",
    "sign_ste",
    "smaller_half",
    "smaller_likelihood",
    "strip_relus",
    "update_likelihood",
]
