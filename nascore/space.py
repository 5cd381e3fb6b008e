"""The SearchSpace interface: decisions, supernets and the sampling policies strategies set.

A space exposes its choices twice:

* **decision groups** for one-shot search: a group is a matrix of categorical choices, one row per
  edge, one column per candidate (e.g. the op on each of the 14 edges of the normal cell). A
  strategy owns one architecture-parameter tensor per group and, on every forward pass, hands the
  supernet an :class:`EdgeWeights` per group that says *how* to mix: dense weights, one sampled
  candidate per edge (only that one runs), a mask of pruned candidates (never run) and optional
  per-edge scales.
* **decisions** for discrete search: a flat list of categorical choices (:class:`Decision`) with
  ``encode``/``decode`` between architectures and choice indices; ``sample`` and ``mutate`` have
  generic defaults built on them.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import numpy as np
import torch
from torch import nn

from nascore.architecture import Architecture
from nascore.costs import CostTable
from nascore.errors import MalformedArchitecture
from nascore.extra_loss import pop_extra_loss

#: Capabilities a space may declare; strategies list the ones they need.
CAPABILITIES = ("supernet", "sample", "mutate", "encode", "network", "cost")


@attrs.frozen
class DataInfo:
    """What a space needs to know about the data: input channels, image size, classes."""

    in_channels: int
    image_size: int
    num_classes: int


@attrs.frozen
class DecisionGroup:
    """A matrix of one-shot choices: one row per edge, one column per candidate.

    ``role`` says what is chosen (``"op"`` or ``"activation"``); ``stage`` orders the optimisers of
    multi-level schemes (A-DARTS: alpha at stage 0, beta at stage 1); ``zero`` names the candidate
    that outputs zeros and is therefore never computed.
    """

    name: str
    edges: tuple[str, ...] = attrs.field(converter=tuple)
    candidates: tuple[str, ...] = attrs.field(converter=tuple)
    role: str = "op"
    stage: int = 0
    zero: str | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """``(number of edges, number of candidates)``."""
        return (len(self.edges), len(self.candidates))

    @property
    def zero_index(self) -> int | None:
        """Column of the zero candidate, if the group has one."""
        return self.candidates.index(self.zero) if self.zero in self.candidates else None


@attrs.define
class EdgeWeights:
    """How a supernet mixes the candidates of one decision group on one forward pass.

    * ``weights``: ``[edges, candidates]`` mixture weights (gradients flow into them).
    * ``index``: ``[edges]`` sampled candidate per edge, or ``None`` for a dense mixture. When set,
      only the sampled candidate runs and its output is scaled by ``weights[e, index[e]]``
      (straight-through when the weights are a hard one-hot with soft gradients).
    * ``mask``: ``[edges, candidates]`` booleans; ``False`` candidates are pruned and never run.
    * ``edge_scale``: ``[edges]`` per-edge multipliers (PC-DARTS edge normalisation), or ``None``.
    """

    weights: torch.Tensor
    index: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    edge_scale: torch.Tensor | None = None

    def row(self, edge: int) -> Selection:
        """The selection for one edge."""
        return Selection(
            weights=self.weights[edge],
            index=None if self.index is None else int(self.index[edge]),
            mask=None if self.mask is None else self.mask[edge],
            scale=None if self.edge_scale is None else self.edge_scale[edge],
        )


@attrs.define
class Selection:
    """One edge's share of an :class:`EdgeWeights`."""

    weights: torch.Tensor
    index: int | None = None
    mask: torch.Tensor | None = None
    scale: torch.Tensor | None = None

    def active(self, n: int) -> list[int]:
        """Candidate columns to compute: the sampled one, or every unmasked one."""
        if self.index is not None:
            return [self.index]
        if self.mask is None:
            return list(range(n))
        return [i for i in range(n) if bool(self.mask[i])]


@attrs.frozen
class SupernetOptions:
    """Construction options a strategy asks of a supernet.

    ``partial_channels`` K: each mixed edge runs its candidates on 1/K of the channels (PC-DARTS).
    ``proxy``: overrides of the space config for the proxy network (e.g. a budget's
    ``layers``/``channels``). ``levels``: groups of normal cells by depth, each with its own
    decision groups (RC-DARTS multi-level search; spaces without depth levels accept only 1).
    """

    partial_channels: int = 1
    proxy: Mapping[str, Any] = attrs.field(factory=dict)
    levels: int = 1


class Supernet(nn.Module):
    """A weight-sharing network over all candidates of a space's decision groups.

    ``forward(x, weights)`` takes a mapping from group name to :class:`EdgeWeights` and returns
    class logits. Subclasses provide the ``groups`` they understand.
    """

    groups: list[DecisionGroup]

    def forward(self, x: torch.Tensor, weights: Mapping[str, EdgeWeights]) -> torch.Tensor:
        raise NotImplementedError

    def extra_loss(self) -> torch.Tensor | None:
        """The term added to the loss of the step whose forward pass just ran (e.g. an amplitude
        loss of binarized convolutions), or ``None``: by default what the supernet's modules
        recorded with :func:`nascore.extra_loss.record_extra_loss` during that pass."""
        return pop_extra_loss(self)


@attrs.frozen
class Decision:
    """A categorical choice of a discrete architecture (for sample/mutate/encode)."""

    name: str
    candidates: tuple[Any, ...] = attrs.field(converter=tuple)


