"""Choices marked inside an ordinary ``nn.Module``: the search space is the model.

* :class:`LayerChoice` picks one of several candidate modules;
* :class:`InputChoice` picks ``n_chosen`` of ``n_candidates`` tensors and sums them;
* :class:`ValueChoice` picks a value (kernel size, width, ...) that the value layers
  :class:`ValueConv2d`, :class:`ValueBatchNorm2d`, :class:`ValueLinear` and :class:`Repeat`
  (depth) take as arguments, or that ``forward`` reads as ``choice.value``.

Choices with one ``label`` are one decision (their candidates must agree); an unlabelled choice
is labelled by its path in the model. Value layers allocate the largest candidate and share its
weights: a width ``w`` uses the first ``w`` channels, a kernel size ``k`` the centred ``k x k``
window of the largest kernel. Without an architecture every choice takes its first candidate.

:func:`nascore.space_from` turns a factory of such a model into a search space. There, a choice
is driven by a :class:`~nascore.space.Selection` (one-shot search: a layer choice mixes its
active candidates by the policy's weights, a value layer mixes the outputs of its active values,
narrower widths zero-padded to the widest) or fixed (:func:`freeze`: the plain module of one
architecture, value layers become ``nn.Conv2d``/``nn.BatchNorm2d``/``nn.Linear`` holding their
slice of the shared weights, a :class:`Repeat` the ``nn.Sequential`` of its chosen blocks).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nascore.errors import IncompatibleError
from nascore.space import Selection

__all__ = [
    "InputChoice",
    "LayerChoice",
    "Repeat",
    "ValueBatchNorm2d",
    "ValueChoice",
    "ValueConv2d",
    "ValueLinear",
    "freeze",
]


class _Choice(nn.Module):
    """What every choice has: a label, candidates, and how it is driven (a one-shot selection,
    a fixed candidate index, or neither: the first candidate)."""

    kind = "choice"

    def __init__(self, label: str | None) -> None:
        super().__init__()
        if label is not None and (not isinstance(label, str) or not label):
            raise ValueError(f"a choice label must be a non-empty string, got {label!r}")
        self.label = label
        self._nascore_selection: Selection | None = None
        self._nascore_fixed: int | None = None

    def candidate_names(self) -> tuple[Any, ...]:
        """The candidates as the architecture spells them."""
        raise NotImplementedError

    def terms(self) -> list[tuple[int, torch.Tensor | None]]:
        """``(candidate index, weight or None)`` of each candidate the current pass computes."""
        sel = self._nascore_selection
        if sel is None:
            return [(self._nascore_fixed or 0, None)]
        out = []
        for k in sel.active(len(self.candidate_names())):
            weight = sel.weights[k]
            out.append((k, weight if sel.scale is None else weight * sel.scale))
        return out

    def index(self) -> int:
        """The one candidate a pass uses where it cannot mix: the sampled or fixed one, else
        the highest-weighted active one."""
        sel = self._nascore_selection
        if sel is None:
            return self._nascore_fixed or 0
        if sel.index is not None:
            return sel.index
        active = sel.active(len(self.candidate_names()))
        return max(active, key=lambda k: float(sel.weights[k]))


class LayerChoice(_Choice):
    """One of ``candidates`` (a list of modules, or a name -> module dict)."""

    kind = "layer"

    def __init__(
        self, candidates: Sequence[nn.Module] | Mapping[str, nn.Module], label: str | None = None
    ) -> None:
        super().__init__(label)
        items = (list(candidates.items()) if isinstance(candidates, Mapping)
                 else [(str(i), m) for i, m in enumerate(candidates)])
        if len(items) < 1:
            raise ValueError("a LayerChoice needs at least one candidate")
        self.candidates = nn.ModuleDict(items)

    def candidate_names(self) -> tuple[str, ...]:
        return tuple(self.candidates.keys())

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        modules = list(self.candidates.values())
        out = None
        for k, weight in self.terms():
            y = modules[k](*args, **kwargs)
            y = y if weight is None else weight * y
            if out is not None and out.shape != y.shape:
                raise IncompatibleError(
                    f"LayerChoice {self.label}: candidates give outputs of shapes "
                    f"{tuple(out.shape)} and {tuple(y.shape)}, which a one-shot mixture cannot "
                    "add; use a discrete strategy")
            out = y if out is None else out + y
        return out


class InputChoice(_Choice):
    """Sums ``n_chosen`` of the ``n_candidates`` tensors it is called with (a list)."""

    kind = "input"

    def __init__(self, n_candidates: int, n_chosen: int = 1, label: str | None = None) -> None:
        super().__init__(label)
        if not 1 <= n_chosen <= n_candidates:
            raise ValueError(f"InputChoice needs 1 <= n_chosen <= n_candidates, got "
                             f"{n_chosen} of {n_candidates}")
        self.n_candidates = n_candidates
        self.n_chosen = n_chosen

    def candidate_names(self) -> tuple[int, ...]:
        return tuple(range(self.n_candidates))

    def combinations(self) -> list[tuple[int, ...]]:
        """The discrete candidates: every set of ``n_chosen`` inputs, in order."""
        return list(itertools.combinations(range(self.n_candidates), self.n_chosen))

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        if len(inputs) != self.n_candidates:
            raise ValueError(f"InputChoice {self.label} expects {self.n_candidates} inputs, "
                             f"got {len(inputs)}")
        if self._nascore_selection is None:
            chosen = self.combinations()[self._nascore_fixed or 0]
            terms: list[tuple[int, torch.Tensor | None]] = [(k, None) for k in chosen]
        else:
            terms = self.terms()
        out = None
        for k, weight in terms:
            y = inputs[k] if weight is None else weight * inputs[k]
            out = y if out is None else out + y
        return out


class ValueChoice(_Choice):
    """A value among ``values`` for a layer's hyper-parameter (kernel size, width, ...).

    Pass it to a value layer, or read ``choice.value`` in ``forward`` (a one-shot pass reads
    the sampled, else the highest-weighted, value: such reads do not mix).
    """

    kind = "value"

    def __init__(self, values: Sequence[Any], label: str | None = None) -> None:
        super().__init__(label)
        values = tuple(values)
        if not values or len(set(values)) != len(values):
            raise ValueError(f"a ValueChoice needs distinct values, got {values!r}")
        self.values = values

    def candidate_names(self) -> tuple[Any, ...]:
        return self.values

    @property
    def value(self) -> Any:
        """The value the current pass uses."""
        return self.values[self.index()]

    def forward(self) -> Any:
        return self.value

    def extra_repr(self) -> str:
        return f"values={self.values}, label={self.label!r}"


IntOrChoice = int | ValueChoice


def _largest(v: IntOrChoice) -> int:
    return max(v.values) if isinstance(v, ValueChoice) else int(v)


def _chosen(v: IntOrChoice) -> int:
    return v.value if isinstance(v, ValueChoice) else int(v)


def _terms(v: IntOrChoice) -> list[tuple[int, torch.Tensor | None]]:
    """``(value, weight)`` pairs of a value argument on the current pass."""
    if isinstance(v, ValueChoice):
        return [(v.values[k], w) for k, w in v.terms()]
    return [(int(v), None)]


def _mix(pieces: list[tuple[torch.Tensor, torch.Tensor | None]]) -> torch.Tensor:
    """The weighted sum of outputs, narrower ones zero-padded (dim 1) to the widest."""
    if len(pieces) == 1 and pieces[0][1] is None:
        return pieces[0][0]
    width = max(y.shape[1] for y, _ in pieces)
    out = None
    for y, weight in pieces:
        if y.shape[1] < width:
            pad = [0, 0] * (y.dim() - 2) + [0, width - y.shape[1]]
            y = F.pad(y, pad)
        y = y if weight is None else weight * y
        out = y if out is None else out + y
    return out


def _weight_product(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
    if a is None:
        return b
    return a if b is None else a * b


def _centre(weight: torch.Tensor, k: int) -> torch.Tensor:
    """The centred ``k x k`` window of a conv weight."""
    start = (weight.shape[-1] - k) // 2
    return weight[..., start:start + k, start:start + k]


class ValueConv2d(nn.Module):
    """A ``nn.Conv2d`` whose ``in_channels``, ``out_channels`` and odd ``kernel_size`` may be
    :class:`ValueChoice` s; "same" padding (``kernel_size // 2 * dilation``)."""

    def __init__(self, in_channels: IntOrChoice, out_channels: IntOrChoice,
                 kernel_size: IntOrChoice, stride: int = 1, dilation: int = 1,
                 bias: bool = False) -> None:
        super().__init__()
        kernels = kernel_size.values if isinstance(kernel_size, ValueChoice) else (kernel_size,)
        if any(int(k) % 2 == 0 for k in kernels):
            raise ValueError(f"ValueConv2d kernel sizes must be odd, got {kernels}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.dilation = kernel_size, stride, dilation
        base = nn.Conv2d(_largest(in_channels), _largest(out_channels), _largest(kernel_size),
                         stride, bias=bias)
        self.weight = base.weight
        self.bias = base.bias

    def _conv(self, x: torch.Tensor, out: int, k: int) -> torch.Tensor:
        weight = _centre(self.weight[:out, : x.shape[1]], k)
        bias = None if self.bias is None else self.bias[:out]
        return F.conv2d(x, weight, bias, self.stride, k // 2 * self.dilation, self.dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pieces = [(self._conv(x, out, k), _weight_product(wo, wk))
                  for (out, wo), (k, wk) in itertools.product(_terms(self.out_channels),
                                                              _terms(self.kernel_size))]
        return _mix(pieces)

    def fixed(self) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` at the chosen values, holding its slice of the weights."""
        in_c, out_c, k = (_chosen(v) for v in (self.in_channels, self.out_channels,
                                                self.kernel_size))
        conv = nn.Conv2d(in_c, out_c, k, self.stride, k // 2 * self.dilation, self.dilation,
                         bias=self.bias is not None)
        with torch.no_grad():
            conv.weight.copy_(_centre(self.weight[:out_c, :in_c], k))
            if self.bias is not None:
                conv.bias.copy_(self.bias[:out_c])
        return conv


class ValueBatchNorm2d(nn.BatchNorm2d):
    """A ``nn.BatchNorm2d`` whose ``num_features`` may be a :class:`ValueChoice`: it normalises
    as many channels as its input has, with the first ones of its statistics and affine
    parameters."""

    def __init__(self, num_features: IntOrChoice, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True) -> None:
        super().__init__(_largest(num_features), eps, momentum, affine)
        self.features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if self.training:
            self.num_batches_tracked.add_(1)
        return F.batch_norm(
            x, self.running_mean[:c], self.running_var[:c],
            None if self.weight is None else self.weight[:c],
            None if self.bias is None else self.bias[:c],
            self.training, self.momentum, self.eps,
        )

    def fixed(self) -> nn.BatchNorm2d:
        """A plain ``nn.BatchNorm2d`` at the chosen width, holding its slice of the state."""
        c = _chosen(self.features)
        norm = nn.BatchNorm2d(c, self.eps, self.momentum, self.affine)
        state = {name: (t[:c] if t.dim() else t) for name, t in self.state_dict().items()}
        norm.load_state_dict(state)
        return norm.train(self.training)


class ValueLinear(nn.Module):
    """A ``nn.Linear`` whose ``in_features``/``out_features`` may be :class:`ValueChoice` s."""

    def __init__(self, in_features: IntOrChoice, out_features: IntOrChoice,
                 bias: bool = True) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        base = nn.Linear(_largest(in_features), _largest(out_features), bias)
        self.weight, self.bias = base.weight, base.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pieces = []
        for out, weight in _terms(self.out_features):
            bias = None if self.bias is None else self.bias[:out]
            y = F.linear(x, self.weight[:out, : x.shape[-1]], bias)
            pieces.append((y.movedim(-1, 1) if y.dim() > 2 else y, weight))
        out = _mix(pieces)
        return out.movedim(1, -1) if out.dim() > 2 else out

    def fixed(self) -> nn.Linear:
        """A plain ``nn.Linear`` at the chosen sizes, holding its slice of the weights."""
        in_f, out_f = _chosen(self.in_features), _chosen(self.out_features)
        linear = nn.Linear(in_f, out_f, self.bias is not None)
        with torch.no_grad():
            linear.weight.copy_(self.weight[:out_f, :in_f])
            if self.bias is not None:
                linear.bias.copy_(self.bias[:out_f])
        return linear


class Repeat(nn.Module):
    """The first ``depth`` of ``blocks`` in sequence: ``depth`` an int or a :class:`ValueChoice`
    of depths, ``blocks`` a list of modules or a function making block ``i`` (called for the
    largest depth). Blocks keep their input's shape; a one-shot pass mixes the outputs at the
    active depths, and the fixed network keeps only the chosen blocks."""

    def __init__(self, blocks: Sequence[nn.Module] | Callable[[int], nn.Module],
                 depth: IntOrChoice) -> None:
        super().__init__()
        n = _largest(depth)
        made = (list(blocks) if isinstance(blocks, (nn.Module, Sequence))
                else [blocks(i) for i in range(n)])
        if len(made) < n:
            raise ValueError(f"Repeat needs {n} blocks for its largest depth, got {len(made)}")
        self.blocks = nn.ModuleList(made[:n])
        self.depth = depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        wanted = dict(_terms(self.depth))
        pieces = []
        for i in range(max(wanted) + 1):
            if i in wanted:
                pieces.append((x, wanted[i]))
            if i < max(wanted):
                x = self.blocks[i](x)
        return _mix(pieces)

    def fixed(self) -> nn.Sequential:
        """The chosen blocks as a ``nn.Sequential``."""
        return nn.Sequential(*list(self.blocks)[: _chosen(self.depth)])


_VALUE_LAYERS = (ValueConv2d, ValueBatchNorm2d, ValueLinear, Repeat)


def choices_of(model: nn.Module) -> list[tuple[str, _Choice]]:
    """``(label, choice)`` of every choice in ``model`` in module order, value choices held by
    value layers included; unlabelled choices are labelled by their path (set on them)."""
    found: list[tuple[str, _Choice]] = []
    seen: set[int] = set()

    def add(path: str, choice: _Choice) -> None:
        if id(choice) in seen:
            return
        seen.add(id(choice))
        if choice.label is None:
            choice.label = path
        found.append((choice.label, choice))

    for path, module in model.named_modules():
        if isinstance(module, _Choice):
            add(path or "model", module)
        if isinstance(module, _VALUE_LAYERS):
            for attr in ("in_channels", "out_channels", "kernel_size", "features",
                         "in_features", "out_features", "depth"):
                value = getattr(module, attr, None)
                if isinstance(value, ValueChoice):
                    add(f"{path}.{attr}", value)
    return found


def freeze(model: nn.Module, indices: Mapping[str, int]) -> nn.Module:
    """Fix every choice of ``model`` (after :func:`choices_of` labelled them) to the candidate
    index ``indices[label]`` (an input choice's index counts its combinations) and replace
    layer choices by their candidate and value layers by plain layers, in place; returns
    ``model``."""
    for _label, choice in choices_of(model):
        choice._nascore_fixed = int(indices.get(choice.label, 0))
        choice._nascore_selection = None

    def replace(module: nn.Module) -> nn.Module:
        for name, child in list(module._modules.items()):
            if child is None:
                continue
            new = child
            while isinstance(new, LayerChoice):
                new = list(new.candidates.values())[new._nascore_fixed or 0]
            if isinstance(new, _VALUE_LAYERS):
                new = new.fixed()
            module._modules[name] = replace(new)
        return module

    return replace(model)
