# FROZEN: written once against nascore plugin API 1, the way a third party would have written it
# from docs/writing-a-plugin.md of that time (old import places such as `nascore.nn.SepConv`, an
# attribute of its own named `pending`, torch imported at module level). NEVER EDIT this file when
# nascore's API changes: tests/test_plugin_compat.py installs it unchanged to check that a plugin
# written for API 1 keeps working. A change that breaks it is a change of the plugin API.
"""A third-party nascore plugin of plugin API 1: a ``chain`` space with its own network, a
``localsearch`` discrete strategy, a ``sharpen`` one-shot part and a ``latency`` constraint."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Mapping
from typing import Any

import attrs
import torch
from torch import nn

import nascore
from nascore import Architecture, Decision, DecisionGroup, hookimpl
from nascore.costs import CostTable, count_macs, count_params
from nascore.nn import MixedEdge, ReLUConvBN, SepConv
from nascore.oneshot import Part
from nascore.strategies.discrete import DiscreteConfig, DiscreteStrategy

NASCORE_PLUGIN_API = 1

# -- a space with its own network ------------------------------------------------------------
OPS = ("sep3x3", "conv3x3", "skip")


def make_op(name: str, channels: int, affine: bool = True) -> nn.Module:
    """One candidate of a chain layer, built from nascore.nn blocks."""
    if name == "skip":
        return nn.Identity()
    if name == "sep3x3":
        return SepConv(channels, channels, 3, 1, 1, affine)
    return ReLUConvBN(channels, channels, 3, 1, 1, affine)


class ChainNetwork(nn.Module):
    """Stem, one module per layer, global average pooling, linear classifier."""

    def __init__(self, layers: list[nn.Module], channels: int, in_channels: int,
                 num_classes: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(channels))
        self.layers = nn.ModuleList(layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        return self.classifier(self.pool(x).flatten(1))


class ChainSupernet(nascore.Supernet):
    """Every layer a mixed edge over OPS, driven by the group ``layers``."""

    def __init__(self, group: DecisionGroup, channels: int, in_channels: int, num_classes: int,
                 partial_channels: int) -> None:
        super().__init__()
        self.groups = [group]
        edges = [MixedEdge(OPS, channels, 1, lambda n, c, _s: make_op(n, c, affine=False),
                           partial_channels, zero=None) for _ in group.edges]
        self.net = ChainNetwork(edges, channels, in_channels, num_classes)

    def forward(self, x: torch.Tensor, weights: Mapping[str, nascore.EdgeWeights]) -> torch.Tensor:
        selection = weights["layers"]
        x = self.net.stem(x)
        for index, edge in enumerate(self.net.layers):
            x = edge(x, selection.row(index))
        return self.net.classifier(self.net.pool(x).flatten(1))


@attrs.frozen
class ChainConfig:
    channels: int = nascore.field(8, "channels of every layer")
    layers: int = nascore.field(3, "number of layers")


class ChainSpace(nascore.SearchSpace):
    """A chain of layers, each choosing a separable conv, a conv or a skip."""

    name = "chain"
    config_cls = ChainConfig
    capabilities = frozenset({"supernet", "sample", "mutate", "encode", "network", "cost"})
    cost_metrics = ("params", "flops")

    def decisions(self) -> list[Decision]:
        return [Decision(f"layer{i}", OPS) for i in range(self.config.layers)]

    def encode(self, arch: Architecture) -> list[int]:
        return [OPS.index(op) for op in self.validate(arch).spec["ops"]]

    def decode(self, choices: list[int]) -> Architecture:
        if len(choices) != self.config.layers or not all(0 <= c < len(OPS) for c in choices):
            raise nascore.MalformedArchitecture(f"chain needs {self.config.layers} op indices")
        return Architecture(self.name, {"ops": [OPS[c] for c in choices]})

    def validate(self, arch: Architecture) -> Architecture:
        super().validate(arch)
        ops = arch.spec.get("ops")
        if not isinstance(ops, list) or len(ops) != self.config.layers or \
                any(op not in OPS for op in ops):
            raise nascore.MalformedArchitecture(f"a chain spec is {{'ops': [{self.config.layers} "
                                                f"of {', '.join(OPS)}]}}")
        return arch

    def decision_groups(self) -> list[DecisionGroup]:
        return [DecisionGroup("layers", [f"layer{i}" for i in range(self.config.layers)], OPS)]

    def build_supernet(self, options: nascore.SupernetOptions) -> nascore.Supernet:
        if set(options.proxy) - {"channels"} or options.levels != 1:
            raise nascore.ConfigError("space chain can only be resized by its channels")
        channels = int(options.proxy.get("channels", self.config.channels))
        return ChainSupernet(self.decision_groups()[0], channels, self.data.in_channels,
                             self.data.num_classes, options.partial_channels)

    def derive(self, scores: Mapping[str, torch.Tensor]) -> Architecture:
        return self.decode([int(i) for i in scores["layers"].argmax(dim=1)])

    def build_network(self, arch: Architecture, channels: int | None = None,
                      layers: int | None = None, num_classes: int | None = None,
                      in_channels: int | None = None) -> nn.Module:
        channels = channels or self.config.channels
        ops = [make_op(op, channels) for op in self.validate(arch).spec["ops"]]
        return ChainNetwork(ops, channels, in_channels or self.data.in_channels,
                            num_classes or self.data.num_classes)

    def cost_table(self, metric: str, proxy: Mapping[str, Any] | None = None) -> CostTable:
        channels = int((proxy or {}).get("channels", self.config.channels))
        size = self.data.image_size

        def cost(module: nn.Module, example: torch.Tensor) -> float:
            return float(count_params(module) if metric == "params"
                         else count_macs(module, example))

        example = torch.zeros(1, channels, size, size)
        row = torch.tensor([cost(make_op(op, channels), example) for op in OPS],
                           dtype=torch.float64)
        skips = Architecture(self.name, {"ops": ["skip"] * self.config.layers})
        constant = cost(self.build_network(skips, channels),
                        torch.zeros(1, self.data.in_channels, size, size))
        return CostTable(metric, constant, {"layers": row.repeat(self.config.layers, 1)})


# -- a discrete strategy with state of its own -----------------------------------------------
class LocalSearch(DiscreteStrategy):
    """Try the neighbours of the best architecture (one decision changed) in a random order; a
    better one becomes the new centre. ``pending`` holds the neighbours not tried yet."""

    name = "localsearch"
    config_cls = DiscreteConfig
    requires = frozenset({"sample", "encode"})

    def __init__(self, config: DiscreteConfig, context: nascore.SearchContext) -> None:
        super().__init__(config, context)
        self.pending: list[Architecture] | None = None

    def _neighbours(self) -> list[Architecture]:
        centre = self.space.encode(self.derive())
        found = []
        for i, decision in enumerate(self.space.decisions()):
            for choice in range(len(decision.candidates)):
                if choice != centre[i]:
                    found.append(self.space.decode([*centre[:i], choice, *centre[i + 1:]]))
        return [found[int(j)] for j in self.rng.permutation(len(found))]

    def propose(self) -> Architecture:
        if not self.history:
            return self.first_feasible(lambda: self.space.sample(self.rng))
        if not self.pending:
            self.pending = self._neighbours()
        return self.first_feasible(lambda: self.pending.pop(0) if self.pending
                                   else self.space.sample(self.rng))

    def observe(self, index: int) -> None:
        if index == self.best:
            self.pending = None

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["neighbours"] = (None if self.pending is None
                               else [arch.to_dict() for arch in self.pending])
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        neighbours = state["neighbours"]
        self.pending = (None if neighbours is None
                        else [Architecture.from_dict(arch) for arch in neighbours])


# -- a one-shot part -------------------------------------------------------------------------
@attrs.frozen
class SharpenConfig:
    sharpen_weight: float = nascore.field(0.1, "weight of the mean entropy of the architecture "
                                          "probabilities in the arch loss")


class Sharpen(Part):
    """Adds the mean entropy of every group's candidate probabilities to the architecture loss."""

    name = "sharpen"
    config_cls = SharpenConfig

    def loss_term(self, split: str, selections: Mapping[str, Any]) -> torch.Tensor | None:
        if split != "arch":
            return None
        terms = [-(p * p.clamp(min=1e-12).log()).sum(dim=1).mean()
                 for p in self.search.probabilities().values()]
        return self.config.sharpen_weight * torch.stack(terms).mean()


