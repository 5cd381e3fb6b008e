"""The ``bnas`` search space: DARTS cells whose convolutions are binarized (BNAS, Chen et al.
2020, "transforming all the convolutions in O to binarized convolutions").

A :class:`~nascore.spaces.darts.DartsSpace` whose op factory binarizes every convolution of the
ops it builds, so the supernet candidates, the evaluation networks and the cost tables all get
the same binarized ops. What is binarized follows the authors' released model code
(``models/darts_ops_x.py``, ``darts_cell_x.py``, ``darts_cnn_x.py``):

* binarized: the convolutions of every op (sep/dil convs, and the FactorizedReduce of a stride-2
  ``skip_connect``) and of the ReLU-1x1conv-BN cell preprocessing;
* full precision: the stem, the FactorizedReduce ``preprocess0`` of a cell after a reduction
  cell, the classifier and the auxiliary head (none of them comes from the op factory or the
  binarized preprocessing).

Architectures are ``darts`` genotypes; only the built modules differ.
"""

from __future__ import annotations

import attrs
import torch
from torch import nn

from nascore import SupernetOptions
from nascore.config import field, non_negative, one_of, positive
from nascore.spaces.darts import CellPlan, DartsSpace, DartsSpaceConfig
from nascore.spaces.darts.ops import ActFactory
from nascore_bnas.binary import AMPLITUDE_THETA, XNOR_SCALINGS
from nascore_bnas.bits import model_bits
from nascore_bnas.surgery import BINARIZERS, binarize, strip_relus

_PROTOCOL = "BNAS, Experiment Protocol"
#: Auxiliary heads are not part of the deployed model (as in the ``params`` metric).
_AUXILIARY = ("auxiliary",)


@attrs.frozen
class BnasSpaceConfig(DartsSpaceConfig):
    """The ``darts`` settings with BNAS's search network (6 cells, reductions at the 2nd and 4th)
    and the binarization."""

    layers: int = field(
        6, f"number of cells of the search network (source: {_PROTOCOL}: 'a total of 6 cells')",
        validator=positive,
    )
    reductions: tuple[int, ...] | None = field(
        (1, 3), "0-based indices of the reduction cells of the search network (source: "
        f"{_PROTOCOL}: 'inserted in the second and the fourth layers', i.e. cells 1 and 3; the "
        "DARTS rule would give 2 and 4); networks of other depths use the DARTS rule",
        validator=attrs.fields(DartsSpaceConfig).reductions.validator,
    )
    binarize: str = field(
        "pcnn", "xnor | pcnn: how convolution weights are binarized (source: BNAS, Tab. 1 and 2: "
        "PCNN gives its best CIFAR-10 network and its ImageNet network, and Eq. 6-7 are PCNN's "
        "amplitude loss; the authors' released models are XNOR)",
        validator=one_of(*BINARIZERS),
    )
    scaling: str = field(
        "tensor", "channel | tensor: XNOR's scale A = mean |W| per output channel or per layer "
        "(source: BNAS, 'Optimization for BNAS': one shared amplitude A^l per layer, as the "
        "authors' released Conv_XNOR; XNOR-Net uses one per channel)",
        validator=one_of(*XNOR_SCALINGS),
    )
    binarize_activations: bool = field(
        False, "also binarize the inputs of binarized convolutions with sign (the ReLUs in front "
        "of them are then dropped: sign is the nonlinearity); BNAS and its released code keep "
        "activations in full precision",
    )
    amplitude_theta: float = field(
        AMPLITUDE_THETA, "theta of PCNN's amplitude loss L_A (Eq. 6), added to the loss as in "
        "Eq. 7; BNAS gives no value, this is PCNN's projection-loss weight (Gu et al. 2019)",
        validator=non_negative,
    )


class BnasSpace(DartsSpace):
    """DARTS cells with binarized convolutions (see the module docstring); cost metrics
    ``params``, ``flops`` and ``bits`` (:func:`~nascore_bnas.bits.model_bits`)."""

    name = "bnas"
    config_cls = BnasSpaceConfig
    cost_metrics = ("params", "flops", "bits")

    def binarized(self, module: nn.Module) -> nn.Module:
        """``module`` with its convolutions binarized as configured (in place)."""
        c = self.config
        module = binarize(
            module, c.binarize, scaling=c.scaling, binarize_input=c.binarize_activations,
            amplitude_theta=c.amplitude_theta,
        )
        return strip_relus(module) if c.binarize_activations else module

    def op(
        self,
        name: str,
        C: int,
        stride: int,
        affine: bool,
        act: ActFactory = nn.ReLU,
        leading_act: bool = True,
    ) -> nn.Module:
        """The DARTS op ``name`` with binarized convolutions."""
        return self.binarized(super().op(name, C, stride, affine, act, leading_act))

    def preprocess(self, plan: CellPlan, affine: bool) -> tuple[nn.Module, nn.Module]:
        """DARTS's preprocessing, binarized except the FactorizedReduce after a reduction."""
        first, second = super().preprocess(plan, affine)
        if not plan.reduction_prev:
            first = self.binarized(first)
        return first, self.binarized(second)

    def search_edge(
        self, C: int, stride: int, cell_type: str, edge_index: int, options: SupernetOptions
    ) -> nn.Module:
        """The DARTS search edge; with binarized activations its shared ReLU is dropped too."""
        edge = super().search_edge(C, stride, cell_type, edge_index, options)
        return strip_relus(edge) if self.config.binarize_activations else edge

    def measure(self, metric: str, module: nn.Module, example: torch.Tensor) -> float:
        """``bits`` (:func:`~nascore_bnas.bits.model_bits`, auxiliary head excluded), or the
        DARTS metrics."""
        if metric == "bits":
            return float(model_bits(module, exclude=_AUXILIARY))
        return super().measure(metric, module, example)

    def network_metrics(self, network: nn.Module) -> dict[str, float]:
        """The model size in ``bits`` of a built network (auxiliary head excluded)."""
        return {"bits": model_bits(network, exclude=_AUXILIARY)}
