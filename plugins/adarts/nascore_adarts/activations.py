"""The candidate activation functions of A-DARTS and their beta-weighted mixture.

The nine candidates are ReLU, ReLU6, LeakyReLU, PReLU, RReLU, ELU, CELU, SELU and Swish
(``x * sigmoid(b * x)`` with a learnable ``b``). :class:`MixedActivation` computes
``sigma(x) = sum_k w_k act_k(x)`` over the candidates a :class:`nascore.Selection` leaves active
(all of them, the unmasked ones, or only the sampled one).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from nascore import ConfigError, Selection


class Swish(nn.Module):
    """``x * sigmoid(b * x)`` with a learnable scalar ``b`` (Ramachandran et al., 2018)."""

    def __init__(self, b: float = 1.0) -> None:
        super().__init__()
        self.b = nn.Parameter(torch.tensor(float(b)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.b * x)


class RReLU(nn.RReLU):
    """:class:`torch.nn.RReLU`, whose evaluation-mode forward (a leaky ReLU with the mean of the
    slope range) is written as :func:`torch.nn.functional.leaky_relu`, so exported networks
    (ONNX) hold an operator every runtime knows; training draws random slopes as before."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return super().forward(x)
        return nn.functional.leaky_relu(x, (self.lower + self.upper) / 2)


class SharedActivation(nn.Module):
    """Another site of an activation module that is registered once elsewhere in the op (so
    its parameters appear once in state dicts and exports)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self._shared = (module,)  # a tuple: not registered as a submodule

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._shared[0](x)


def single_instance(name: str) -> Callable[[], nn.Module]:
    """An activation factory for the activation sites of one op: the first call returns a new
    module of ``name``, later calls :class:`SharedActivation` sites of it (one set of parameters
    per op, as the edge shares one activation in the supernet)."""
    module = make_activation(name)
    sites = iter(range(1 << 30))

    def factory() -> nn.Module:
        return module if next(sites) == 0 else SharedActivation(module)

    return factory


def leading_only(name: str) -> Callable[[], nn.Module]:
    """An activation factory for the activation sites of one op under the paper's reading (one
    activation on the edge input, Eq. 2-3): the first call (the op's leading site, which
    :data:`~nascore.spaces.darts.ops.OPS` builds first) returns a new module of ``name``, later
    calls (a sep conv's middle activation) a plain ReLU."""
    sites = iter(range(1 << 30))

    def factory() -> nn.Module:
        return make_activation(name) if next(sites) == 0 else nn.ReLU()

    return factory


#: Name -> factory of every known activation, in the paper's order. None of them works in place:
#: the input of an edge's activation is shared by several ops.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "leaky_relu": nn.LeakyReLU,
    "prelu": nn.PReLU,
    "rrelu": RReLU,
    "elu": nn.ELU,
    "celu": nn.CELU,
    "selu": nn.SELU,
    "swish": Swish,
}

#: The default candidate set O2 (all nine).
DEFAULT_ACTIVATIONS: tuple[str, ...] = tuple(ACTIVATIONS)

#: The activation of plain DARTS; what a DARTS genotype without activations means.
DEFAULT_ACTIVATION = "relu"


def check_activation(name: str, where: str = "") -> str:
    """Return ``name`` if it is a known activation, else raise a one-line :class:`ConfigError`
    (prefixed by ``where``, e.g. the config key)."""
    if name not in ACTIVATIONS:
        prefix = f"{where}: " if where else ""
        raise ConfigError(
            f"{prefix}unknown activation {name!r}; choose from: {', '.join(ACTIVATIONS)}"
        )
    return name


def make_activation(name: str) -> nn.Module:
    """A fresh module of the activation called ``name``."""
    return ACTIVATIONS[check_activation(name)]()


class MixedActivation(nn.Module):
    """The beta-weighted mixture of candidate activations of one edge.

    The owner sets :attr:`selection` (one row of the activation group's
    :class:`nascore.EdgeWeights`) before each forward pass; with ``selection.index`` set only the
    sampled activation runs, scaled by its (straight-through) weight, and masked candidates never
    run.
    """

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__()
        self.names = tuple(check_activation(n) for n in names)
        self.candidates = nn.ModuleList(make_activation(n) for n in self.names)
        self.selection: Selection | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.selection is None:
            raise RuntimeError("MixedActivation.forward called before a selection was set")
        weights = self.selection.weights
        active = self.selection.active(len(self.candidates))
        out = weights[active[0]] * self.candidates[active[0]](x)
        for k in active[1:]:
            out = out + weights[k] * self.candidates[k](x)
        return out