# -- a constraint with its own units ---------------------------------------------------------
_LATENCY = re.compile(r"^\s*([0-9.]+)\s*(us|ms|s)\s*$")


class Latency(nascore.Constraint):
    """Median milliseconds of one forward pass at batch size 1 on the CPU (measured only)."""

    name = "latency"

    @classmethod
    def from_spec(cls, bounds: str) -> Latency:
        low_text, sep, high_text = bounds.partition("..")
        if not sep:
            raise nascore.ConfigError(f"latency bounds look like LOW..HIGH, got {bounds!r}")
        return cls(*(cls._ms(text) if text.strip() else None for text in (low_text, high_text)))

    @staticmethod
    def _ms(text: str) -> float:
        match = _LATENCY.match(text)
        if match is None:
            raise nascore.ConfigError(f"cannot read latency {text!r}; examples: 800us, 5ms, 0.1s")
        return float(match.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[match.group(2)]

    def measure(self, network: nn.Module, example: torch.Tensor) -> float:
        network.eval()
        times = []
        with torch.no_grad():
            for _ in range(3):
                began = time.perf_counter()
                network(example)
                times.append((time.perf_counter() - began) * 1e3)
        return statistics.median(times)


# -- registration ----------------------------------------------------------------------------
@hookimpl
def nascore_spaces() -> list[type]:
    return [ChainSpace]


@hookimpl
def nascore_strategies() -> list[type]:
    return [LocalSearch]


@hookimpl
def nascore_parts() -> list[type]:
    return [Sharpen]


@hookimpl
def nascore_constraints() -> list[type]:
    return [Latency]