class SearchSpace(ABC):
    """What can be chosen; see the module docstring.

    Subclasses set ``name``, ``config_cls`` (an attrs class) and ``capabilities``, and implement the
    methods their capabilities promise.
    """

    name: ClassVar[str]
    config_cls: ClassVar[type]
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: Any, data: DataInfo) -> None:
        self.config = config
        self.data = data

    # -- one-shot ---------------------------------------------------------------------------
    def decision_groups(self) -> list[DecisionGroup]:
        """The groups of one-shot choices (capability ``supernet``)."""
        raise NotImplementedError(f"space {self.name} has no supernet")

    def build_supernet(self, options: SupernetOptions) -> Supernet:
        """A supernet over :meth:`decision_groups` (capability ``supernet``)."""
        raise NotImplementedError(f"space {self.name} has no supernet")

    def derive(self, scores: Mapping[str, torch.Tensor]) -> Architecture:
        """A discrete architecture from per-group ``[edges, candidates]`` scores.

        Scores of pruned candidates are ``-inf``.
        """
        raise NotImplementedError(f"space {self.name} cannot derive architectures")

    def kept_mask(self, scores: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per group, a bool ``[edges, candidates]`` mask of what :meth:`derive` keeps for
        ``scores``: one candidate on every kept edge, none elsewhere. Tensor-only and cheap: it
        is called every step by constraint handlers.

        Default: the argmax of every row (spaces whose derivation keeps every edge).
        """
        out = {}
        for name, table in scores.items():
            best = table.argmax(dim=1)
            out[name] = torch.nn.functional.one_hot(best, table.shape[1]).bool()
        return out

    # -- costs (capability ``cost``) --------------------------------------------------------
    #: Metrics :meth:`cost_table` measures (e.g. ``("params", "flops")``).
    cost_metrics: ClassVar[tuple[str, ...]] = ()

    def cost_table(self, metric: str, proxy: Mapping[str, Any] | None = None) -> CostTable:
        """Per-candidate costs of ``metric`` on the network the search runs at: the space
        config with ``proxy`` overrides (a budget's layers/channels), measured on the real
        modules. ``constant`` plus the kept candidates' costs is the network's exact cost."""
        raise NotImplementedError(f"space {self.name} has no cost tables")

    # -- discrete ---------------------------------------------------------------------------
    def decisions(self) -> list[Decision]:
        """The flat list of discrete choices (capability ``encode``)."""
        raise NotImplementedError(f"space {self.name} has no discrete decisions")

    def encode(self, arch: Architecture) -> list[int]:
        """Candidate index per decision."""
        raise NotImplementedError(f"space {self.name} cannot encode architectures")

    def decode(self, choices: list[int]) -> Architecture:
        """Inverse of :meth:`encode`; raises :class:`MalformedArchitecture` if invalid."""
        raise NotImplementedError(f"space {self.name} cannot decode architectures")

    def sample(self, rng: np.random.Generator) -> Architecture:
        """A uniformly random valid architecture (resamples invalid choice vectors)."""
        decisions = self.decisions()
        for _ in range(1000):
            choices = [int(rng.integers(len(d.candidates))) for d in decisions]
            try:
                return self.decode(choices)
            except MalformedArchitecture:
                continue
        raise MalformedArchitecture(f"space {self.name}: could not sample a valid architecture")

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """Change exactly one decision to a different candidate (keeping the result valid)."""
        decisions = self.decisions()
        base = self.encode(arch)
        for _ in range(1000):
            i = int(rng.integers(len(decisions)))
            n = len(decisions[i].candidates)
            if n < 2:
                continue
            choices = list(base)
            choices[i] = (base[i] + 1 + int(rng.integers(n - 1))) % n
            try:
                return self.decode(choices)
            except MalformedArchitecture:
                continue
        raise MalformedArchitecture(f"space {self.name}: could not mutate {arch.key()}")

    # -- architectures ----------------------------------------------------------------------
    def validate(self, arch: Architecture) -> Architecture:
        """Check that ``arch`` belongs to this space; return it (possibly normalised)."""
        if arch.space != self.name:
            raise MalformedArchitecture(
                f"architecture is for space '{arch.space}', not '{self.name}'"
            )
        return arch

    def format(self, arch: Architecture) -> str:
        """A human-readable (and, where the space has one, parseable) string."""
        return arch.key()

    def parse(self, text: str) -> Architecture:
        """Read the string form written by :meth:`format`."""
        raise NotImplementedError(f"space {self.name} cannot parse architecture strings")

    def build_network(self, arch: Architecture, **options: Any) -> nn.Module:
        """The discrete evaluation network of ``arch`` (capability ``network``)."""
        raise NotImplementedError(f"space {self.name} cannot build networks")

    def network_metrics(self, network: nn.Module) -> dict[str, float]:
        """Space-specific measures of a network it built, reported next to its parameters and
        multiply-adds by ``nas show``, ``nas train`` and exports (e.g. a binarized network's model
        size in ``bits``). Default: none."""
        return {}

    def plot(self, arch: Architecture, path_stem: str) -> list[str]:
        """Write diagrams of ``arch`` next to ``path_stem``; return the written paths."""
        return []

    def state_dict(self) -> dict[str, Any]:
        """Spaces are stateless by default."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""
