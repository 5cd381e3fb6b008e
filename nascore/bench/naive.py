"""The naive mixture supernet: the baseline ``nas bench supernet`` compares nascore with.

It computes what the DARTS reference code computes on every edge: each active candidate op with
its own leading activation, the zero op as ``x * 0`` (strided), and the plain weighted sum of
their outputs; pools are followed by an affine-free BatchNorm and the max pool keeps its indices
(``nn.MaxPool2d``). Cells run edge after edge, nothing is shared between edges. PC-DARTS partial
channels and edge scales follow the PC-DARTS reference (the ops on the first ``C / K`` channels,
the rest bypassing, concatenated and channel-shuffled, then scaled).

:func:`make_naive` converts a darts-family supernet in place: its modules and parameters stay
(the same weights compute both ways, so the strategy's optimiser keeps working), only how the
mixed edges and the cells compute changes. It lives here, not in the product.
:func:`naive_differences` compares a strategy on nascore's supernet with the same strategy on the
naive one (the tests of the core and of plugins use it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from nascore.nn.blocks import RecomputingMaxPool2d, channel_shuffle
from nascore.nn.conv import use_torch_convs
from nascore.nn.mixed import EdgeActivation, MixedEdge, SharedStage
from nascore.oneshot import OneShotStrategy
from nascore.space import Selection
from nascore.spaces.darts.cells import SearchCell


class NaiveMixedOp(nn.Module):
    """The DARTS reference mixed op over the candidates and op modules of a :class:`MixedEdge`
    (called like it, ``forward(x, sel)``)."""

    def __init__(self, edge: MixedEdge) -> None:
        super().__init__()
        self.candidates = edge.candidates
        self.zero = edge.zero
        self.stride = edge.stride
        self.partial_channels = edge.partial_channels
        self.op_channels = edge.op_channels
        self.act = edge.act
        self.act_candidates = edge.act_candidates
        self.ops = edge.ops
        self.bypass = edge.bypass

    def _candidate(self, name: str, x: torch.Tensor) -> torch.Tensor:
        if name == self.zero:
            return x[:, :, :: self.stride, :: self.stride].mul(0.0)
        if name in self.act_candidates:
            x = self.act(x)  # its own activation, computed for this op alone
        return self.ops[name](x)

    def forward(self, x: torch.Tensor, sel: Selection, *_: Any, **__: Any) -> torch.Tensor:
        part = x[:, : self.op_channels] if self.partial_channels > 1 else x
        out = sum(
            sel.weights[k] * self._candidate(self.candidates[k], part)
            for k in sel.active(len(self.candidates))
        )
        if self.partial_channels > 1:
            rest = self.bypass(x[:, self.op_channels :])
            out = channel_shuffle(torch.cat([out, rest], dim=1), self.partial_channels)
        if sel.scale is not None:
            out = out * sel.scale
        return out


class NaiveCell(nn.Module):
    """A :class:`SearchCell`'s modules (same names) run edge after edge, as the reference cell."""

    preprocessed = SearchCell.preprocessed

    def __init__(self, cell: SearchCell) -> None:
        super().__init__()
        self.key, self.nodes = cell.key, cell.nodes
        self.preprocess0, self.preprocess1 = cell.preprocess0, cell.preprocess1
        self.edges = cell.edges

    def forward(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        selections: Sequence[Mapping[str, Selection]],
        connection: Selection | None = None,
    ) -> torch.Tensor:
        states = self.preprocessed(s0, s1, connection)
        edge = 0
        for _node in range(self.nodes):
            outs = []
            for state in list(states):
                outs.append(self.edges[edge](state, selections[edge]))
                edge += 1
            states.append(sum(out for out in outs if out is not None))
        return torch.cat(states[2:], dim=1)


def _replace(root: nn.Module, match: Callable[[nn.Module], bool],
             make: Callable[[nn.Module], nn.Module]) -> None:
    """Replace every module under ``root`` for which ``match`` holds by ``make(module)``."""
    for name, child in list(root.named_children()):
        if match(child):
            setattr(root, name, make(child))
        else:
            _replace(child, match, make)


def make_naive(supernet: nn.Module) -> nn.Module:
    """Convert a darts-family supernet in place into the naive baseline and return it.

    Every :class:`MixedEdge` becomes a :class:`NaiveMixedOp`, every :class:`SearchCell` a
    :class:`NaiveCell`, every :class:`SharedStage` its module, every
    :class:`RecomputingMaxPool2d` a plain ``nn.MaxPool2d``, every
    :class:`~nascore.nn.conv.FastConv2d` a plain ``nn.Conv2d`` (same parameters) and every
    :class:`EdgeActivation` site inside an op its inner activation (computed at each site). The
    :class:`~nascore.nn.blocks.WeightedBatchNorm2d` modules stay: unweighted they are plain
    BatchNorms.
    """
    _replace(supernet, lambda m: isinstance(m, SharedStage), lambda m: m.module)
    use_torch_convs(supernet)
    _replace(supernet, lambda m: isinstance(m, RecomputingMaxPool2d),
             lambda m: nn.MaxPool2d(m.kernel_size, m.stride, m.padding))
    for edge in [m for m in supernet.modules() if isinstance(m, MixedEdge)]:
        for op in edge.ops.values():
            _replace(op, lambda m: isinstance(m, EdgeActivation), lambda m: m.inner)
    _replace(supernet, lambda m: isinstance(m, MixedEdge), NaiveMixedOp)
    _replace(supernet, lambda m: isinstance(m, SearchCell), NaiveCell)
    return supernet


