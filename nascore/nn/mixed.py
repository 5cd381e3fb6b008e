"""A supernet edge that mixes candidate ops following a :class:`~nascore.space.Selection`, and
the work its edges share within one cell."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Hashable, Iterator, Sequence
from contextvars import ContextVar

import torch
from torch import nn

from nascore.nn.blocks import WeightedBatchNorm2d, cat_channels, channel_shuffle
from nascore.space import Selection

#: ``(candidate name, channels, stride) -> module``.
OpFactory = Callable[[str, int, int], nn.Module]


class SharedWork:
    """Results of parameter-free work on tensors, computed once per :func:`sharing_work` scope.

    A cell's edges leaving one state read the same tensor; what every one of them would compute
    from it alone (a ReLU, a pool, a channel slice) is computed by the first and reused by the
    others. Entries hold their input, so a key never matches a different tensor.
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[Hashable, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def get(
        self, key: Hashable, x: torch.Tensor, compute: Callable[[torch.Tensor], torch.Tensor]
    ) -> torch.Tensor:
        """``compute(x)``, computed the first time ``(key, x)`` is asked for."""
        entry = self._entries.get((key, id(x)))
        if entry is None or entry[0] is not x:
            entry = (x, compute(x))
            self._entries[(key, id(x))] = entry
        return entry[1]


_WORK: ContextVar[SharedWork | None] = ContextVar("nascore_shared_work", default=None)


@contextlib.contextmanager
def sharing_work() -> Iterator[SharedWork]:
    """A scope (e.g. one cell forward pass) in which :func:`shared` results are reused."""
    token = _WORK.set(SharedWork())
    try:
        yield _WORK.get()
    finally:
        _WORK.reset(token)


def shared(
    key: Hashable, x: torch.Tensor, compute: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """``compute(x)``, reused within the current :func:`sharing_work` scope (computed every time
    outside one). ``compute`` must be a parameter-free function of ``x`` named by ``key``."""
    work = _WORK.get()
    return compute(x) if work is None else work.get(key, x, compute)


class SharedStage(nn.Module):
    """A parameter-free, deterministic module whose output on a tensor is computed once per
    :func:`sharing_work` scope: every edge with an equal stage (same class and settings) reading
    the same tensor reuses it (e.g. a pool in front of an edge's BatchNorm, or a ReLU)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        if any(True for _ in module.parameters()) or any(True for _ in module.buffers()):
            raise ValueError(f"a shared stage must be parameter-free, got {module}")
        self.module = module
        self.key = repr(module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return shared(self.key, x, self.module)


def _final_batchnorm(op: nn.Module) -> tuple[nn.Module, str] | None:
    """``(parent, name)`` of the BatchNorm without affine parameters that ends ``op`` (a
    ``Sequential``, possibly nested), or ``None``."""
    parent, name = None, ""
    module = op
    while isinstance(module, nn.Sequential) and len(module):
        parent, name = module, str(len(module) - 1)
        module = module[-1]
    if parent is None or type(module) not in (nn.BatchNorm2d, WeightedBatchNorm2d):
        return None
    if module.affine:
        return None
    return parent, name


def _weighted_final_norm(op: nn.Module) -> WeightedBatchNorm2d | None:
    """Make the affine-free BatchNorm ending ``op`` a :class:`WeightedBatchNorm2d` (same state
    dict keys) and return it; ``None`` when ``op`` does not end in one."""
    found = _final_batchnorm(op)
    if found is None:
        return None
    parent, name = found
    norm = getattr(parent, name)
    if not isinstance(norm, WeightedBatchNorm2d):
        norm = WeightedBatchNorm2d.replacing(norm)
        setattr(parent, name, norm)
    return norm


class MixedEdge(nn.Module):
    """All candidate ops of one edge; ``forward(x, sel)`` computes only what ``sel`` selects.

    * Only ``sel.active(n)`` candidates run: the sampled one when ``sel.index`` is set, otherwise
      every candidate not masked out. The ``zero`` candidate is never built nor run: it adds
      nothing.
    * Output ``sum_k sel.weights[k] * op_k(x)`` over the active candidates, times ``sel.scale``
      if set; ``None`` when nothing contributes (only the zero candidate is active). An op ending
      in a BatchNorm without affine parameters gets its weight inside that BatchNorm (a
      :class:`WeightedBatchNorm2d`, same math): autograd then keeps no weighted output.
    * With ``partial_channels`` K > 1 (PC-DARTS) the ops are built for ``C // K`` channels and run
      on the first ``C // K`` input channels; the rest bypass the ops (through a 2x2 max-pool on
      stride-2 edges), are concatenated after the mixed part and the result is channel-shuffled
      with K groups. The bypass part is unweighted (but scaled), so such an edge never returns
      ``None``.
    * With ``act`` set, the candidates named in ``act_candidates`` (built without their leading
      activation, e.g. ``supernet_op(..., leading_act=False)``) receive ``act(x)``, computed once
      per forward pass and only when one of them runs; the other candidates receive ``x``. This is
      the same math as each op applying its own activation, with one activation output in memory
      instead of one per op.
    * Work shared between edges: the first module of each op named in ``shared_candidates`` (a
      parameter-free one, e.g. the pool of ``pool -> BatchNorm``) becomes a :class:`SharedStage`,
      as do a parameter-free ``act`` (pass ``share_act=True`` when it is deterministic, e.g. a
      ReLU), the channel split and the bypass: inside a :func:`sharing_work` scope (a cell's
      forward pass) the edges reading one state compute them once.
    """

    def __init__(
        self,
        candidates: Sequence[str],
        C: int,
        stride: int,
        op_factory: OpFactory,
        partial_channels: int = 1,
        zero: str | None = "none",
        act: nn.Module | None = None,
        act_candidates: Collection[str] = (),
        shared_candidates: Collection[str] = (),
        share_act: bool = False,
    ) -> None:
        super().__init__()
        if partial_channels < 1 or C % partial_channels:
            raise ValueError(
                f"partial_channels must be a positive divisor of the edge's {C} channels, "
                f"got {partial_channels}"
            )
        unknown = set(act_candidates) - set(candidates)
        if unknown or (act is None and act_candidates):
            raise ValueError(
                f"act_candidates {sorted(act_candidates)} need an act and must be candidates"
            )
        if set(shared_candidates) - set(candidates):
            raise ValueError(f"shared_candidates {sorted(shared_candidates)} must be candidates")
        self.candidates = tuple(candidates)
        self.zero = zero
        self.act = SharedStage(act) if share_act and act is not None else act
        self.act_candidates = frozenset(act_candidates)
        self.stride = stride
        self.partial_channels = partial_channels
        self.op_channels = C // partial_channels
        self.ops = nn.ModuleDict(
            {
                name: op_factory(name, self.op_channels, stride)
                for name in self.candidates
                if name != zero
            }
        )
        for name in shared_candidates:
            op = self.ops[name]
            if not isinstance(op, nn.Sequential) or len(op) < 2:
                raise ValueError(f"shared candidate {name} must be a Sequential of 2+ modules")
            op[0] = SharedStage(op[0])
        self._norms = {name: _weighted_final_norm(op) for name, op in self.ops.items()}
        self.bypass = SharedStage(
            nn.MaxPool2d(2, 2, ceil_mode=True)
            if partial_channels > 1 and stride > 1
            else nn.Identity()
        )

    def _weighted(self, name: str, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """``weight * op(x)``, the weight folded into the op's final BatchNorm if it has one."""
        norm = self._norms[name]
        if norm is None:
            return weight * self.ops[name](x)
        norm.output_weight = weight
        try:
            return self.ops[name](x)
        finally:
            norm.output_weight = None

    def forward(self, x: torch.Tensor, sel: Selection) -> torch.Tensor | None:
        K = self.partial_channels
        part = x
        if K > 1:
            part = shared(("channels", 0, self.op_channels), x, lambda t: t[:, : self.op_channels])
        scale = sel.scale
        activated = None
        out = None
        for k in sel.active(len(self.candidates)):
            name = self.candidates[k]
            if name == self.zero:
                continue
            weight = sel.weights[k] if scale is None else sel.weights[k] * scale
            if name in self.act_candidates:
                if activated is None:
                    activated = self.act(part)
                y = self._weighted(name, activated, weight)
            else:
                y = self._weighted(name, part, weight)
            out = y if out is None else out.add_(y)  # a fresh sum autograd keeps no copy of
        if K > 1:
            rest = shared(("channels", self.op_channels), x, lambda t: t[:, self.op_channels :])
            rest = self.bypass(rest)
            if scale is not None:
                rest = rest * scale
            if out is None:
                out = rest.new_zeros(rest.shape[0], self.op_channels, *rest.shape[2:])
            out = channel_shuffle(cat_channels([out, rest]), K)
        return out


class EdgeActivation(nn.Module):
    """An activation module shared by every op of one edge, at every activation site of theirs.

    Between two :meth:`reset` calls (one edge forward pass) the output on the first input it
    sees -- the edge input, which every op reads -- is computed once and reused; other inputs
    (e.g. the inner activation of a sep conv) are computed afresh.
    """

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self._memo: tuple[torch.Tensor, torch.Tensor] | None = None

    def reset(self) -> None:
        """Forget the memoised input (call before and after each edge forward)."""
        self._memo = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._memo is not None and self._memo[0] is x:
            return self._memo[1]
        out = self.inner(x)
        if self._memo is None:
            self._memo = (x, out)
        return out
