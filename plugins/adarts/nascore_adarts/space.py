"""The ``adarts`` search space (Wang et al., A-DARTS): DARTS cells whose operator set is factorized
into working ops (alpha) x activation functions (beta).

Each edge has an op group row (``"normal"``/``"reduce"``, role ``"op"``, stage 0) over the 8 DARTS
ops and an activation group row (``"normal.act"``/``"reduce.act"``, role ``"activation"``, stage 1)
over the candidate activations. The beta-mixed activation replaces the ReLU in front of the
parameterized ops: by default (the paper's Eq. 2-3) it acts once on the edge input and feeds all
of them, whose inner activations stay ReLU; with ``activation_sites = "every_relu"`` it acts at
every activation site of those ops. Any one-shot strategy working through decision groups works on
it; the stage numbers give the tri-level scheme (weights, then alpha, then beta) of strategies
that step one optimiser per stage. With ``fixed_activation`` or ``activation_config`` the
activation groups disappear and only alpha is searched (the paper's ablations).

Multi-level search (``strategy.levels``) and connection cells (``space.connection_cell``) come from
the ``darts`` space: each normal-cell level gets its op and activation groups (``"normal_2"``,
``"normal_2.act"``) and its activation list (``"normal_2_act"``); fixed activations apply to every
level of the normal cell; the connection cell keeps its ReLU.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from torch import nn

from nascore import (
    Architecture,
    ConfigError,
    CostTable,
    DataInfo,
    Decision,
    DecisionGroup,
    InfeasibleError,
    MalformedArchitecture,
    SupernetOptions,
)
from nascore.config import field, one_of
from nascore.spaces.darts import (
    CELL_TYPES,
    CONNECTION,
    DartsSpace,
    DartsSpaceConfig,
    EdgeSite,
    cell_title,
    cell_type_of,
    edge_names,
    levels_of,
    plot_cell,
    plot_connection,
)
from nascore.spaces.darts.ops import PARAMETERIZED, PRIMITIVES, ActFactory
from nascore_adarts.activations import (
    DEFAULT_ACTIVATIONS,
    check_activation,
    leading_only,
    single_instance,
)
from nascore_adarts.edge import ACTIVATION_SITES, EDGE_INPUT, FactorizedEdge
from nascore_adarts.genotype import (
    act_key,
    cells_of,
    check_activations,
    format_adarts_genotype,
    parse_adarts_genotype,
    split_spec,
)

#: Suffix of the activation decision groups: ``"normal.act"``, ``"reduce.act"``.
ACT_GROUP_SUFFIX = ".act"


def _check_candidates(_inst: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    if not value:
        raise ConfigError(f"{attribute.name} must name at least one activation")
    for name in value:
        check_activation(name, attribute.name)
    if len(set(value)) != len(value):
        raise ConfigError(f"{attribute.name} lists a name twice: {list(value)}")


def _check_fixed(_inst: Any, attribute: attrs.Attribute, value: str | None) -> None:
    if value is not None:
        check_activation(value, attribute.name)


@attrs.frozen
class ADartsSpaceConfig(DartsSpaceConfig):
    """The ``darts`` settings plus the activation factor."""

    activations: tuple[str, ...] = field(
        DEFAULT_ACTIVATIONS, "candidate activations O2 (beta) on every edge",
        validator=_check_candidates,
    )
    fixed_activation: str | None = field(
        None, "fix every edge to this activation: no beta, only alpha is searched",
        validator=_check_fixed,
    )
    activation_config: str | dict[str, list[str]] | None = field(
        None, "fix one activation per edge: {normal = [14 names], reduce = [14 names]} in edge "
        "order, or a JSON file holding that mapping; no beta, only alpha is searched",
    )
    activation_sites: str = field(
        EDGE_INPUT, "where an edge's activation acts: edge_input = once on the edge input, "
        "feeding the parameterized ops, whose inner ReLUs (a sep conv's second) stay ReLU "
        "[A-DARTS, Eq. 2-3 and Fig. 2]; every_relu = at every ReLU of the parameterized ops",
        validator=one_of(*ACTIVATION_SITES),
    )
    require_skip_in_normal: bool = field(
        False, "derive raises InfeasibleError when the derived normal cell has no skip_connect "
        "(the paper discards such cells and searches again)",
    )

    def __attrs_post_init__(self) -> None:
        if self.fixed_activation is not None and self.activation_config is not None:
            raise ConfigError(
                "fixed_activation and activation_config exclude each other; set only one"
            )


_KEY = "space.activation_config"


def _load_activation_config(value: str | Mapping[str, Any], edges: int) -> dict[str, list[str]]:
    """The per-edge activations of ``activation_config`` (a mapping or a JSON file of one)."""
    if isinstance(value, str):
        try:
            value = json.loads(Path(value).read_text())
        except FileNotFoundError:
            raise ConfigError(f"{_KEY} file {value} does not exist") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{_KEY} file {value} is not JSON: {exc}") from None
    if not isinstance(value, Mapping) or set(value) != set(CELL_TYPES):
        raise ConfigError(
            f"{_KEY} must map exactly 'normal' and 'reduce' to lists of activations"
        )
    out = {}
    for cell_type in CELL_TYPES:
        names = value[cell_type]
        if not isinstance(names, (list, tuple)) or len(names) != edges:
            raise ConfigError(f"{_KEY}.{cell_type} must list {edges} activations (one per edge)")
        out[cell_type] = [check_activation(name, f"{_KEY}.{cell_type}") for name in names]
    return out


class ADartsSpace(DartsSpace):
    """DARTS cells with a factorized operator set: ops (alpha) x activations (beta) per edge.

    Architectures are ``darts`` specs plus the activation of every parameterized op (see
    :mod:`nascore_adarts.genotype`).
    """

    name = "adarts"
    config_cls = ADartsSpaceConfig

    def __init__(self, config: ADartsSpaceConfig, data: DataInfo) -> None:
        super().__init__(config, data)
        edges = len(edge_names(config.nodes))
        #: Per cell type, the fixed activation of every supernet edge, or ``None`` when searched.
        self.edge_activations: dict[str, list[str]] | None = None
        if config.fixed_activation is not None:
            self.edge_activations = {c: [config.fixed_activation] * edges for c in CELL_TYPES}
        elif config.activation_config is not None:
            self.edge_activations = _load_activation_config(config.activation_config, edges)

    @property
    def searches_activations(self) -> bool:
        """Whether beta is searched (no fixed activations)."""
        return self.edge_activations is None

    def edge_of(self, position: int, source: int) -> int:
        """The supernet edge (row of a decision group) of the pair at ``position`` of a derived
        cell reading state ``source``."""
        return edge_names(self.nodes).index(f"n{position // 2 + 2}<-{source}")

    def final_operators(self) -> list[str]:
        """The operators an edge can end up with: ``"op+activation"`` for the parameterized ops,
        the plain name for the others (``none`` included): 9 * 4 + 4 = 40 by default, the 8
        DARTS ops when the activations are fixed."""
        if not self.searches_activations:
            return list(PRIMITIVES)
        return [
            f"{op}+{act}" if op in PARAMETERIZED else op
            for op in PRIMITIVES
            for act in (self.config.activations if op in PARAMETERIZED else [None])
        ]

    # -- one-shot ---------------------------------------------------------------------------
    def decision_groups(self) -> list[DecisionGroup]:
        """The ``darts`` op groups (stage 0) and, unless fixed, ``"<cell>.act"`` (role
        ``"activation"``, stage 1, no zero candidate)."""
        groups = super().decision_groups()
        if self.searches_activations:
            names = edge_names(self.nodes)
            groups += [
                DecisionGroup(
                    cell_type + ACT_GROUP_SUFFIX,
                    names,
                    self.config.activations,
                    role="activation",
                    stage=1,
                )
                for cell_type in CELL_TYPES
            ]
        return groups

    def search_edge(
        self, C: int, stride: int, cell_type: str, edge_index: int, options: SupernetOptions
    ) -> nn.Module:
        """A :class:`FactorizedEdge` over the space's supernet ops: mixed activation, or the
        edge's fixed one."""
        if self.searches_activations:
            activations, searched = list(self.config.activations), True
        else:
            activations, searched = [self.edge_activations[cell_type][edge_index]], False
        return FactorizedEdge(
            C, stride, activations, searched, options.partial_channels, self.supernet_op,
            self.config.activation_sites,
        )

    def kept_mask(self, scores: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The ``darts`` op masks plus, when searched, the argmax activation of every kept edge
        whose op is parameterized (the tensor form of :meth:`derive`)."""
        out = super().kept_mask(scores)
        if not self.searches_activations:
            return out
        parameterized = self._parameterized_columns()
        for key in self.cell_keys(levels_of(scores)):
            acts = scores[key + ACT_GROUP_SUFFIX]
            with_act = (out[key] & parameterized).any(dim=1)
            mask = torch.zeros(acts.shape, dtype=torch.bool)
            mask[with_act, acts.argmax(dim=1)[with_act]] = True
            out[key + ACT_GROUP_SUFFIX] = mask
        return out

    @staticmethod
    def _parameterized_columns() -> torch.Tensor:
        """Bool ``[candidates]``: which op columns are parameterized (take an activation)."""
        return torch.tensor([op in PARAMETERIZED for op in PRIMITIVES])

    def derive(self, scores: Mapping[str, torch.Tensor]) -> Architecture:
        """The DARTS rule on the op groups; each kept parameterized op takes the argmax activation
        of its edge (or the edge's fixed one).

        With ``require_skip_in_normal`` a normal cell without ``skip_connect`` raises
        :class:`InfeasibleError`.
        """
        spec = dict(super().derive(scores).spec)
        for key in cells_of(spec):
            spec[act_key(key)] = [
                self._edge_activation(scores, key, self.edge_of(position, source))
                if op in PARAMETERIZED
                else None
                for position, (op, source) in enumerate(spec[key])
            ]
        if self.config.require_skip_in_normal and all(
            op != "skip_connect" for op, _ in spec["normal"]
        ):
            raise InfeasibleError(
                "the derived normal cell has no skip_connect (space.require_skip_in_normal): "
                "the paper discards such a cell; search again with another --seed, or keep "
                "this one with --set space.require_skip_in_normal=false"
            )
        return Architecture(self.name, spec)

    def _edge_activation(self, scores: Mapping[str, torch.Tensor], key: str, edge: int) -> str:
        if not self.searches_activations:
            return self.edge_activations[cell_type_of(key)][edge]
        row = scores[key + ACT_GROUP_SUFFIX][edge]
        return self.config.activations[int(torch.argmax(row))]

    # -- discrete ---------------------------------------------------------------------------
    def decisions(self) -> list[Decision]:
        """The ``darts`` decisions, then (if searched) ``<cell>.n<node>.act_a``/``act_b``: the
        activation of each op (ignored where the op is not parameterized)."""
        out = super().decisions()
        if self.searches_activations:
            for cell_type in CELL_TYPES:
                for node in range(2, self.nodes + 2):
                    out += [
                        Decision(f"{cell_type}.n{node}.{part}", self.config.activations)
                        for part in ("act_a", "act_b")
                    ]
        return out

    def encode(self, arch: Architecture) -> list[int]:
        spec = self.validate(arch).spec
        _darts, acts = split_spec(spec)
        choices = super().encode(arch)
        if self.searches_activations:
            for cell_type in CELL_TYPES:
                choices += [0 if act is None else self._candidate(act) for act in acts[cell_type]]
        return choices

    def decode(self, choices: list[int]) -> Architecture:
        decisions = self.decisions()
        if len(choices) != len(decisions):
            raise MalformedArchitecture(
                f"adarts needs {len(decisions)} choices, got {len(choices)}"
            )
        n_darts = len(self.cell_decisions())
        spec = dict(super().decode(list(choices[:n_darts])).spec)
        candidates = self.config.activations
        act_choices = iter(choices[n_darts:])
        for cell_type in CELL_TYPES:
            acts = []
            for position, (op, source) in enumerate(spec[cell_type]):
                if self.searches_activations:
                    choice = next(act_choices)
                    if not 0 <= choice < len(candidates):
                        raise MalformedArchitecture(
                            f"activation choice {choice} is out of range "
                            f"({len(candidates)} candidates)"
                        )
                    act = candidates[choice]
                else:
                    act = self.edge_activations[cell_type][self.edge_of(position, source)]
                acts.append(act if op in PARAMETERIZED else None)
            spec[act_key(cell_type)] = acts
        return Architecture(self.name, spec)

    def _candidate(self, act: str) -> int:
        """Column of ``act`` in the activation groups."""
        if act not in self.config.activations:
            raise MalformedArchitecture(
                f"activation {act!r} is not among the candidates "
                f"{', '.join(self.config.activations)}"
            )
        return self.config.activations.index(act)

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """One changed decision that changes the architecture (activation decisions of
        non-parameterized ops change nothing, so those draws are repeated)."""
        arch = self.validate(arch)
        for _ in range(100):
            child = super().mutate(arch, rng)
            if child != arch:
                return child
        raise MalformedArchitecture(f"space {self.name}: could not mutate {arch.key()}")

    # -- architectures ----------------------------------------------------------------------
    def validate(self, arch: Architecture) -> Architecture:
        """The ``darts`` checks plus the activations; missing ``*_act`` lists mean ReLU."""
        darts, acts = split_spec(arch.spec)
        spec = dict(super().validate(Architecture(arch.space, darts)).spec)
        for key in cells_of(spec):
            spec[act_key(key)] = check_activations(key, spec[key], acts.get(key))
        return Architecture(self.name, spec)

    def format(self, arch: Architecture) -> str:
        """``Genotype(normal=[('sep_conv_3x3', 0, 'selu'), ('skip_connect', 1), ...], ...)``."""
        return format_adarts_genotype(self.validate(arch).spec)

    def parse(self, text: str) -> Architecture:
        """Read :meth:`format`'s string, or a plain DARTS genotype (ReLU everywhere)."""
        return Architecture(self.name, parse_adarts_genotype(text, self.nodes))

    def network_op(
        self,
        arch: Architecture,
        key: str,
        position: int,
        C: int,
        stride: int,
        act: ActFactory,
    ) -> nn.Module:
        """The op of ``arch`` with its own activation (see :meth:`op_activation`); ``act`` is not
        used."""
        name = arch.spec[act_key(key)][position]
        if name is None:
            return super().network_op(arch, key, position, C, stride, act)
        return super().network_op(arch, key, position, C, stride, self.op_activation(name))

    def op_activation(self, name: str) -> ActFactory:
        """The activation factory of a derived parameterized op whose edge chose ``name``: with
        ``activation_sites = "edge_input"`` ``name`` in front of the op and ReLU inside it,
        with ``"every_relu"`` one module of ``name`` shared by all the op's activation sites
        (as the edge shares one in the supernet)."""
        if self.config.activation_sites == EDGE_INPUT:
            return leading_only(name)
        return single_instance(name)

    def plot(self, arch: Architecture, path_stem: str) -> list[str]:
        """Cell diagrams whose edges read ``op`` or ``op (activation)``."""
        spec = self.validate(arch).spec
        paths = []
        for key in cells_of(spec):
            pairs = [
                [op if act is None else f"{op} ({act})", source]
                for (op, source), act in zip(spec[key], spec[act_key(key)], strict=True)
            ]
            paths += plot_cell(pairs, cell_title(key, levels_of(spec)), f"{path_stem}_{key}")
        if CONNECTION in spec:
            paths += plot_connection(spec[CONNECTION], f"{path_stem}_{CONNECTION}")
        return paths

    # -- costs --------------------------------------------------------------------------------
    def cost_table(self, metric: str, proxy: Mapping[str, Any] | None = None) -> CostTable:
        """The ``darts`` op costs (with ReLU) plus what each activation adds, measured on the
        real modules as the mean over the parameterized ops of ``cost(op with activation) -
        cost(op with ReLU)``: the ``"<cell>.act"`` tables, gated by the op group's
        parameterized columns (an activation costs only where a parameterized op is kept), or,
        with fixed activations, added to the parameterized ops' columns.

        ``constant`` plus the costs :meth:`kept_mask` selects equals the measured cost of the
        evaluation network.
        """
        base = super().cost_table(metric, proxy)
        names = self.config.activations if self.searches_activations else sorted(
            {n for names in self.edge_activations.values() for n in names}
        )
        edges = len(edge_names(self.nodes))
        keys = self.cell_keys(self.proxy_levels(proxy))
        extra = {c: torch.zeros(edges, len(names), dtype=torch.float64) for c in keys}
        cache: dict[tuple[str, int, int, int], float] = {}
        for site in self.edge_sites(proxy):
            for k, name in enumerate(names):
                key = (name, site.C, site.stride, site.size)
                if key not in cache:
                    cache[key] = self._activation_cost(metric, name, site)
                extra[site.key][site.edge_index, k] += cache[key]
        if self.searches_activations:
            columns = self._parameterized_columns()
            tables = {**base.per_group, **{c + ACT_GROUP_SUFFIX: extra[c] for c in keys}}
            gates = {c + ACT_GROUP_SUFFIX: (c, columns) for c in keys}
            return CostTable(metric, base.constant, tables, gates)
        tables = dict(base.per_group)
        for key in keys:
            table = base.per_group[key].clone()
            for edge, name in enumerate(self.edge_activations[cell_type_of(key)]):
                for k, op in enumerate(PRIMITIVES):
                    if op in PARAMETERIZED:
                        table[edge, k] += extra[key][edge, names.index(name)]
            tables[key] = table
        return CostTable(metric, base.constant, tables)

    def _activation_cost(self, metric: str, name: str, site: EdgeSite) -> float:
        x = torch.zeros(1, site.C, site.size, site.size)

        def cost(op: str, act: ActFactory) -> float:
            return self.measure(metric, self.op(op, site.C, site.stride, True, act), x)

        deltas = [
            cost(op, self.op_activation(name)) - cost(op, nn.ReLU) for op in PARAMETERIZED
        ]
        return sum(deltas) / len(deltas)

    def one_hot(self, arch: Architecture) -> dict[str, torch.Tensor]:
        """The ``darts`` op masks plus, when searched, ``"<cell>.act"``: the activation of every
        edge that keeps a parameterized op."""
        arch = self.validate(arch)
        out = super().one_hot(arch)
        if not self.searches_activations:
            return out
        edges = len(edge_names(self.nodes))
        for key in cells_of(arch.spec):
            matrix = torch.zeros(edges, len(self.config.activations), dtype=torch.bool)
            for position, ((_op, source), act) in enumerate(
                zip(arch.spec[key], arch.spec[act_key(key)], strict=True)
            ):
                if act is not None:
                    matrix[self.edge_of(position, source), self._candidate(act)] = True
            out[key + ACT_GROUP_SUFFIX] = matrix
        return out
