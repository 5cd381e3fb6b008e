"""The epoch plan of BNAS's Algorithm 1 and the seeded sampler of its per-epoch architectures.

Algorithm 1: ``L`` epochs of PC-DARTS (the first few train the weights only, Experiment
Protocol); then, while ``K > 1``, a *stage*: ``T`` rounds of ``ceil(K/2)`` sampling epochs (each
trains one architecture sampled from ``O_smaller`` and scores it on validation data), the
reduction (Eq. 4-5), ``V`` epochs of PC-DARTS, ``K -= 1``. With the paper's ``L = 5, T = 3,
V = 1, K = 8`` that is ``5 + 3 * (4+4+3+3+2+2+1) + 7 * 1 = 69`` epochs (57 of them sampling).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import attrs
import numpy as np
import torch

from nascore import ConfigError

#: Epoch kinds.
WARMUP, SAMPLE, PCDARTS = "warmup", "sample", "pcdarts"


@attrs.frozen
class PlannedEpoch:
    """One epoch of Algorithm 1.

    ``kind``: ``"warmup"`` (line 1), ``"sample"`` (lines 7-9) or ``"pcdarts"`` (line 14).
    ``arch_step``: whether the architecture parameters are trained (not in the weights-only
    warm-up epochs, nor while training sampled architectures). For reduction epochs: ``stage``
    (0-based iteration of the while loop), ``ops`` (its ``K``), and for sampling epochs ``round``
    (``t``, 0-based) and ``slot`` (``e``, 0-based, below ``ceil(K/2)``). ``ends_sampling`` marks
    the last sampling epoch of a stage, after which Eq. 4-5 reduce the space.
    """

    kind: str
    arch_step: bool
    stage: int | None = None
    ops: int | None = None
    round: int | None = None
    slot: int | None = None
    ends_sampling: bool = False

    @property
    def begins_stage(self) -> bool:
        """First sampling epoch of a stage: ``O_smaller`` is selected before it (line 3)."""
        return self.kind == SAMPLE and self.round == 0 and self.slot == 0


def epoch_plan(
    warmup: int = 5, weights_only: int = 3, rounds: int = 3, pcdarts: int = 1, ops: int = 8
) -> tuple[PlannedEpoch, ...]:
    """Every epoch of Algorithm 1 in order: ``warmup`` = L, ``weights_only`` of them without
    architecture steps, ``rounds`` = T, ``pcdarts`` = V, ``ops`` = K (ops per edge at the start).
    Defaults: the paper's CIFAR-10 search (Experiment Protocol)."""
    if warmup < 0 or pcdarts < 0:
        raise ConfigError("warm-up and PC-DARTS epochs (L, V) must be 0 or more")
    if not 0 <= weights_only <= warmup:
        raise ConfigError(
            f"weights-only epochs must be between 0 and the warm-up epochs L = {warmup}, "
            f"got {weights_only}"
        )
    if rounds < 1 or ops < 1:
        raise ConfigError("sampling rounds T and ops per edge K must be 1 or more")
    plan = [PlannedEpoch(WARMUP, arch_step=epoch >= weights_only) for epoch in range(warmup)]
    for stage, k in enumerate(range(ops, 1, -1)):
        slots = (k + 1) // 2
        for t in range(rounds):
            for e in range(slots):
                last = t == rounds - 1 and e == slots - 1
                plan.append(PlannedEpoch(SAMPLE, False, stage, k, t, e, ends_sampling=last))
        plan.extend(PlannedEpoch(PCDARTS, True, stage, k) for _ in range(pcdarts))
    return tuple(plan)


def round_samples(
    smaller: Mapping[str, torch.Tensor], seed: int, stage: int, round: int
) -> dict[str, torch.Tensor]:
    """The architectures of one sampling round: per group a ``[slots, edges]`` tensor of op
    columns, row ``e`` being the architecture of the round's epoch ``e``.

    Each edge's ``O_smaller`` (``smaller[g]``, boolean ``[edges, ops]``) is shuffled uniformly, so
    over ``slots`` = the largest ``O_smaller`` (``ceil(K/2)``) epochs every op of it is sampled
    exactly once, without replacement (an edge with a smaller ``O_smaller`` starts over). A pure
    function of ``(seed, stage, round)`` and the masks, so a resumed search draws the same
    architectures; each group has its own stream, keyed by its name.
    """
    sizes = {g: m.sum(dim=1).cpu().numpy() for g, m in smaller.items()}
    if any(int(n.min()) < 1 for n in sizes.values()):
        raise ValueError("every edge needs at least one op in O_smaller to sample from")
    slots = max(int(n.max()) for n in sizes.values())
    out = {}
    for g, mask in smaller.items():
        rng = np.random.default_rng([seed, stage, round, zlib.crc32(g.encode())])
        keys = rng.random(mask.shape)
        keys[~mask.cpu().numpy()] = np.inf
        shuffled = np.argsort(keys, axis=1, kind="stable")
        columns = np.arange(slots)[None, :] % sizes[g][:, None]
        picks = np.take_along_axis(shuffled, columns, axis=1)
        out[g] = torch.from_numpy(np.ascontiguousarray(picks.T)).long()
    return out


def epoch_sample(
    smaller: Mapping[str, torch.Tensor], seed: int, epoch: PlannedEpoch
) -> dict[str, torch.Tensor]:
    """The architecture of a sampling epoch: per group the ``[edges]`` op columns."""
    if epoch.kind != SAMPLE:
        raise ValueError(f"a {epoch.kind} epoch samples no architecture")
    samples = round_samples(smaller, seed, epoch.stage, epoch.round)
    return {g: rows[epoch.slot] for g, rows in samples.items()}
