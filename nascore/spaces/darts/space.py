"""The ``darts`` search space (Liu et al., DARTS): two cell types of 4 nodes and 14 mixed edges.

Extension points for spaces built on this one (A-DARTS, BNAS, as subclasses using public API):

* :meth:`DartsSpace.op` -- the op factory ``(name, C, stride, affine, act, leading_act)`` every
  op of the supernet, the evaluation network and the cost tables comes from (BNAS swaps in
  binarized convolutions here).
* :meth:`DartsSpace.decision_groups` may add groups named ``"<key>.<x>"`` with their own
  ``role``; the supernet hands each edge its row of every group of its cell's key.
* :meth:`DartsSpace.search_edge` builds the supernet edge (see :mod:`.supernet` for the call
  protocol ``edge(x, selections)``); :meth:`DartsSpace.network_op` builds each op of the
  evaluation network from the architecture.
* :meth:`DartsSpace.plans` lays out the cells (reduction positions, cell keys) and
  :meth:`DartsSpace.preprocess` the step in front of every cell (:meth:`DartsSpace.connection_op`
  builds the connection-cell ops it uses with ``connection_cell``).
* :meth:`DartsSpace.measure` measures one module for a cost metric (a space may add metrics).

Multi-level search (RC-DARTS): with ``SupernetOptions.levels`` k > 1 the normal cells of the
supernet are split by depth into k levels with the cell keys ``normal``, ``normal_2`` ..
``normal_k``; every decision group of the normal cell (``"normal"`` and ``"normal.<x>"``) is
copied per level (``"normal_2"``, ``"normal_2.<x>"``), so spaces built on this one get per-level
groups without code. Derived architectures carry one normal cell per level, and evaluation
networks of any depth map levels by relative depth (:func:`~.cells.normal_levels`). Cost tables
for k levels: ``cost_table(metric, {"levels": k})``.

Connection cells (RC-DARTS, ``connection_cell = true``): one decision group ``"connection"``
(one edge, role ``"connection"``) over :data:`~.ops.CONNECTION_CHOICES` drives a mixed op in place
of every ReLU-1x1conv-BN preprocessing; the paper learns one connection cell for the whole
network ("the connection cell ... contains one 1x1 convolution with #groups equals to 2"), so the
group is shared by all cells. The architecture records it as ``spec["connection"]``.

Fixed reduction cell (GDAS (FRC), ``reduction_cell = "gdas_frc"``): every reduction cell of the
supernet and of evaluation networks is :class:`~.fixed_cells.GdasReductionCell`; there is no
``"reduce"`` decision group, cost table or discrete decision (one-shot and discrete strategies
search only the normal cell) and architectures record ``spec["reduce"] = "gdas_frc"``
(:meth:`DartsSpace.validate` fills it in when absent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
import torch
from torch import nn

from nascore.architecture import Architecture
from nascore.config import field, one_of, positive
from nascore.costs import CostTable, count_macs, count_params
from nascore.errors import ConfigError, MalformedArchitecture
from nascore.space import (
    DataInfo,
    Decision,
    DecisionGroup,
    SearchSpace,
    Supernet,
    SupernetOptions,
)
from nascore.spaces.darts.cells import (
    CellPlan,
    ConnectionEdge,
    EdgeSite,
    FixedCell,
    OpBuilder,
    connection_sites,
    default_preprocess,
    edge_sites,
    plan_cells,
    reduction_layers,
)
from nascore.spaces.darts.fixed_cells import GDAS_OUTPUTS, GdasReductionCell
from nascore.spaces.darts.genotype import (
    CELL_TYPES,
    CONNECTION,
    GDAS_FRC,
    NORMAL,
    OP_CHOICES,
    REDUCE,
    REDUCTION_CELLS,
    SEARCHED,
    ZERO,
    cell_edges,
    check_spec,
    derive_cell,
    edge_names,
    format_genotype,
    level_key,
    levels_of,
    parse_genotype,
    strongest_edges,
)
from nascore.spaces.darts.genotype import cell_keys as layout_keys
from nascore.spaces.darts.network import DartsNetwork, NetworkCIFAR, NetworkImageNet
from nascore.spaces.darts.ops import (
    CONNECTION_CHOICES,
    OPS,
    PRIMITIVES,
    ActFactory,
    FactorizedReduce,
    as_supernet_op,
    connection_op,
)
from nascore.spaces.darts.plot import cell_title, plot_cell, plot_connection, plot_fixed_cell
from nascore.spaces.darts.supernet import DartsSupernet, OpEdge

#: Keys of ``SupernetOptions.proxy`` (and of ``cost_table``'s ``proxy``) this space understands:
#: the size overrides, and ``levels`` (normal-cell depth levels of the network costed).
PROXY_KEYS = ("channels", "layers", "levels")
#: The connection op :meth:`DartsSpace.validate` fills in when an architecture has none: the
#: fixed DARTS preprocessing.
DEFAULT_CONNECTION = "conv_1x1"
CONNECTION_ROLE = "connection"
COST_METRICS = ("params", "flops", "latency")
VARIANTS = ("cifar", "imagenet")
_DECISION_PARTS = ("input_a", "op_a", "input_b", "op_b")


def _check_reductions(inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is None:
        return
    if len(set(value)) != len(value) or not all(0 <= i < inst.layers for i in value):
        raise ConfigError(
            f"{attribute.name} must be distinct cell indices in 0..{inst.layers - 1}, got "
            f"{list(value)}"
        )


def _check_reduction_cell(inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    one_of(*REDUCTION_CELLS)(inst, attribute, value)
    if value == GDAS_FRC and inst.nodes != GDAS_OUTPUTS:
        raise ConfigError(
            f"{attribute.name}={GDAS_FRC} outputs {GDAS_OUTPUTS} maps like a {GDAS_OUTPUTS}-node "
            f"cell; set nodes={GDAS_OUTPUTS} (got {inst.nodes})"
        )


@attrs.frozen
class DartsSpaceConfig:
    """Size of the search network (the evaluation network's defaults too)."""

    channels: int = field(16, "initial channels C of the search network", validator=positive)
    layers: int = field(8, "number of cells of the search network", validator=positive)
    nodes: int = field(4, "intermediate nodes per cell", validator=positive)
    stem_multiplier: int = field(3, "the stem outputs stem_multiplier * C channels",
                                 validator=positive)
    reductions: tuple[int, ...] | None = field(
        None, "0-based indices of the reduction cells of the search network (None: layers // 3 "
        "and 2 * layers // 3, as DARTS); networks of other depths use the DARTS rule",
        validator=_check_reductions,
    )
    connection_cell: bool = field(
        False, "search a connection cell in place of the fixed ReLU-1x1conv-BN in front of every "
        "cell (RC-DARTS, Sec. 3.3/4.1): dil_conv_3x3 or a 1x1 group conv with 1, 2 or 4 groups "
        "(channel shuffle when > 1); one cell shared by the network; channels must be "
        "divisible by 4",
    )
    reduction_cell: str = field(
        SEARCHED, "the reduction cells: 'searched' (DARTS), or 'gdas_frc': GDAS (FRC)'s fixed, "
        "hand-designed reduction cell at every reduction, so strategies search only the normal "
        "cell (source: Dong & Yang, CVPR 2019, 'GDAS (FRC)'; the cell as in the reference code's "
        "GDAS_Reduction_Cell, D-X-Y/AutoDL-Projects xautodl/models/cell_operations.py); "
        "gdas_frc needs nodes = 4 and channels divisible by 4 (its convs have 8 groups)",
        validator=_check_reduction_cell,
    )


class DartsSpace(SearchSpace):
    """DARTS cells: per cell type, 14 edges choosing among :data:`PRIMITIVES`; a derived cell
    keeps two ``(op, input)`` pairs per node. See the module docstring for extension points."""

    name = "darts"
    config_cls = DartsSpaceConfig
    capabilities = frozenset({"supernet", "sample", "mutate", "encode", "network", "cost"})
    #: Whether the space handles ``reduction_cell = "gdas_frc"``; a subclass declares it in its
    #: own body (its derivation, costs and genotypes must cope with fixed cells), else it is
    #: ``False`` and the setting is refused.
    supports_fixed_reduction: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "supports_fixed_reduction" not in vars(cls):
            cls.supports_fixed_reduction = False
        if "cost_table" in vars(cls) and "cost_metrics" not in vars(cls):
            # a latency table is calibrated on this space's own networks: a subclass with
            # tables of its own offers latency by declaring it in its cost_metrics
            cls.cost_metrics = tuple(m for m in cls.cost_metrics if m != "latency")

    def __init__(self, config: DartsSpaceConfig, data: DataInfo) -> None:
        super().__init__(config, data)
        if self._reduction_cell() != SEARCHED and not self.supports_fixed_reduction:
            raise ConfigError(
                f"space {self.name} does not support space.reduction_cell="
                f"{self._reduction_cell()}; "
                "use space darts"
            )

    @property
    def nodes(self) -> int:
        """Intermediate nodes per cell."""
        return self.config.nodes

    # -- ops and layout ----------------------------------------------------------------------
    def op(
        self,
        name: str,
        C: int,
        stride: int,
        affine: bool,
        act: ActFactory = nn.ReLU,
        leading_act: bool = True,
    ) -> nn.Module:
        """The op factory: candidate ``name`` on ``C`` channels (``affine`` BatchNorm in
        evaluation networks, not in supernets); ``act`` builds the activation in front of
        parameterized ops, ``leading_act=False`` leaves out the first one (see
        :mod:`nascore.spaces.darts.ops`)."""
        return OPS[name](C, stride, affine, act, leading_act)

    def reduction_cells(self, layers: int) -> frozenset[int]:
        """Indices of the reduction cells of a ``layers``-cell network: the configured ones at the
        search network's depth, else ``layers // 3`` and ``2 * layers // 3``."""
        configured = self.config.reductions
        if configured is not None and layers == self.config.layers:
            return frozenset(configured)
        return reduction_layers(layers)

    def plans(
        self,
        C: int,
        layers: int,
        stem_channels: int,
        stem_reduces: bool = False,
        levels: int = 1,
    ) -> list[CellPlan]:
        """The plan of a stack of ``layers`` cells (channels, reductions, cell keys; ``levels``
        normal-cell depth levels)."""
        return plan_cells(
            C, layers, self.nodes, stem_channels, stem_reduces, self.reduction_cells(layers),
            levels,
        )

    def connection_op(self, name: str, C_in: int, C_out: int, affine: bool) -> nn.Module:
        """The connection-cell op ``name`` from ``C_in`` to ``C_out`` channels (see
        :func:`~nascore.spaces.darts.ops.connection_op`)."""
        return connection_op(name, C_in, C_out, affine)

    def preprocess(
        self, plan: CellPlan, affine: bool, connection: str | None = None
    ) -> tuple[nn.Module, nn.Module]:
        """The step in front of a cell (both networks): DARTS's fixed preprocessing, or with
        ``connection`` that connection-cell op in place of its ReLU-1x1conv-BNs (the
        FactorizedReduce after a reduction cell stays)."""
        if connection is None:
            return default_preprocess(plan, affine)
        first = (
            FactorizedReduce(plan.C_prev_prev, plan.C, affine)
            if plan.reduction_prev
            else self.connection_op(connection, plan.C_prev_prev, plan.C, affine)
        )
        return first, self.connection_op(connection, plan.C_prev, plan.C, affine)

    def search_preprocess(self, plan: CellPlan, affine: bool) -> tuple[nn.Module, nn.Module]:
        """The supernet's step in front of a cell: :meth:`preprocess`, or with
        ``connection_cell`` a :class:`ConnectionEdge` over the connection candidates."""
        if not self.config.connection_cell:
            return self.preprocess(plan, affine)

        def factory(name: str, C_in: int, C_out: int) -> nn.Module:
            return self.connection_op(name, C_in, C_out, affine)

        first = (
            FactorizedReduce(plan.C_prev_prev, plan.C, affine)
            if plan.reduction_prev
            else ConnectionEdge(plan.C_prev_prev, plan.C, factory)
        )
        return first, ConnectionEdge(plan.C_prev, plan.C, factory)

    def fixed_cells(self) -> dict[str, FixedCell]:
        """Cell key -> the fixed cell built in place of searching it (``{"reduce":``
        :class:`GdasReductionCell` ``}`` with ``reduction_cell = "gdas_frc"``, else empty)."""
        return {REDUCE: GdasReductionCell} if self._reduction_cell() == GDAS_FRC else {}

    def fixed_spec(self) -> dict[str, str]:
        """The spec entries of the fixed cells (``{"reduce": "gdas_frc"}`` or empty)."""
        return {key: self._reduction_cell() for key in self.fixed_cells()}

    def _reduction_cell(self) -> str:
        # configs of spaces built on this one need not have the field
        return getattr(self.config, "reduction_cell", SEARCHED)

    def searched_cell_types(self) -> list[str]:
        """The cell types with searched cells: ``normal`` and, unless fixed, ``reduce``."""
        return [cell_type for cell_type in CELL_TYPES if cell_type not in self.fixed_cells()]

    # -- one-shot ---------------------------------------------------------------------------
    def decision_groups(self) -> list[DecisionGroup]:
        """``"normal"`` and ``"reduce"`` (not with a fixed reduction cell): edges ``"n2<-0"`` ..
        ``"n5<-4"``, role ``"op"``; with ``connection_cell`` also ``"connection"`` (edge
        ``"n1<-0"``, role ``"connection"``). The one-level layout: :meth:`supernet_groups` adds
        the copies of further levels."""
        names = edge_names(self.nodes)
        groups = [
            DecisionGroup(cell_type, names, PRIMITIVES, role="op", zero=ZERO)
            for cell_type in self.searched_cell_types()
        ]
        if self.config.connection_cell:
            groups.append(
                DecisionGroup(CONNECTION, ("n1<-0",), CONNECTION_CHOICES, role=CONNECTION_ROLE)
            )
        return groups

    def supernet_groups(self, levels: int = 1) -> list[DecisionGroup]:
        """:meth:`decision_groups` with every group of the normal cell (``"normal"``,
        ``"normal.<x>"``) followed by its copies for levels 2..``levels``; groups of fixed cells
        (e.g. a subclass's ``"reduce.<x>"``) left out."""
        out = []
        for group in self.decision_groups():
            key, dot, rest = group.name.partition(".")
            if key in self.fixed_cells():
                continue
            out.append(group)
            if key == NORMAL:
                out += [
                    attrs.evolve(group, name=level_key(level) + dot + rest)
                    for level in range(2, levels + 1)
                ]
        return out

    def supernet_op(
        self,
        name: str,
        C: int,
        stride: int,
        act: ActFactory = nn.ReLU,
        leading_act: bool = False,
    ) -> nn.Module:
        """A supernet candidate: :meth:`op` without affine BatchNorm and, by default, without
        its leading activation (the edge computes it once for all candidates); pools followed
        by BatchNorm."""
        return as_supernet_op(name, self.op(name, C, stride, False, act, leading_act), C)

    def search_edge(
        self, C: int, stride: int, cell_type: str, edge_index: int, options: SupernetOptions
    ) -> nn.Module:
        """Extension point: the supernet module of edge ``edge_index`` of a ``cell_type`` cell,
        called as ``edge(x, selections)`` with a dict role -> Selection of that edge's rows."""
        return OpEdge(C, stride, self.supernet_op, options.partial_channels)

    def sized_config(self, proxy: Mapping[str, Any]) -> DartsSpaceConfig:
        """The config with ``proxy`` overrides (``channels``, ``layers``) applied (``levels``
        is not part of the config; see :meth:`proxy_levels`)."""
        unknown = sorted(set(proxy) - set(PROXY_KEYS))
        if unknown:
            raise ConfigError(
                f"space {self.name} cannot resize the supernet by {unknown[0]!r}; "
                f"proxy keys: {', '.join(PROXY_KEYS)}"
            )
        sizes = {k: int(v) for k, v in proxy.items() if k != "levels"}
        return attrs.evolve(self.config, **sizes)

    @staticmethod
    def proxy_levels(proxy: Mapping[str, Any] | None) -> int:
        """The normal-cell levels a ``proxy`` mapping asks for (default 1)."""
        levels = int((proxy or {}).get("levels", 1))
        if levels < 1:
            raise ConfigError(f"levels must be positive, got {levels}")
        return levels

    def build_supernet(self, options: SupernetOptions) -> Supernet:
        """The DARTS search network, sized by the config and ``options.proxy``, with
        ``options.levels`` normal-cell levels."""
        config = self.sized_config(options.proxy)
        stem_channels = config.stem_multiplier * config.channels

        def edge_factory(C: int, stride: int, cell_type: str, edge_index: int) -> nn.Module:
            return self.search_edge(C, stride, cell_type, edge_index, options)

        plans = self.plans(config.channels, config.layers, stem_channels, levels=options.levels)
        fixed = self.fixed_cells()
        if all(plan.key in fixed for plan in plans):
            raise ConfigError(
                f"every cell of the {config.layers}-cell supernet is a fixed "
                f"{self._reduction_cell()} reduction cell; use at least 3 layers"
            )
        return DartsSupernet(
            self.supernet_groups(options.levels),
            plans,
            nodes=config.nodes,
            stem_channels=stem_channels,
            in_channels=self.data.in_channels,
            num_classes=self.data.num_classes,
            edge_factory=edge_factory,
            preprocess=self.search_preprocess,
            connection=CONNECTION if config.connection_cell else None,
            fixed=fixed,
        )

    def cell_keys(self, levels: int = 1) -> list[str]:
        """The spec entries of the searched cells: ``normal`` (``normal_2`` .. with ``levels``)
        and ``reduce`` (unless fixed)."""
        return [key for key in layout_keys(levels) if key not in self.fixed_cells()]

    def derive(self, scores: Mapping[str, torch.Tensor]) -> Architecture:
        """The DARTS rule per cell key of ``scores`` (see :func:`derive_cell`), the fixed cells'
        names and the argmax connection op."""
        spec: dict[str, Any] = {}
        for key in self.cell_keys(levels_of(scores)):
            spec[key] = derive_cell(scores[key], self.nodes, PRIMITIVES.index(ZERO))
            spec[f"{key}_concat"] = list(range(2, self.nodes + 2))
        spec.update(self.fixed_spec())
        if CONNECTION in scores:
            spec[CONNECTION] = CONNECTION_CHOICES[_connection_choice(scores[CONNECTION])]
        return Architecture(self.name, spec)

    def kept_mask(self, scores: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per op group, the op the DARTS rule keeps on each of the 2 strongest incoming edges
        of every node (the tensor form of :meth:`derive`), and the connection op."""
        out = {}
        for key in self.cell_keys(levels_of(scores)):
            table = scores[key]
            _order, ops, kept = strongest_edges(table, self.nodes, PRIMITIVES.index(ZERO))
            mask = torch.zeros(table.shape, dtype=torch.bool)
            mask[kept, ops[kept]] = True
            out[key] = mask
        if CONNECTION in scores:
            mask = torch.zeros(scores[CONNECTION].shape, dtype=torch.bool)
            mask[0, _connection_choice(scores[CONNECTION])] = True
            out[CONNECTION] = mask
        return out

    # -- discrete ---------------------------------------------------------------------------
    def decisions(self) -> list[Decision]:
        """The discrete choices: :meth:`cell_decisions` (spaces built on this one add theirs)."""
        return self.cell_decisions()

    def cell_decisions(self) -> list[Decision]:
        """Per searched cell type and node: ``input_a``, ``op_a``, ``input_b``, ``op_b`` (inputs
        differ); with ``connection_cell`` a last decision ``connection``. One normal cell:
        discrete strategies search no levels."""
        out = []
        for cell_type in self.searched_cell_types():
            for node in range(2, self.nodes + 2):
                inputs = tuple(range(node))
                for part in _DECISION_PARTS:
                    candidates = inputs if part.startswith("input") else OP_CHOICES
                    out.append(Decision(f"{cell_type}.n{node}.{part}", candidates))
        if self.config.connection_cell:
            out.append(Decision(CONNECTION, CONNECTION_CHOICES))
        return out

    def encode(self, arch: Architecture) -> list[int]:
        spec = self.validate(arch).spec
        if levels_of(spec) != 1:
            raise MalformedArchitecture(
                f"discrete decisions of space {self.name} cover one normal cell; this "
                f"architecture has {levels_of(spec)} levels"
            )
        choices = []
        for cell_type in self.searched_cell_types():
            for op, source in spec[cell_type]:
                choices += [source, OP_CHOICES.index(op)]
        if self.config.connection_cell:
            choices.append(CONNECTION_CHOICES.index(spec[CONNECTION]))
        return choices

    def decode(self, choices: list[int]) -> Architecture:
        """The architecture of the :meth:`cell_decisions` ``choices``."""
        decisions = self.cell_decisions()
        if len(choices) != len(decisions):
            raise MalformedArchitecture(
                f"{self.name} cells need {len(decisions)} choices, got {len(choices)}"
            )
        for decision, choice in zip(decisions, choices, strict=True):
            if not 0 <= choice < len(decision.candidates):
                raise MalformedArchitecture(
                    f"choice {choice} is out of range for {decision.name} "
                    f"({len(decision.candidates)} candidates)"
                )
        values = [d.candidates[c] for d, c in zip(decisions, choices, strict=True)]
        spec: dict[str, Any] = dict(self.fixed_spec())
        if self.config.connection_cell:
            spec[CONNECTION] = values.pop()
        cell_types = self.searched_cell_types()
        per_cell = len(values) // len(cell_types)
        for i, cell_type in enumerate(cell_types):
            cell = values[i * per_cell : (i + 1) * per_cell]
            spec[cell_type] = [[cell[k + 1], cell[k]] for k in range(0, per_cell, 2)]
        return Architecture(self.name, check_spec(spec, self.nodes))

    # -- architectures ----------------------------------------------------------------------
    def validate(self, arch: Architecture) -> Architecture:
        """Check space and spec (ops, inputs, counts, concat, levels, connection, fixed cells);
        return the normalised arch. With ``connection_cell`` an architecture without a connection
        op gets ``conv_1x1`` (the fixed DARTS preprocessing); without it, one with a connection op
        is rejected. With a fixed reduction cell an architecture without ``reduce`` gets it; one
        with a searched reduction cell is rejected, as is a fixed cell the space does not use."""
        super().validate(arch)
        spec = check_spec({**self.fixed_spec(), **arch.spec}, self.nodes)
        for key in layout_keys(levels_of(spec)):
            wanted = self.fixed_spec().get(key, SEARCHED)
            found = spec[key] if isinstance(spec[key], str) else SEARCHED
            if found != wanted:
                raise MalformedArchitecture(
                    f"the architecture's {key} cell is {found} but space {self.name} has "
                    f"reduction_cell={wanted}; set space.reduction_cell={found}"
                )
        if self.config.connection_cell:
            spec.setdefault(CONNECTION, DEFAULT_CONNECTION)
        elif CONNECTION in spec:
            raise MalformedArchitecture(
                f"the architecture has a connection cell ({spec[CONNECTION]}) but space "
                f"{self.name} has none; set space.connection_cell=true"
            )
        return Architecture(self.name, spec)

    def format(self, arch: Architecture) -> str:
        """The published ``Genotype(normal=[...], normal_concat=range(2, 6), ...)`` string
        (levels and the connection cell as further fields)."""
        return format_genotype(self.validate(arch).spec)

    def parse(self, text: str) -> Architecture:
        """Read a ``Genotype(...)`` string (flat or nested per-node cells)."""
        return Architecture(self.name, parse_genotype(text, self.nodes, self.fixed_spec()))

    def network_op(
        self,
        arch: Architecture,
        key: str,
        position: int,
        C: int,
        stride: int,
        act: ActFactory,
    ) -> nn.Module:
        """Extension point: the evaluation-network op at ``position`` of the cell ``key``."""
        return self.op(arch.spec[key][position][0], C, stride, True, act)

    def build_network(
        self,
        arch: Architecture,
        channels: int | None = None,
        layers: int | None = None,
        num_classes: int | None = None,
        auxiliary: bool = False,
        variant: str = "cifar",
        in_channels: int | None = None,
        act: ActFactory | None = None,
    ) -> DartsNetwork:
        """The DARTS evaluation network (``variant`` ``"cifar"`` or ``"imagenet"``).

        Sizes default to the space config and the data; ``act`` builds the activation in front of
        parameterized ops (ReLU). ``network.drop_path_prob`` enables drop path when training. A
        multi-level architecture's levels are spread over the network's normal cells by depth;
        its connection op replaces the 1x1 preprocessing.
        """
        arch = self.validate(arch)
        act = act or nn.ReLU

        def op_builder(key: str, position: int, C: int, stride: int) -> nn.Module:
            return self.network_op(arch, key, position, C, stride, act)

        levels = levels_of(arch.spec)
        inputs = {
            key: [source for _, source in arch.spec[key]] for key in self.cell_keys(levels)
        }
        return self._network(
            inputs, op_builder, channels, layers, num_classes, auxiliary, variant, in_channels,
            levels=levels, connection=arch.spec.get(CONNECTION),
        )

    def _network(
        self,
        cell_inputs: Mapping[str, Sequence[int]],
        op_builder: OpBuilder,
        channels: int | None = None,
        layers: int | None = None,
        num_classes: int | None = None,
        auxiliary: bool = False,
        variant: str = "cifar",
        in_channels: int | None = None,
        levels: int = 1,
        connection: str | None = None,
    ) -> DartsNetwork:
        if variant not in VARIANTS:
            raise ConfigError(
                f"unknown darts network variant {variant!r}; use {' or '.join(VARIANTS)}"
            )

        def planner(C: int, n: int, _nodes: int, stem: int, stem_reduces: bool) -> list[CellPlan]:
            return self.plans(C, n, stem, stem_reduces, levels)

        def connected(plan: CellPlan, affine: bool) -> tuple[nn.Module, nn.Module]:
            return self.preprocess(plan, affine, connection)

        common = {
            "C": channels or self.config.channels,
            "layers": layers or self.config.layers,
            "num_classes": num_classes or self.data.num_classes,
            "in_channels": in_channels or self.data.in_channels,
            "cell_inputs": cell_inputs,
            "op_builder": op_builder,
            "auxiliary": auxiliary,
            "planner": planner,
            # subclasses overriding preprocess(plan, affine) keep working without connections
            "preprocess": self.preprocess if connection is None else connected,
            "fixed": self.fixed_cells(),
        }
        if variant == "imagenet":
            return NetworkImageNet(**common)
        return NetworkCIFAR(**common, stem_multiplier=self.config.stem_multiplier)

    # -- costs --------------------------------------------------------------------------------
    cost_metrics = COST_METRICS

    def _sized_plans(self, proxy: Mapping[str, Any] | None) -> tuple[DartsSpaceConfig, list]:
        config = self.sized_config(proxy or {})
        plans = self.plans(
            config.channels, config.layers, config.stem_multiplier * config.channels,
            levels=self.proxy_levels(proxy),
        )
        return config, plans

    def edge_sites(self, proxy: Mapping[str, Any] | None = None) -> list[EdgeSite]:
        """Every edge of the searched cells of the network at the search size (``proxy``
        overrides, ``levels``) on this data."""
        config, plans = self._sized_plans(proxy)
        fixed = self.fixed_cells()
        return [site for site in edge_sites(plans, config.nodes, self.data.image_size)
                if site.key not in fixed]

    def measure(self, metric: str, module: nn.Module, example: torch.Tensor) -> float:
        """``module``'s cost in ``metric``: ``params``, ``flops`` (multiply-adds on
        ``example``) or ``latency`` (seconds, by :func:`nascore.latency.current_meter`). Spaces
        adding metrics extend this and :attr:`cost_metrics`."""
        if metric == "params":
            return float(count_params(module))
        if metric == "flops":
            return float(count_macs(module, example))
        if metric == "latency":
            from nascore.latency import current_meter

            return current_meter().measure(module, example)
        raise ConfigError(
            f"unknown cost metric {metric!r}; space {self.name} measures "
            f"{', '.join(self.cost_metrics)}"
        )

    def cost_table(self, metric: str, proxy: Mapping[str, Any] | None = None) -> CostTable:
        """Per-candidate ``metric`` costs of the evaluation network at the search size (the
        config with ``proxy`` overrides; ``proxy["levels"]``: one table per normal-cell level),
        measured on the real modules; ``"none"`` costs 0. With ``connection_cell`` the
        ``"connection"`` table (one row) holds each candidate's cost summed over every
        connection site.

        ``constant`` (stem, preprocessing, classifier) is the measured cost of a whole network
        minus its chosen ops, so ``constant`` plus the chosen ops' costs is the network's cost
        (for ``latency``, whose costs do not add up exactly, an estimate, calibrated on two
        whole networks; the table is measured once per device, threads, torch version and
        shape and cached on disk, see :func:`nascore.latency.cached_table`).
        """
        if metric not in self.cost_metrics:
            raise ConfigError(
                f"unknown cost metric {metric!r}; space {self.name} measures "
                f"{', '.join(self.cost_metrics)}"
            )
        if metric == "latency":
            from nascore.latency import CALIBRATION_SAMPLES, cached_table, current_meter

            key = {"space": self.name, "class": type(self).__qualname__,
                   "calibration": ("scale", CALIBRATION_SAMPLES),
                   "config": attrs.asdict(self.sized_config(
                       {k: v for k, v in (proxy or {}).items() if k != "levels"})),
                   "levels": self.proxy_levels(proxy), "data": attrs.asdict(self.data),
                   "meter": current_meter().key()}
            return cached_table(key, lambda: self._calibrated_latency(proxy))
        return self._measured_table(metric, proxy)

    def _calibrated_latency(self, proxy: Mapping[str, Any] | None) -> CostTable:
        """The measured latency table, calibrated (:func:`nascore.latency.calibrate`) on the
        networks of the cheapest and the dearest architecture the derivation rule reaches and
        of :data:`~nascore.latency.CALIBRATION_SAMPLES` derived from random scores (seeded)."""
        from nascore.latency import CALIBRATION_SAMPLES, calibrate, current_meter

        table = self._measured_table("latency", proxy)
        sizes = {k: int(v) for k, v in (proxy or {}).items() if k in ("channels", "layers")}
        info = self.data
        example = torch.zeros(1, info.in_channels, info.image_size, info.image_size)
        generator = torch.Generator().manual_seed(0)
        random = [{k: torch.rand(v.shape, generator=generator, dtype=torch.float64)
                   for k, v in table.per_group.items()} for _ in range(CALIBRATION_SAMPLES)]
        points = []
        for scores in [table.effective(-1.0), table.effective(1.0), *random]:
            network = self.build_network(self.derive(scores), **sizes)
            points.append((table.exact(self.kept_mask(scores)),
                           current_meter().measure(network, example)))
        return calibrate(table, points)

    def _measured_table(self, metric: str, proxy: Mapping[str, Any] | None) -> CostTable:
        """:meth:`cost_table` measured on the real modules."""
        cache: dict[tuple[Any, ...], float] = {}

        def cost(name: str, site: EdgeSite) -> float:
            key = (name, site.C, site.stride, site.size)
            if key not in cache:
                module = self.op(name, site.C, site.stride, True)
                example = torch.zeros(1, site.C, site.size, site.size)
                cache[key] = self.measure(metric, module, example)
            return cache[key]

        levels = self.proxy_levels(proxy)
        keys = self.cell_keys(levels)
        shape = (len(cell_edges(self.nodes)), len(PRIMITIVES))
        tables = {key: torch.zeros(shape, dtype=torch.float64) for key in keys}
        for site in self.edge_sites(proxy):
            for k, name in enumerate(PRIMITIVES):
                if name != ZERO:
                    tables[site.key][site.edge_index, k] += cost(name, site)
        config, plans = self._sized_plans(proxy)
        connection = None
        if config.connection_cell:
            tables[CONNECTION] = self._connection_costs(metric, plans)
            connection = CONNECTION_CHOICES[0]
        # constant: a network whose nodes max-pool both cell inputs, minus those pools (and
        # minus its connection cells)
        pool = "max_pool_3x3"
        network = self._network(
            {key: [0, 1] * self.nodes for key in keys},
            lambda _key, _position, C, stride: self.op(pool, C, stride, True),
            channels=config.channels, layers=config.layers, levels=levels, connection=connection,
        )
        info = self.data
        example = torch.zeros(1, info.in_channels, info.image_size, info.image_size)
        total = self.measure(metric, network, example)
        edges = cell_edges(self.nodes)
        pooled = [edges.index((node, source)) for node in range(2, self.nodes + 2)
                  for source in (0, 1)]
        chosen = sum(float(tables[k][pooled, PRIMITIVES.index(pool)].sum()) for k in keys)
        if connection is not None:
            chosen += float(tables[CONNECTION][0, 0])
        return CostTable(metric, total - chosen, tables)

    def _connection_costs(self, metric: str, plans: Sequence[CellPlan]) -> torch.Tensor:
        """``[1, candidates]``: each connection candidate's cost summed over every site."""
        table = torch.zeros(1, len(CONNECTION_CHOICES), dtype=torch.float64)
        cache: dict[tuple[Any, ...], float] = {}
        for site in connection_sites(plans, self.data.image_size):
            for k, name in enumerate(CONNECTION_CHOICES):
                key = (name, site.C_in, site.C_out, site.size)
                if key not in cache:
                    module = self.connection_op(name, site.C_in, site.C_out, True)
                    example = torch.zeros(1, site.C_in, site.size, site.size)
                    cache[key] = self.measure(metric, module, example)
                table[0, k] += cache[key]
        return table

    def one_hot(self, arch: Architecture) -> dict[str, torch.Tensor]:
        """Per cell key, the ``[edges, candidates]`` bool mask of the ops ``arch`` keeps (the
        :meth:`kept_mask` of its scores), and the connection op's."""
        spec = self.validate(arch).spec
        edges = cell_edges(self.nodes)
        out = {}
        for key in self.cell_keys(levels_of(spec)):
            matrix = torch.zeros(len(edges), len(PRIMITIVES), dtype=torch.bool)
            for position, (op, source) in enumerate(spec[key]):
                matrix[edges.index((position // 2 + 2, source)), PRIMITIVES.index(op)] = True
            out[key] = matrix
        if CONNECTION in spec:
            matrix = torch.zeros(1, len(CONNECTION_CHOICES), dtype=torch.bool)
            matrix[0, CONNECTION_CHOICES.index(spec[CONNECTION])] = True
            out[CONNECTION] = matrix
        return out

    def plot(self, arch: Architecture, path_stem: str) -> list[str]:
        """Cell diagrams as PNG, PDF and graphviz DOT: ``<stem>_normal.png`` etc. (one per
        level), ``<stem>_reduce`` showing a fixed reduction cell, and ``<stem>_connection`` for the
        connection cell."""
        spec = self.validate(arch).spec
        paths = []
        for key in self.cell_keys(levels_of(spec)):
            paths += plot_cell(spec[key], cell_title(key, levels_of(spec)), f"{path_stem}_{key}")
        for key, name in self.fixed_spec().items():
            paths += plot_fixed_cell(name, f"{path_stem}_{key}")
        if CONNECTION in spec:
            paths += plot_connection(spec[CONNECTION], f"{path_stem}_{CONNECTION}")
        return paths


def _connection_choice(scores: torch.Tensor) -> int:
    """The connection candidate with the best score (``-inf``: excluded)."""
    row = scores.reshape(-1)
    if not bool(torch.isfinite(row).any()):
        raise MalformedArchitecture("every connection candidate is excluded")
    return int(torch.argmax(row))