Batch = tuple[torch.Tensor, torch.Tensor]


def _relative(ours: Sequence[torch.Tensor], theirs: Sequence[torch.Tensor]) -> float:
    """Largest absolute difference over the largest magnitude of ``ours`` (0 if both are 0)."""
    diff = max((float((a - b).abs().max()) for a, b in zip(ours, theirs, strict=True)),
               default=0.0)
    scale = max((float(a.abs().max()) for a in ours), default=0.0)
    return diff / scale if scale > 0 else diff


def _gradients(search: OneShotStrategy, batch: Batch) -> tuple[torch.Tensor, list, list]:
    """Loss, weight gradients and architecture gradients of one training-mode forward pass."""
    search.supernet.train()
    weights = list(search.supernet.parameters())
    arch = list(search.params.tensors.values())
    x, y = batch[0].to(memory_format=search.memory_format), batch[1]
    loss = search.compute_loss(search.supernet(x, search.forward_weights()), y)
    found = torch.autograd.grad(loss, weights + arch, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g
             for g, p in zip(found, weights + arch, strict=True)]
    return loss.detach(), grads[: len(weights)], grads[len(weights):]


def _state(search: OneShotStrategy) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The supernet's parameters and buffers, and the architecture tensors (detached)."""
    net = [t.detach() for t in [*search.supernet.parameters(), *search.supernet.buffers()]]
    return net, [t.detach() for t in search.params.tensors.values()]


def random_batches(
    pairs: int, batch_size: int, image: tuple[int, int, int], classes: int = 10, seed: int = 0
) -> list[tuple[Batch, Batch]]:
    """``pairs`` (weights batch, arch batch) pairs of random images of shape ``image`` (C, H, W)
    with random labels below ``classes``."""
    generator = torch.Generator().manual_seed(seed)

    def batch() -> Batch:
        x = torch.randn(batch_size, *image, generator=generator)
        return x, torch.randint(0, classes, (batch_size,), generator=generator)

    return [(batch(), batch()) for _ in range(pairs)]


def naive_differences(
    make: Callable[[Mapping[str, Any]], OneShotStrategy],
    batches: Sequence[tuple[Batch, Batch]],
    dtype: torch.dtype = torch.float64,
) -> dict[str, float]:
    """How far a strategy on nascore's supernet is from the same strategy on the naive one.

    ``make(options)`` builds the strategy (identically seeded every call) with extra config
    ``options``: nascore's with none, the naive one with the bench's naive settings, its supernet
    converted by :func:`make_naive`. Both are built and run in ``dtype`` (float64 by default:
    another summation order then changes results by ~1e-15, where float32 differences of ~1e-6
    in gradients grow to ~0.1 after one Adam step on gradients near zero). On the first weights
    batch of ``batches`` both compute the loss and the gradients of the supernet weights and
    architecture tensors; then both run one search step per ``(weights batch, arch batch)``.
    Returns relative differences (largest absolute difference over nascore's largest
    magnitude): ``loss``, ``weight_grads``, ``arch_grads``, and after the steps ``weights``
    (parameters and BatchNorm buffers) and ``arch``.
    """
    from nascore.bench.supernet import NAIVE_OPTIONS

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        batches = [((x.to(dtype), y), (ax.to(dtype), ay)) for (x, y), (ax, ay) in batches]
        ours = make({})
        theirs = make(NAIVE_OPTIONS)
        make_naive(theirs.supernet)
        loss, weight_grads, arch_grads = _gradients(ours, batches[0][0])
        naive_loss, naive_weight_grads, naive_arch_grads = _gradients(theirs, batches[0][0])
        result = {
            "loss": _relative([loss], [naive_loss]),
            "weight_grads": _relative(weight_grads, naive_weight_grads),
            "arch_grads": _relative(arch_grads, naive_arch_grads),
        }
        for step, (batch, arch_batch) in enumerate(batches):
            ours.search_step(batch, arch_batch, step)
            theirs.search_step(batch, arch_batch, step)
    finally:
        torch.set_default_dtype(previous)
    (net, arch), (naive_net, naive_arch) = _state(ours), _state(theirs)
    result["weights"] = _relative(net, naive_net)
    result["arch"] = _relative(arch, naive_arch)
    return result
