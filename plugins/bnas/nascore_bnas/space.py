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

from typing import Any

import attrs
import torch
from torch import nn

from nascore import ConfigError, SupernetOptions
from nascore.config import field, non_negative, one_of, positive
from nascore.spaces.darts import CellPlan, DartsSpace, DartsSpaceConfig
from nascore.spaces.darts.ops import ActFactory
from nascore_bnas.binary import AMPLITUDE_THETA, XNOR_SCALINGS
from nascore_bnas.bits import model_bits
from nascore_bnas.surgery import BINARIZERS, binarize, strip_relus

_PROTOCOL = "BNAS, Experiment Protocol"
#: Auxiliary heads are not part of the deployed model (as in the ``params`` metric).
_AUXILIARY = ("auxiliary",)


#: The published search network: 6 cells, reductions at the 2nd and 4th (BNAS, Experiment
#: Protocol).
PUBLISHED_LAYERS, PUBLISHED_REDUCTIONS = 6, frozenset({1, 3})
#: Fewest cells with two reduction cells and a normal cell.
MIN_LAYERS = 3


def _check_layers(inst: Any, attribute: attrs.Attribute, value: int) -> None:
    if inst.reductions is None and value < MIN_LAYERS:
        raise ConfigError(
            f"space.layers={value} leaves no normal cell beside the two reduction cells; use "
            f"layers >= {MIN_LAYERS}"
        )


@attrs.frozen
class BnasSpaceConfig(DartsSpaceConfig):
    """The ``darts`` settings with BNAS's search network (6 cells, reductions at the 2nd and 4th)
    and the binarization."""

    layers: int = field(
        6, f"number of cells of the search network (source: {_PROTOCOL}: 'a total of 6 cells')",
        validator=[positive, _check_layers],
    )
    reductions: tuple[int, ...] | None = field(
        None, "0-based indices of the reduction cells of the search network (None: cells 1 and 3 "
        f"at the published 6 cells (source: {_PROTOCOL}: 'inserted in the second and the fourth "
        "layers'), else layers // 3 and 2 * layers // 3 as DARTS); networks of other depths use "
        "the DARTS rule",
        validator=attrs.fields(DartsSpaceConfig).reductions.validator,
    )
    binarize: str = field(
        "pcnn", "xnor | pcnn: how convolution weights are binarized (source: BNAS, Tab. 1 and 2: "
        "PCNN gives its best CIFAR-10 network and its ImageNet network, and Eq. 6-7 are PCNN's "
        "amplitude loss; the authors' released models are XNOR)",
        validator=one_of(*BINARIZERS),
    )
    scaling: str = field(
        "channel", "channel | tensor: XNOR's weight scale A = mean |W| per output filter or per "
        "layer (source: XNOR-Net, Rastegari et al. 2016, Sec. 3.1, which BNAS re-implements: "
        "one alpha per filter; tensor: BNAS's 'shared amplitude A^l' per layer, as the authors' "
        "released Conv_XNOR)",
        validator=one_of(*XNOR_SCALINGS),
    )
    binarize_activations: bool | None = field(
        None, "also binarize the inputs of binarized convolutions with sign (the ReLUs in front "
        "of them are then dropped: sign is the nonlinearity); None: per binarization -- xnor "
        "binarizes them (source: XNOR-Net, 'both the weights and inputs ... are approximated with "
        "binary values', BNAS, Introduction), pcnn keeps them full precision (BNAS's Eq. 6 "
        "binarizes kernels only, as the authors' released code)",
    )
    input_scaling: bool = field(
        True, "with binarized inputs under xnor, multiply the output by XNOR-Net's K (mean |input| "
        "over the channels, box-filtered with the kernel's size) (source: XNOR-Net, Sec. 3.2); "
        "false: sign(input) alone, as BNN",
    )
    amplitude_theta: float = field(
        AMPLITUDE_THETA, "theta of the amplitude loss L_A (Eq. 6), added to the loss as in Eq. 7 "
        "for xnor and pcnn ('the complete loss function for BNAS'; for xnor A = mean |W| is the "
        "least-squares amplitude, so L_A pulls W towards +-A); BNAS gives no value, this is "
        "PCNN's projection-loss weight (Gu et al. 2019); 0 turns it off",
        validator=non_negative,
    )

    @property
    def activations_binarized(self) -> bool:
        """Whether the inputs of binarized convolutions are binarized (``binarize_activations``,
        or its per-binarization default)."""
        if self.binarize_activations is not None:
            return self.binarize_activations
        return self.binarize == "xnor"


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
            module, c.binarize, scaling=c.scaling, binarize_input=c.activations_binarized,
            amplitude_theta=c.amplitude_theta, input_scaling=c.input_scaling,
        )
        return strip_relus(module) if c.activations_binarized else module

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
        return strip_relus(edge) if self.config.activations_binarized else edge

    def reduction_cells(self, layers: int) -> frozenset[int]:
        """The configured reductions at the search network's depth; else cells 1 and 3 at the
        published 6 cells, and ``layers // 3``, ``2 * layers // 3`` (DARTS) at other depths."""
        if self.config.reductions is None and layers == PUBLISHED_LAYERS:
            return PUBLISHED_REDUCTIONS
        return super().reduction_cells(layers)

    def measure(self, metric: str, module: nn.Module, example: torch.Tensor) -> float:
        """``bits`` (:func:`~nascore_bnas.bits.model_bits`, auxiliary head excluded), or the
        DARTS metrics."""
        if metric == "bits":
            return float(model_bits(module, exclude=_AUXILIARY))
        return super().measure(metric, module, example)

    def network_metrics(self, network: nn.Module) -> dict[str, float]:
        """The model size in ``bits`` of a built network (auxiliary head excluded)."""
        return {"bits": model_bits(network, exclude=_AUXILIARY)}
