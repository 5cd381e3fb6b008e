"""Exact resource measurement of real modules: parameters and FLOPs (multiply-adds).

FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode`, which reports 2 FLOPs per
multiply-add; :func:`count_macs` returns multiply-adds, the unit NAS papers quote as "FLOPs".
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(module: nn.Module, exclude: tuple[str, ...] = ()) -> int:
    """Number of parameters, skipping those whose name starts with any prefix in ``exclude``."""
    return sum(
        p.numel()
        for name, p in module.named_parameters()
        if not any(name.startswith(prefix) for prefix in exclude)
    )


@torch.no_grad()
def count_macs(module: nn.Module, *inputs: torch.Tensor) -> int:
    """Multiply-adds of one forward pass of ``module`` on ``inputs`` (eval mode, restored after)."""
    was_training = module.training
    module.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            module(*inputs)
    finally:
        module.train(was_training)
    return counter.get_total_flops() // 2


@attrs.frozen
class CostTable:
    """Per-candidate costs of a space for one metric.

    ``per_group[g]`` is an ``[edges, candidates]`` float64 tensor of the cost each candidate adds
    when chosen on that edge; ``constant`` is the cost of everything that is not chosen (stem,
    cell preprocessing, classifier). ``gates[g] = (h, columns)`` makes group ``g``'s cost on an
    edge count only as much as group ``h`` chooses one of ``columns`` there (A-DARTS: an edge's
    activation costs only with a parameterized op), and ``g``'s edges are kept when ``h``'s are.

    With ``kept`` (group -> bool ``[edges, candidates]``, what the derivation keeps, see
    :meth:`~nascore.space.SearchSpace.kept_mask`) only kept edges count: at the one-hot
    probabilities of a derived architecture, :meth:`expected` is its exact cost.
    """

    metric: str
    constant: float
    per_group: Mapping[str, torch.Tensor]
    gates: Mapping[str, tuple[str, torch.Tensor]] = attrs.field(factory=dict)

    def edge_costs(self, probs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per group, the ``[edges]`` expected cost of each edge were it kept (differentiable,
        float64); groups missing from ``probs`` are left out."""
        out = {}
        for name, table in self.per_group.items():
            if name not in probs:
                continue
            p = probs[name]
            row = (p.double() * table.to(p.device, torch.float64)).sum(dim=1)
            gate = self.gates.get(name)
            if gate is not None:
                gate_group, columns = gate
                row = row * probs[gate_group].double()[:, columns.to(p.device)].sum(dim=1)
            out[name] = row
        return out

    def kept_edges(self, kept: Mapping[str, torch.Tensor], name: str) -> torch.Tensor:
        """The ``[edges]`` bool mask of the kept edges of group ``name`` (its gate's for gated
        groups)."""
        source = self.gates[name][0] if name in self.gates else name
        return kept[source].any(dim=1)

    def expected(
        self,
        probs: Mapping[str, torch.Tensor],
        kept: Mapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Differentiable expected cost: ``constant`` plus, over the kept edges (all edges
        without ``kept``), the candidate costs weighted by ``probs`` (RC-DARTS Eq. 6).

        Computed in float64: FLOP counts exceed float32's exact integer range.
        """
        total = torch.tensor(float(self.constant), dtype=torch.float64)
        for name, row in self.edge_costs(probs).items():
            if kept is not None:
                row = row * self.kept_edges(kept, name).to(row.device, torch.float64)
            total = total + row.sum().cpu()
        return total

    def exact(self, kept: Mapping[str, torch.Tensor]) -> float:
        """The cost of the architecture whose chosen candidates are ``kept`` (bool masks)."""
        one_hot = {name: mask.to(torch.float64) for name, mask in kept.items()}
        return float(self.expected(one_hot, kept))

    def effective(self, sign: float = 1.0) -> dict[str, torch.Tensor]:
        """Per group, ``sign`` times each candidate's cost including the cheapest (``sign`` >
        0: dearest) gated cost it unlocks: scores whose derivation reaches the lowest (highest)
        cost of the space's derivation rule (see :func:`reachable_range`)."""
        out = {name: sign * t.clone() for name, t in self.per_group.items()}
        for name, (gate_group, columns) in self.gates.items():
            table = self.per_group[name]
            extreme = table.max(dim=1).values if sign > 0 else table.min(dim=1).values
            out[gate_group][:, columns] += sign * extreme[:, None]
        return out
