"""BNAS for nascore: binarized convolutions (XNOR, PCNN), the ``bnas`` space (DARTS cells with
binarized ops), model size in bits, and the performance-based search-space reduction of
Algorithm 1 as the ``space_reduction`` part and the ``bnas`` strategy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nascore.lazy import lazy_exports

__version__ = '0.1.0'

__getattr__, __dir__ = lazy_exports(__name__, {
    "AMPLITUDE_THETA": ".binary",
    "BINARIZERS": ".surgery",
    "BNASStrategy": ".strategy",
    "BinaryConv2d": ".binary",
    "BitsConstraint": ".bits",
    "BnasSpace": ".space",
    "BnasSpaceConfig": ".space",
    "OperationReduction": ".reduction",
    "PCNNConv2d": ".binary",
    "PlannedEpoch": ".plan",
    "ReductionConfig": ".reduction_part",
    "SpaceReduction": ".reduction_part",
    "XNORConv2d": ".binary",
    "amplitude_loss": ".surgery",
    "binarize": ".surgery",
    "drop_least_likely": ".reduction",
    "epoch_plan": ".plan",
    "epoch_sample": ".plan",
    "hard_sign": ".binary",
    "larger_likelihood": ".reduction",
    "model_bits": ".bits",
    "round_samples": ".plan",
    "sign_ste": ".binary",
    "smaller_half": ".reduction",
    "smaller_likelihood": ".reduction",
    "strip_relus": ".surgery",
    "update_likelihood": ".reduction",
})

__all__ = [
    "__version__",
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

if TYPE_CHECKING:
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
