"""The ``darts`` search space (Liu et al., DARTS): two cell types of 4 nodes and 14 mixed edges.

Extension points for spaces built on this one (e.g. A-DARTS, as a subclass using public API only):

* :meth:`DartsSpace.decision_groups` may add groups named ``"normal.<x>"``/``"reduce.<x>"`` with
  their own ``role``; the supernet hands each edge its row of every group of its cell type.
* :meth:`DartsSpace.search_edge` builds the supernet edge (see :mod:`.supernet` for the call
  protocol ``edge(x, selections)``).
* :meth:`DartsSpace.network_op` builds each op of the evaluation network from the architecture.
* :meth:`DartsSpace.edge_sites` gives every edge's channels, stride and input size for cost tables.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from nascore.spaces.darts.cells import EdgeSite, OpBuilder, edge_sites, plan_cells
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
)
from nascore.spaces.darts.network import DartsNetwork, NetworkCIFAR, NetworkImageNet
from nascore.spaces.darts.ops import OPS, PRIMITIVES, ActFactory
from nascore.spaces.darts.plot import plot_cell
from nascore.spaces.darts.supernet import DartsSupernet, OpEdge

#: Keys of ``SupernetOptions.proxy`` this space understands.
PROXY_KEYS = ("channels", "layers")
COST_METRICS = ("params", "flops")
VARIANTS = ("cifar", "imagenet")
_DECISION_PARTS = ("input_a", "op_a", "input_b", "op_b")


@attrs.frozen
class DartsSpaceConfig:
    """Size of the search network (the evaluation network's defaults too)."""

    channels: int = field(16, "initial channels C of the search network", validator=positive)
    layers: int = field(8, "number of cells of the search network", validator=positive)
    nodes: int = field(4, "intermediate nodes per cell", validator=positive)
    stem_multiplier: int = field(3, "the stem outputs stem_multiplier * C channels",
                                 validator=positive)


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

    # -- one-shot ---------------------------------------------------------------------------
    def decision_groups(self) -> list[DecisionGroup]:
        """``"normal"`` and ``"reduce"``: edges ``"n2<-0"`` .. ``"n5<-4"``, role ``"op"``."""
        names = edge_names(self.nodes)
        return [
            DecisionGroup(cell_type, names, PRIMITIVES, role="op", zero=ZERO)
            for cell_type in CELL_TYPES
        ]

    def search_edge(
        self, C: int, stride: int, cell_type: str, edge_index: int, options: SupernetOptions
    ) -> nn.Module:
        """Extension point: the supernet module of edge ``edge_index`` of a ``cell_type`` cell,
        called as ``edge(x, selections)`` with a dict role -> Selection of that edge's rows."""
        return OpEdge(C, stride, options.partial_channels)

    def sized_config(self, proxy: Mapping[str, Any]) -> DartsSpaceConfig:
        """The config with ``proxy`` overrides (``channels``, ``layers``) applied."""
        unknown = sorted(set(proxy) - set(PROXY_KEYS))
        if unknown:
            raise ConfigError(
                f"space darts cannot resize the supernet by {unknown[0]!r}; "
                f"proxy keys: {', '.join(PROXY_KEYS)}"
            )
        return attrs.evolve(self.config, **{k: int(v) for k, v in proxy.items()})

    def build_supernet(self, options: SupernetOptions) -> Supernet:
        """The DARTS search network, sized by the config and ``options.proxy``."""
        config = self.sized_config(options.proxy)

        def edge_factory(C: int, stride: int, cell_type: str, edge_index: int) -> nn.Module:
            return self.search_edge(C, stride, cell_type, edge_index, options)

        return DartsSupernet(
            self.decision_groups(),
            C=config.channels,
            layers=config.layers,
            nodes=config.nodes,
            stem_multiplier=config.stem_multiplier,
            in_channels=self.data.in_channels,
            num_classes=self.data.num_classes,
            edge_factory=edge_factory,
        )

    def derive(self, scores: Mapping[str, torch.Tensor]) -> Architecture:
        """The DARTS rule per cell type (see :func:`derive_cell`)."""
        spec: dict[str, Any] = {}
        for cell_type in CELL_TYPES:
            spec[cell_type] = derive_cell(scores[cell_type], self.nodes, PRIMITIVES.index(ZERO))
            spec[f"{cell_type}_concat"] = list(range(2, self.nodes + 2))
        return Architecture(self.name, spec)

    # -- discrete ---------------------------------------------------------------------------
    def decisions(self) -> list[Decision]:
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
        decisions = self.decisions()
        if len(choices) != len(decisions):
            raise MalformedArchitecture(
                f"darts needs {len(decisions)} choices, got {len(choices)}"
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
        cell_type: str,
        position: int,
        C: int,
        stride: int,
        act: ActFactory,
    ) -> nn.Module:
        """Extension point: the evaluation-network op at ``position`` of ``cell_type``."""
        return OPS[arch.spec[cell_type][position][0]](C, stride, True, act)

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
        if variant not in VARIANTS:
            raise ConfigError(
                f"unknown darts network variant {variant!r}; use {' or '.join(VARIANTS)}"
            )
        arch = self.validate(arch)
        act = act or nn.ReLU

        def op_builder(cell_type: str, position: int, C: int, stride: int) -> nn.Module:
            return self.network_op(arch, cell_type, position, C, stride, act)

        inputs = {c: [source for _, source in arch.spec[c]] for c in CELL_TYPES}
        return self._network(
            inputs, op_builder, channels, layers, num_classes, auxiliary, variant, in_channels
        )

    def _network(
        self,
        cell_inputs: Mapping[str, list[int]],
        op_builder: OpBuilder,
        channels: int | None = None,
        layers: int | None = None,
        num_classes: int | None = None,
        auxiliary: bool = False,
        variant: str = "cifar",
        in_channels: int | None = None,
    ) -> DartsNetwork:
        common = {
            "C": channels or self.config.channels,
            "layers": layers or self.config.layers,
            "num_classes": num_classes or self.data.num_classes,
            "in_channels": in_channels or self.data.in_channels,
            "cell_inputs": cell_inputs,
            "op_builder": op_builder,
            "auxiliary": auxiliary,
        }
        if variant == "imagenet":
            return NetworkImageNet(**common)
        return NetworkCIFAR(**common, stem_multiplier=self.config.stem_multiplier)

    # -- costs --------------------------------------------------------------------------------
    def edge_sites(self) -> list[EdgeSite]:
        """Every edge of the evaluation network at the search config's size on this data."""
        config = self.config
        plans = plan_cells(
            config.channels, config.layers, config.nodes, config.stem_multiplier * config.channels
        )
        return list(edge_sites(plans, config.nodes, self.data.image_size))

    def candidate_costs(self, metric: str) -> CostTable:
        """Per-candidate ``params`` or ``flops`` (multiply-adds) of the evaluation network at the
        search config's size, measured on the real modules; ``"none"`` costs 0.

        ``constant`` (stem, preprocessing, classifier) is the measured cost of a whole network
        minus its chosen ops, so ``constant`` plus the chosen ops' costs is the network's cost.
        """
        if metric not in COST_METRICS:
            raise ConfigError(
                f"unknown cost metric {metric!r}; darts measures {', '.join(COST_METRICS)}"
            )

        def measure(module: nn.Module, channels: int, size: int) -> float:
            if metric == "params":
                return float(count_params(module))
            return float(count_macs(module, torch.zeros(1, channels, size, size)))

        cache: dict[tuple[str, int, int, int], float] = {}

        def cost(name: str, site: EdgeSite) -> float:
            key = (name, site.C, site.stride, site.size)
            if key not in cache:
                op = OPS[name](site.C, site.stride, True, nn.ReLU)
                cache[key] = measure(op, site.C, site.size)
            return cache[key]

        shape = (len(cell_edges(self.nodes)), len(PRIMITIVES))
        tables = {c: torch.zeros(shape, dtype=torch.float64) for c in CELL_TYPES}
        for site in self.edge_sites():
            for k, name in enumerate(PRIMITIVES):
                if name != ZERO:
                    tables[site.cell_type][site.edge_index, k] += cost(name, site)
        # constant: a network whose nodes max-pool both cell inputs, minus those pools
        pool = "max_pool_3x3"
        network = self._network(
            {c: [0, 1] * self.nodes for c in CELL_TYPES},
            lambda _cell_type, _position, C, stride: OPS[pool](C, stride, True, nn.ReLU),
        )
        total = measure(network, self.data.in_channels, self.data.image_size)
        edges = cell_edges(self.nodes)
        pooled = [edges.index((node, source)) for node in range(2, self.nodes + 2)
                  for source in (0, 1)]
        chosen = sum(float(tables[c][pooled, PRIMITIVES.index(pool)].sum()) for c in CELL_TYPES)
        return CostTable(metric, total - chosen, tables)

    def one_hot(self, arch: Architecture) -> dict[str, torch.Tensor]:
        """Per cell type, the ``[edges, candidates]`` 0/1 matrix of the ops ``arch`` keeps."""
        spec = self.validate(arch).spec
        edges = cell_edges(self.nodes)
        out = {}
        for cell_type in CELL_TYPES:
            matrix = torch.zeros(len(edges), len(PRIMITIVES), dtype=torch.float64)
            for position, (op, source) in enumerate(spec[cell_type]):
                matrix[edges.index((position // 2 + 2, source)), PRIMITIVES.index(op)] = 1.0
            out[cell_type] = matrix
        return out

    def plot(self, arch: Architecture, path_stem: str) -> list[str]:
        """Normal and reduction cell diagrams as PNG and PDF: ``<stem>_normal.png`` etc."""
        spec = self.validate(arch).spec
        paths = []
        for cell_type in CELL_TYPES:
            paths += plot_cell(spec[cell_type], f"{cell_type} cell", f"{path_stem}_{cell_type}")
        return paths
