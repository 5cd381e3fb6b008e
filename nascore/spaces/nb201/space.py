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
from nascore.errors import ConfigError, MalformedArchitecture
from nascore.space import Decision, DecisionGroup, SearchSpace, Supernet, SupernetOptions
from nascore.spaces.nb201.cell import EDGE_NAMES, OPS, check_ops, format_cell, parse_cell
from nascore.spaces.nb201.network import NB201Network

_DECISIONS = tuple(Decision(name, OPS) for name in EDGE_NAMES)
_NETWORK_OPTIONS = ("channels", "cells_per_stage", "layers", "num_classes", "in_channels")


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

    def build_network(self, arch: Architecture, **options: Any) -> nn.Module:
        """The discrete NB201 network of ``arch``.

        Options: ``channels`` (C), ``cells_per_stage`` (N) or ``layers`` (total cells, N =
        layers // 3), ``num_classes``, ``in_channels``; defaults from the space config and data.
        """
        unknown = sorted(set(options) - set(_NETWORK_OPTIONS))
        if unknown:
            raise ConfigError(
                f"unknown nb201 network option {unknown[0]}; options: {', '.join(_NETWORK_OPTIONS)}"
            )
        cells = self.config.cells_per_stage
        if options.get("layers") is not None:
            cells = max(1, int(options["layers"]) // 3)
        if options.get("cells_per_stage") is not None:
            cells = int(options["cells_per_stage"])
        return NB201Network(
            self.ops(arch),
            channels=int(options.get("channels") or self.config.channels),
            cells_per_stage=cells,
            num_classes=int(options.get("num_classes") or self.data.num_classes),
            in_channels=int(options.get("in_channels") or self.data.in_channels),
        )

    # -- one-shot ---------------------------------------------------------------------------
    def decision_groups(self) -> list[DecisionGroup]:
        return [DecisionGroup("cell", EDGE_NAMES, OPS, zero="none")]

    def build_supernet(self, options: SupernetOptions) -> Supernet:
        raise NotImplementedError

    def derive(self, scores: Mapping[str, torch.Tensor]) -> Architecture:
        """The argmax op of every edge (NB201 keeps all 6 edges)."""
        table = scores["cell"]
        if tuple(table.shape) != (len(EDGE_NAMES), len(OPS)):
            raise MalformedArchitecture(
                f"nb201 scores must have shape {(len(EDGE_NAMES), len(OPS))}, "
                f"got {tuple(table.shape)}"
            )
        return self.decode([int(i) for i in table.argmax(dim=1)])
