"""The architecture parameters of a one-shot search: tensors, stages, optimisers and masks.

Every :class:`~nascore.space.DecisionGroup` gets one ``[edges, candidates]`` tensor ``alpha``
(``1e-3 * randn`` from the search's generator, as DARTS initialises them) and a boolean mask of
the candidates still in play. Further tensors (PC-DARTS edge betas, a part's own parameters) are
added with :meth:`ArchParameters.add`. Each tensor belongs to a *stage*; every stage has its own
Adam optimiser, stepped in stage order (A-DARTS: alpha at stage 0, beta at stage 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs
import torch
from torch import nn

from nascore.oneshot.sampling import masked_softmax
from nascore.space import DecisionGroup


@attrs.frozen
class AdamSettings:
    """Learning rate, betas and weight decay of the architecture optimisers."""

    lr: float
    betas: tuple[float, float]
    weight_decay: float


class ArchParameters:
    """Named architecture tensors with their stages, per-stage Adam optimisers and group masks.

    Public attributes: ``groups``; ``alphas`` (group name -> parameter); ``masks`` (group name ->
    bool tensor, ``True`` = kept); ``tensors`` (every parameter by name, alphas included);
    ``stages`` (name -> stage); ``optimizers`` (stage -> Adam).
    """

    def __init__(
        self,
        groups: Sequence[DecisionGroup],
        settings: AdamSettings,
        generator: torch.Generator,
        device: torch.device,
    ) -> None:
        self.groups = list(groups)
        self.settings = settings
        self.generator = generator
        self.device = device
        self.tensors: dict[str, nn.Parameter] = {}
        self.stages: dict[str, int] = {}
        self.optimizers: dict[int, torch.optim.Adam] = {}
        self.alphas: dict[str, nn.Parameter] = {}
        self.masks: dict[str, torch.Tensor] = {}
        for group in self.groups:
            self.alphas[group.name] = self.add(group.name, group.shape, group.stage)
            self.masks[group.name] = torch.ones(group.shape, dtype=torch.bool, device=device)

    # -- construction ------------------------------------------------------------------------
    def new(self, shape: tuple[int, ...]) -> nn.Parameter:
        """A fresh tensor ``1e-3 * randn(shape)`` drawn from the search's generator."""
        init = 1e-3 * torch.randn(shape, generator=self.generator)
        return nn.Parameter(init.to(self.device))

    def add(self, name: str, shape: tuple[int, ...], stage: int = 0) -> nn.Parameter:
        """Create the tensor ``name`` of ``shape``, trained by the Adam optimiser of ``stage``."""
        if name in self.tensors:
            raise ValueError(f"architecture parameter {name!r} is already registered")
        param = self.new(shape)
        self.tensors[name] = param
        self.stages[name] = stage
        optimizer = self.optimizers.get(stage)
        if optimizer is None:
            s = self.settings
            self.optimizers[stage] = torch.optim.Adam(
                [param], lr=s.lr, betas=tuple(s.betas), weight_decay=s.weight_decay
            )
        else:
            optimizer.add_param_group({"params": [param]})
        return param

    # -- reading -----------------------------------------------------------------------------
    def group(self, name: str) -> DecisionGroup:
        """The decision group called ``name``."""
        for group in self.groups:
            if group.name == name:
                return group
        raise KeyError(
            f"no decision group {name!r}; groups: {', '.join(g.name for g in self.groups)}"
        )

    def probabilities(self) -> dict[str, torch.Tensor]:
        """Differentiable softmax of each group's alpha over its unpruned candidates."""
        return {
            g.name: masked_softmax(self.alphas[g.name], self.masks[g.name]) for g in self.groups
        }

    def of_stages(self, stages: Iterable[int]) -> list[nn.Parameter]:
        """The tensors trained at ``stages``, in registration order."""
        wanted = set(stages)
        return [p for name, p in self.tensors.items() if self.stages[name] in wanted]

    # -- masks -------------------------------------------------------------------------------
    def prune(self, group: str, edge: int | str, candidate: int | str) -> None:
        """Remove one candidate from one edge (by index or name); it never runs again."""
        g = self.group(group)
        e = g.edges.index(edge) if isinstance(edge, str) else edge
        c = g.candidates.index(candidate) if isinstance(candidate, str) else candidate
        mask = self.masks[group].clone()
        mask[e, c] = False
        self.set_mask(group, mask)

    def set_mask(self, group: str, mask: torch.Tensor) -> None:
        """Replace a group's candidate mask (``True`` = kept); every edge must keep one."""
        shape = self.group(group).shape
        mask = torch.as_tensor(mask, dtype=torch.bool, device=self.device)
        if tuple(mask.shape) != shape:
            raise ValueError(f"mask of {group} must have shape {shape}, got {tuple(mask.shape)}")
        if not bool(mask.any(dim=1).all()):
            raise ValueError(f"mask of {group} would leave an edge without any candidate")
        self.masks[group] = mask

    # -- optimisation ------------------------------------------------------------------------
    def step(self, stages: Sequence[int], grads: Sequence[torch.Tensor]) -> None:
        """Apply ``grads`` (one per tensor of :meth:`of_stages`) with the stages' optimisers."""
        params = self.of_stages(stages)
        for p, g in zip(params, grads, strict=True):
            p.grad = g.detach()
        for stage in stages:
            self.optimizers[stage].step()
        for p in params:
            p.grad = None

    def apply_settings(self, settings: AdamSettings) -> None:
        """Put new Adam settings into every optimiser (after a resume with changed values)."""
        self.settings = settings
        for optimizer in self.optimizers.values():
            for group in optimizer.param_groups:
                group.update(lr=settings.lr, betas=tuple(settings.betas),
                             weight_decay=settings.weight_decay)

    # -- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "tensors": {n: p.detach().clone() for n, p in self.tensors.items()},
            "masks": {n: m.clone() for n, m in self.masks.items()},
            "optimizers": {str(s): o.state_dict() for s, o in self.optimizers.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        with torch.no_grad():
            for name, value in state["tensors"].items():
                self.tensors[name].copy_(value)
        for name, mask in state["masks"].items():
            self.masks[name] = mask.to(device=self.device, dtype=torch.bool).clone()
        for stage, optimizer_state in state["optimizers"].items():
            self.optimizers[int(stage)].load_state_dict(optimizer_state)
