"""The ``darts`` search space: DARTS cells, supernet, genotype strings and evaluation networks."""

from nascore.spaces.darts.cells import (
    CellPlan,
    ConnectionEdge,
    ConnectionSite,
    DiscreteCell,
    EdgeFactory,
    EdgeSite,
    OpBuilder,
    SearchCell,
    connection_sites,
    normal_levels,
    plan_cells,
    reduction_layers,
)
from nascore.spaces.darts.genotype import (
    CELL_TYPES,
    CONNECTION,
    OP_CHOICES,
    cell_keys,
    cell_type_of,
    derive_cell,
    edge_names,
    format_genotype,
    is_cell_key,
    level_key,
    levels_of,
    parse_genotype,
)
from nascore.spaces.darts.network import DartsNetwork, NetworkCIFAR, NetworkImageNet
from nascore.spaces.darts.ops import CONNECTION_CHOICES, connection_op
from nascore.spaces.darts.plot import cell_title, plot_cell, plot_connection
from nascore.spaces.darts.space import DartsSpace, DartsSpaceConfig
from nascore.spaces.darts.supernet import DartsSupernet, OpEdge

__all__ = [
    "CELL_TYPES",
    "CONNECTION",
    "CONNECTION_CHOICES",
    "OP_CHOICES",
    "CellPlan",
    "ConnectionEdge",
    "ConnectionSite",
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
    "cell_keys",
    "cell_title",
    "cell_type_of",
    "connection_op",
    "connection_sites",
    "derive_cell",
    "edge_names",
    "format_genotype",
    "is_cell_key",
    "level_key",
    "levels_of",
    "normal_levels",
    "parse_genotype",
    "plan_cells",
    "plot_cell",
    "plot_connection",
    "reduction_layers",
]
