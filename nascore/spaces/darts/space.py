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
  :meth:`DartsSpace.preprocess` the step in front of every cell.
* :meth:`DartsSpace.measure` measures one module for a cost metric (a space may add metrics).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import torch
from torch import nn

from nascore.architecture import Architecture
from nascore.config import field, positive
from nascore.costs import CostTable, count_macs, count_params
from nascore.errors import ConfigError, MalformedArchitecture
from nascore.space import (
    Decision,
    DecisionGroup,
    SearchSpace,
    Supernet,
    SupernetOptions,
)
from nascore.spaces.darts.cells import (
    CellPlan,
    EdgeSite,
    OpBuilder,
    default_preprocess,
    edge_sites,
    plan_cells,
    reduction_layers,
)
from nascore.spaces.darts.genotype import (
    CELL_TYPES,
    OP_CHOICES,
    ZERO,
    cell_edges,
    check_spec,
    derive_cell,
    edge_names,
    format_genotype,
    parse_genotype,
    strongest_edges,
)
from nascore.spaces.darts.network import DartsNetwork, NetworkCIFAR, NetworkImageNet
from nascore.spaces.darts.ops import OPS, PRIMITIVES, ActFactory, as_supernet_op
from nascore.spaces.darts.plot import plot_cell
from nascore.spaces.darts.supernet import DartsSupernet, OpEdge

#: Keys of ``SupernetOptions.proxy`` this space understands.
PROXY_KEYS = ("channels", "layers")
COST_METRICS = ("params", "flops")
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


