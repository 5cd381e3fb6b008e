"""The ``nb201`` search space: the NAS-Bench-201 cell (6 edges x 5 ops, 15,625 architectures).

An architecture's spec is ``{"ops": [6 op names]}`` in cell-string edge order
(:data:`~nascore.spaces.nb201.cell.EDGE_NAMES`); :meth:`NB201Space.format` writes the benchmark's
cell string and :meth:`NB201Space.parse` reads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import torch
from torch import nn

from nascore.architecture import Architecture
from nascore.config import field, positive
from nascore.diagram import save
from nascore.errors import ConfigError, MalformedArchitecture
from nascore.space import Decision, DecisionGroup, SearchSpace, Supernet, SupernetOptions
from nascore.spaces.nb201.cell import EDGE_NAMES, OPS, check_ops, format_cell, parse_cell
from nascore.spaces.nb201.network import NB201Network
from nascore.spaces.nb201.plot import cell_diagram
from nascore.spaces.nb201.supernet import NB201Supernet

_DECISIONS = tuple(Decision(name, OPS) for name in EDGE_NAMES)
_PROXY_OPTIONS = ("channels", "cells_per_stage", "layers")
_NETWORK_OPTIONS = (*_PROXY_OPTIONS, "num_classes", "in_channels")


@attrs.frozen
class NB201Config:
    """Size of the NB201 networks (the benchmark's search and evaluation use C=16, N=5)."""

    channels: int = field(16, "initial channels C (the stages use C, 2C, 4C)", validator=positive)
    cells_per_stage: int = field(5, "cells per stage N", validator=positive)


class NB201Space(SearchSpace):
    """The NAS-Bench-201 cell space; the same cell is used in every stage."""

    name = "nb201"
    config_cls = NB201Config
    capabilities = frozenset({"sample", "mutate", "encode", "network", "supernet"})

    # -- architectures ----------------------------------------------------------------------
    def ops(self, arch: Architecture) -> tuple[str, ...]:
        """The 6 edge ops of ``arch`` (validated)."""
        super().validate(arch)
        ops = arch.spec.get("ops")
        if not isinstance(ops, list):
            raise MalformedArchitecture('an nb201 architecture spec is {"ops": [6 op names]}')
        return check_ops(ops)

    def architecture(self, ops: tuple[str, ...] | list[str]) -> Architecture:
        """The architecture of 6 edge ops."""
        return Architecture(self.name, {"ops": list(check_ops(ops))})

    def validate(self, arch: Architecture) -> Architecture:
        self.ops(arch)
        return arch

    def format(self, arch: Architecture) -> str:
        return format_cell(self.ops(arch))

    def parse(self, text: str) -> Architecture:
        return self.architecture(parse_cell(text))

    def plot(self, arch: Architecture, path_stem: str) -> list[str]:
        """The cell diagram: ``path_stem`` + ``.png``, ``.pdf`` and ``.dot``."""
        return save(cell_diagram(self.ops(arch)), path_stem)

    # -- discrete ---------------------------------------------------------------------------
    def decisions(self) -> list[Decision]:
        return list(_DECISIONS)

    def encode(self, arch: Architecture) -> list[int]:
        return [OPS.index(op) for op in self.ops(arch)]

    def decode(self, choices: list[int]) -> Architecture:
        if len(choices) != len(EDGE_NAMES) or not all(0 <= c < len(OPS) for c in choices):
            raise MalformedArchitecture(
                f"nb201 choices must be {len(EDGE_NAMES)} indices in 0..{len(OPS) - 1}, "
                f"got {list(choices)}"
            )
        return Architecture(self.name, {"ops": [OPS[c] for c in choices]})

    def sizes(self, overrides: Mapping[str, Any], allowed: tuple[str, ...]) -> tuple[int, int]:
        """``(channels, cells_per_stage)`` from the config and ``overrides`` (``channels``,
        ``cells_per_stage`` or ``layers``, the total number of cells: N = layers // 3)."""
        unknown = sorted(set(overrides) - set(allowed))
        if unknown:
            raise ConfigError(
                f"space nb201 does not understand option {unknown[0]!r}; options: "
                + ", ".join(allowed)
            )
        cells = self.config.cells_per_stage
        if overrides.get("layers") is not None:
            cells = max(1, int(overrides["layers"]) // 3)
        if overrides.get("cells_per_stage") is not None:
            cells = int(overrides["cells_per_stage"])
        return int(overrides.get("channels") or self.config.channels), cells

    def build_network(self, arch: Architecture, **options: Any) -> nn.Module:
        """The discrete NB201 network of ``arch``.

        Options: ``channels`` (C), ``cells_per_stage`` (N) or ``layers`` (total cells, N =
        layers // 3), ``num_classes``, ``in_channels``; defaults from the space config and data.
        """
        channels, cells = self.sizes(options, _NETWORK_OPTIONS)
        return NB201Network(
            self.ops(arch),
            channels=channels,
            cells_per_stage=cells,
            num_classes=int(options.get("num_classes") or self.data.num_classes),
            in_channels=int(options.get("in_channels") or self.data.in_channels),
        )

    # -- one-shot ---------------------------------------------------------------------------
    def decision_groups(self) -> list[DecisionGroup]:
        return [DecisionGroup("cell", EDGE_NAMES, OPS, zero="none")]

    def build_supernet(self, options: SupernetOptions) -> Supernet:
        """The weight-sharing NB201 network; ``options.proxy`` may set ``channels`` and
        ``layers``/``cells_per_stage``."""
        if options.levels != 1:
            raise ConfigError("space nb201 shares one cell everywhere; set strategy.levels=1")
        channels, cells = self.sizes(options.proxy, _PROXY_OPTIONS)
        return NB201Supernet(
            self.decision_groups()[0],
            channels=channels,
            cells_per_stage=cells,
            num_classes=self.data.num_classes,
            in_channels=self.data.in_channels,
            partial_channels=options.partial_channels,
        )

    def derive(self, scores: Mapping[str, torch.Tensor]) -> Architecture:
        """The argmax op of every edge (NB201 keeps all 6 edges)."""
        table = scores["cell"]
        if tuple(table.shape) != (len(EDGE_NAMES), len(OPS)):
            raise MalformedArchitecture(
                f"nb201 scores must have shape {(len(EDGE_NAMES), len(OPS))}, "
                f"got {tuple(table.shape)}"
            )
        return self.decode([int(i) for i in table.argmax(dim=1)])
