"""Fixed (hand-designed) cells of the ``darts`` space, used in place of a searched cell type.

GDAS (FRC) (Dong & Yang, "Searching for A Robust Neural Architecture in Four GPU Hours", CVPR
2019: "GDAS (FRC)", the variant with a fixed reduction cell) searches only the normal cell; every
reduction cell is :class:`GdasReductionCell`. ``space.reduction_cell = "gdas_frc"`` selects it.
"""

from __future__ import annotations

import torch
from torch import nn

from nascore.errors import ConfigError
from nascore.nn.blocks import drop_path
from nascore.space import Selection
from nascore.spaces.darts.cells import CellBase, CellPlan, Preprocess, default_preprocess
from nascore.spaces.darts.genotype import GDAS_FRC

#: Groups of the GDAS cell's 1x3 and 3x1 convolutions.
GDAS_GROUPS = 8
#: Outputs the GDAS cell concatenates (its width is ``GDAS_OUTPUTS * C``).
GDAS_OUTPUTS = 4


def _factorized_branch(C: int, affine: bool) -> nn.Sequential:
    """ReLU, 1x3 conv (stride (1, 2)), 3x1 conv (stride (2, 1)), both with 8 groups, BN, ReLU,
    1x1 conv, BN: half resolution, ``C`` channels."""
    bias = not affine
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(C, C, (1, 3), stride=(1, 2), padding=(0, 1), groups=GDAS_GROUPS, bias=bias),
        nn.Conv2d(C, C, (3, 1), stride=(2, 1), padding=(1, 0), groups=GDAS_GROUPS, bias=bias),
        nn.BatchNorm2d(C, affine=affine),
        nn.ReLU(),
        nn.Conv2d(C, C, 1, bias=bias),
        nn.BatchNorm2d(C, affine=affine),
    )


def _pool_branch(C: int, affine: bool) -> nn.Sequential:
    """3x3 max pool with stride 2, then BN."""
    return nn.Sequential(nn.MaxPool2d(3, stride=2, padding=1), nn.BatchNorm2d(C, affine=affine))


class GdasReductionCell(CellBase):
    """The GDAS fixed reduction cell: both inputs preprocessed to ``C`` channels (as in every
    darts cell), then four outputs at half resolution concatenated to ``4 * C`` channels:
    ``X0 = branch0(s0)``, ``X1 = branch1(s1)`` with a branch ReLU -> 1x3 conv stride (1, 2)
    -> 3x1 conv stride (2, 1) (both groups 8) -> BN -> ReLU -> 1x1 conv -> BN, and
    ``X2 = BN(maxpool3x3/2(s0))``, ``X3 = BN(maxpool3x3/2(s1))``.

    Where each detail comes from (the reference code, ``GDAS_Reduction_Cell`` in
    D-X-Y/AutoDL-Projects ``xautodl/models/cell_operations.py``, the cell its GDAS (FRC) search
    model ``search_model_gdas_frc_nasnet.py`` puts at every reduction):

    * kernels, strides, paddings, ``groups=8``, layer order, the output order and the
      multiplier 4: as in the reference.
    * ``X2`` pools the preprocessed ``s0``: the reference's GDAS (FRC) commit changed it from a
      stride-1 pool of ``X0 + X1`` (left there as a comment) to this; we follow the current code.
    * BatchNorm ``affine`` follows the network (``False`` in the supernet, ``True`` in evaluation
      networks), as the reference passes ``affine`` through; its convs have a bias only when the
      BN is not affine (``bias=not affine``), which we keep.
    * drop path: in training with ``drop_prob > 0`` on all four outputs (the reference drops
      ``X0, X1`` and ``X2, X3``); the supernet never drops.
    * preprocessing: FactorizedReduce after a reduction, else ReLU-1x1conv-BN (the reference
      does the same); here it is the space's step in front of a cell, so a connection cell
      (``space.connection_cell``) replaces its 1x1 convs as in the other cells.

    The grouped convs need ``C`` divisible by 8: a :class:`~nascore.errors.ConfigError` says so.
    """

    def __init__(
        self, plan: CellPlan, affine: bool, preprocess: Preprocess = default_preprocess
    ) -> None:
        if not plan.reduction:
            raise ValueError("the GDAS fixed cell is a reduction cell")
        if plan.C % GDAS_GROUPS:
            raise ConfigError(
                f"the GDAS fixed reduction cell (space.reduction_cell={GDAS_FRC}) needs a "
                f"multiple of {GDAS_GROUPS} channels for its grouped convs, but a reduction cell "
                f"has {plan.C}; use initial channels divisible by {GDAS_GROUPS // 2}"
            )
        super().__init__(plan, affine, preprocess)
        self.C = plan.C
        self.branches = nn.ModuleList(_factorized_branch(plan.C, affine) for _ in range(2))
        self.pools = nn.ModuleList(_pool_branch(plan.C, affine) for _ in range(2))

    def forward(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        drop_prob: float = 0.0,
        connection: Selection | None = None,
    ) -> torch.Tensor:
        """``[X0, X1, X2, X3]`` concatenated; ``connection`` is the connection group's selection
        when the supernet searches a connection cell."""
        states = self.preprocessed(s0, s1, connection)
        outputs = [branch(x) for branch, x in zip(self.branches, states, strict=True)]
        outputs += [pool(x) for pool, x in zip(self.pools, states, strict=True)]
        if self.training and drop_prob > 0:
            outputs = [drop_path(x, drop_prob) for x in outputs]
        return torch.cat(outputs, dim=1)