class DartsSpace(SearchSpace):
    """DARTS cells: per cell type, 14 edges choosing among :data:`PRIMITIVES`; a derived cell
    keeps two ``(op, input)`` pairs per node. See the module docstring for extension points."""

    name = "darts"
    config_cls = DartsSpaceConfig
    capabilities = frozenset({"supernet", "sample", "mutate", "encode", "network", "cost"})

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
        self, C: int, layers: int, stem_channels: int, stem_reduces: bool = False
    ) -> list[CellPlan]:
        """The plan of a stack of ``layers`` cells (channels, reductions, cell keys)."""
        return plan_cells(
            C, layers, self.nodes, stem_channels, stem_reduces, self.reduction_cells(layers)
        )

    def preprocess(self, plan: CellPlan, affine: bool) -> tuple[nn.Module, nn.Module]:
        """The step in front of a cell (both networks): DARTS's fixed preprocessing."""
        return default_preprocess(plan, affine)

    # -- one-shot ---------------------------------------------------------------------------
    def decision_groups(self) -> list[DecisionGroup]:
        """``"normal"`` and ``"reduce"``: edges ``"n2<-0"`` .. ``"n5<-4"``, role ``"op"``."""
        names = edge_names(self.nodes)
        return [
            DecisionGroup(cell_type, names, PRIMITIVES, role="op", zero=ZERO)
            for cell_type in CELL_TYPES
        ]

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
        """The config with ``proxy`` overrides (``channels``, ``layers``) applied."""
        unknown = sorted(set(proxy) - set(PROXY_KEYS))
        if unknown:
            raise ConfigError(
                f"space {self.name} cannot resize the supernet by {unknown[0]!r}; "
                f"proxy keys: {', '.join(PROXY_KEYS)}"
            )
        return attrs.evolve(self.config, **{k: int(v) for k, v in proxy.items()})

    def check_levels(self, levels: int) -> None:
        """Multi-level search needs per-depth cell keys, which this space does not have yet."""
        if levels != 1:
            raise ConfigError(
                f"space {self.name} has no multi-level search; set strategy.levels=1"
            )

    def build_supernet(self, options: SupernetOptions) -> Supernet:
        """The DARTS search network, sized by the config and ``options.proxy``."""
        self.check_levels(options.levels)
        config = self.sized_config(options.proxy)
        stem_channels = config.stem_multiplier * config.channels

        def edge_factory(C: int, stride: int, cell_type: str, edge_index: int) -> nn.Module:
            return self.search_edge(C, stride, cell_type, edge_index, options)

        return DartsSupernet(
            self.decision_groups(),
            self.plans(config.channels, config.layers, stem_channels),
            nodes=config.nodes,
            stem_channels=stem_channels,
            in_channels=self.data.in_channels,
            num_classes=self.data.num_classes,
            edge_factory=edge_factory,
            preprocess=self.preprocess,
        )

    def cell_keys(self) -> list[str]:
        """The spec entries of the cells: ``normal`` and ``reduce``."""
        return list(CELL_TYPES)

    def derive(self, scores: Mapping[str, torch.Tensor]) -> Architecture:
        """The DARTS rule per cell (see :func:`derive_cell`)."""
        spec: dict[str, Any] = {}
        for key in self.cell_keys():
            spec[key] = derive_cell(scores[key], self.nodes, PRIMITIVES.index(ZERO))
            spec[f"{key}_concat"] = list(range(2, self.nodes + 2))
        return Architecture(self.name, spec)

    def kept_mask(self, scores: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per op group, the op the DARTS rule keeps on each of the 2 strongest incoming edges
        of every node (the tensor form of :meth:`derive`)."""
        out = {}
        for key in self.cell_keys():
            table = scores[key]
            _order, ops, kept = strongest_edges(table, self.nodes, PRIMITIVES.index(ZERO))
            mask = torch.zeros(table.shape, dtype=torch.bool)
            mask[kept, ops[kept]] = True
            out[key] = mask
        return out

    # -- discrete ---------------------------------------------------------------------------
    def decisions(self) -> list[Decision]:
        """The discrete choices: :meth:`cell_decisions` (spaces built on this one add theirs)."""
        return self.cell_decisions()

    def cell_decisions(self) -> list[Decision]:
        """Per cell type and node: ``input_a``, ``op_a``, ``input_b``, ``op_b`` (inputs differ)."""
        out = []
        for cell_type in CELL_TYPES:
            for node in range(2, self.nodes + 2):
                inputs = tuple(range(node))
                for part in _DECISION_PARTS:
                    candidates = inputs if part.startswith("input") else OP_CHOICES
                    out.append(Decision(f"{cell_type}.n{node}.{part}", candidates))
        return out

    def encode(self, arch: Architecture) -> list[int]:
        spec = self.validate(arch).spec
        choices = []
        for cell_type in CELL_TYPES:
            for op, source in spec[cell_type]:
                choices += [source, OP_CHOICES.index(op)]
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
        per_cell = len(values) // len(CELL_TYPES)
        spec: dict[str, Any] = {}
        for i, cell_type in enumerate(CELL_TYPES):
            cell = values[i * per_cell : (i + 1) * per_cell]
            spec[cell_type] = [[cell[k + 1], cell[k]] for k in range(0, per_cell, 2)]
        return Architecture(self.name, check_spec(spec, self.nodes))

    # -- architectures ----------------------------------------------------------------------
    def validate(self, arch: Architecture) -> Architecture:
        """Check space and spec (ops, inputs, counts, concat); return the normalised arch."""
        super().validate(arch)
        return Architecture(self.name, check_spec(arch.spec, self.nodes))

    def format(self, arch: Architecture) -> str:
        """The published ``Genotype(normal=[...], normal_concat=range(2, 6), ...)`` string."""
        return format_genotype(self.validate(arch).spec)

    def parse(self, text: str) -> Architecture:
        """Read a ``Genotype(...)`` string (flat or nested per-node cells)."""
        return Architecture(self.name, parse_genotype(text, self.nodes))

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
        parameterized ops (ReLU). ``network.drop_path_prob`` enables drop path when training.
        """
        arch = self.validate(arch)
        act = act or nn.ReLU

        def op_builder(key: str, position: int, C: int, stride: int) -> nn.Module:
            return self.network_op(arch, key, position, C, stride, act)

        inputs = {key: [source for _, source in arch.spec[key]] for key in self.cell_keys()}
        return self._network(
            inputs, op_builder, channels, layers, num_classes, auxiliary, variant, in_channels
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
    ) -> DartsNetwork:
        if variant not in VARIANTS:
            raise ConfigError(
                f"unknown darts network variant {variant!r}; use {' or '.join(VARIANTS)}"
            )

        def planner(C: int, n: int, _nodes: int, stem: int, stem_reduces: bool) -> list[CellPlan]:
            return self.plans(C, n, stem, stem_reduces)

        common = {
            "C": channels or self.config.channels,
            "layers": layers or self.config.layers,
            "num_classes": num_classes or self.data.num_classes,
            "in_channels": in_channels or self.data.in_channels,
            "cell_inputs": cell_inputs,
            "op_builder": op_builder,
            "auxiliary": auxiliary,
            "planner": planner,
            "preprocess": self.preprocess,
        }
        if variant == "imagenet":
            return NetworkImageNet(**common)
        return NetworkCIFAR(**common, stem_multiplier=self.config.stem_multiplier)

    # -- costs --------------------------------------------------------------------------------
    cost_metrics = COST_METRICS

    def edge_sites(self, proxy: Mapping[str, Any] | None = None) -> list[EdgeSite]:
        """Every edge of the network at the search size (``proxy`` overrides) on this data."""
        config = self.sized_config(proxy or {})
        plans = self.plans(config.channels, config.layers, config.stem_multiplier * config.channels)
        return list(edge_sites(plans, config.nodes, self.data.image_size))

    def measure(self, metric: str, module: nn.Module, example: torch.Tensor) -> float:
        """``module``'s cost in ``metric``: ``params`` or ``flops`` (multiply-adds on
        ``example``). Spaces adding metrics extend this and :attr:`cost_metrics`."""
        if metric == "params":
            return float(count_params(module))
        if metric == "flops":
            return float(count_macs(module, example))
        raise ConfigError(
            f"unknown cost metric {metric!r}; space {self.name} measures "
            f"{', '.join(self.cost_metrics)}"
        )

    def cost_table(self, metric: str, proxy: Mapping[str, Any] | None = None) -> CostTable:
        """Per-candidate ``metric`` costs of the evaluation network at the search size (the
        config with ``proxy`` overrides), measured on the real modules; ``"none"`` costs 0.

        ``constant`` (stem, preprocessing, classifier) is the measured cost of a whole network
        minus its chosen ops, so ``constant`` plus the chosen ops' costs is the network's cost.
        """
        if metric not in self.cost_metrics:
            raise ConfigError(
                f"unknown cost metric {metric!r}; space {self.name} measures "
                f"{', '.join(self.cost_metrics)}"
            )
        cache: dict[tuple[str, int, int, int], float] = {}

        def cost(name: str, site: EdgeSite) -> float:
            key = (name, site.C, site.stride, site.size)
            if key not in cache:
                module = self.op(name, site.C, site.stride, True)
                example = torch.zeros(1, site.C, site.size, site.size)
                cache[key] = self.measure(metric, module, example)
            return cache[key]

        shape = (len(cell_edges(self.nodes)), len(PRIMITIVES))
        tables = {key: torch.zeros(shape, dtype=torch.float64) for key in self.cell_keys()}
        for site in self.edge_sites(proxy):
            for k, name in enumerate(PRIMITIVES):
                if name != ZERO:
                    tables[site.key][site.edge_index, k] += cost(name, site)
        # constant: a network whose nodes max-pool both cell inputs, minus those pools
        pool = "max_pool_3x3"
        config = self.sized_config(proxy or {})
        network = self._network(
            {key: [0, 1] * self.nodes for key in self.cell_keys()},
            lambda _key, _position, C, stride: self.op(pool, C, stride, True),
            channels=config.channels, layers=config.layers,
        )
        info = self.data
        example = torch.zeros(1, info.in_channels, info.image_size, info.image_size)
        total = self.measure(metric, network, example)
        edges = cell_edges(self.nodes)
        pooled = [edges.index((node, source)) for node in range(2, self.nodes + 2)
                  for source in (0, 1)]
        chosen = sum(float(tables[k][pooled, PRIMITIVES.index(pool)].sum()) for k in tables)
        return CostTable(metric, total - chosen, tables)

    def one_hot(self, arch: Architecture) -> dict[str, torch.Tensor]:
        """Per cell key, the ``[edges, candidates]`` bool mask of the ops ``arch`` keeps (the
        :meth:`kept_mask` of its scores)."""
        spec = self.validate(arch).spec
        edges = cell_edges(self.nodes)
        out = {}
        for key in self.cell_keys():
            matrix = torch.zeros(len(edges), len(PRIMITIVES), dtype=torch.bool)
            for position, (op, source) in enumerate(spec[key]):
                matrix[edges.index((position // 2 + 2, source)), PRIMITIVES.index(op)] = True
            out[key] = matrix
        return out

    def plot(self, arch: Architecture, path_stem: str) -> list[str]:
        """Normal and reduction cell diagrams as PNG and PDF: ``<stem>_normal.png`` etc."""
        spec = self.validate(arch).spec
        paths = []
        for cell_type in CELL_TYPES:
            paths += plot_cell(spec[cell_type], f"{cell_type} cell", f"{path_stem}_{cell_type}")
        return paths
