"""The ``darts`` search space: DARTS cells, supernet, genotype strings and evaluation networks."""

from nascore.spaces.darts.cells import (
    CellPlan,
    DiscreteCell,
    EdgeFactory,
    EdgeSite,
    OpBuilder,
    SearchCell,
    plan_cells,
    reduction_layers,
)
from nascore.spaces.darts.genotype import (
    CELL_TYPES,
    OP_CHOICES,
    derive_cell,
    edge_names,
    format_genotype,
    parse_genotype,
)
from nascore.spaces.darts.network import DartsNetwork, NetworkCIFAR, NetworkImageNet
from nascore.spaces.darts.plot import plot_cell
from nascore.spaces.darts.space import DartsSpace, DartsSpaceConfig
from nascore.spaces.darts.supernet import DartsSupernet, OpEdge

__all__ = [
    "CELL_TYPES",
    "OP_CHOICES",
    "CellPlan",
    "DartsNetwork",
    "DartsSpace",
    "DartsSpaceConfig",
    "DartsSupernet",
    "DiscreteCell",
    "EdgeFactory",
    "EdgeSite",
    "NetworkCIFAR",
    "NetworkImageNet",
    "OpBuilder",
    "OpEdge",
    "SearchCell",
    "derive_cell",
    "edge_names",
    "format_genotype",
    "parse_genotype",
    "plot_cell",
    "plan_cells",
    "reduction_layers",
]
