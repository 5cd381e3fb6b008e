"""The gradual pruning schedule of EoiNAS, scaled to the run's number of epochs.

The paper searches 160 epochs: 20 weights-only warm-up epochs, then one pruning stage at the end
of every 20th epoch (Algorithm 1: ``epoch > 20 and epoch % 20 == 0``, epochs counted from 1), so
its 7 stages take the 8 DARTS ops down to one, the last at the end of epoch 160.

Scaled rule for ``E`` epochs and ``P`` stages (``P`` = candidates - 1):

* warm-up ``W``: the strategy's (EoiNAS's default is ``min(max(1, E // 8), E - 1)``, the paper's
  20/160, :func:`nascore.oneshot.scaled_warmup`);
* stage ``i = 1..P`` happens at the end of epoch ``W + ceil(i * (E - W) / P)`` (counted from 1):
  the stages are spread evenly over the epochs after the warm-up and the last one ends the run.
  When ``E - W < P`` some epochs hold several stages.

``E = 160`` gives the paper's schedule, ``E = 8`` a warm-up of 1 and a stage after every epoch;
every ``E`` ends with exactly ``P`` stages, i.e. one op per edge.

With an explicit interval ``k`` the paper's rule is applied literally: stages at the end of epochs
``W + k, W + 2k, ...`` while they fit in ``E`` and are at most ``P`` (a short run ends with more
than one op per edge; the derivation then takes the best by the indicator).
"""

from __future__ import annotations


def prune_epochs(epochs: int, warmup: int, stages: int, every: int | None = None) -> list[int]:
    """The 0-based epoch at whose end each pruning stage happens (non-decreasing).

    ``every=None``: the scaled rule (exactly ``stages`` entries, the last ``epochs - 1``);
    otherwise the literal interval (see the module docstring).
    """
    if not 0 <= warmup < epochs:
        raise ValueError(f"warm-up {warmup} must lie in [0, {epochs})")
    if every is None:
        span = epochs - warmup
        return [warmup - (-i * span // stages) - 1 for i in range(1, stages + 1)]
    return [warmup + i * every - 1 for i in range(1, stages + 1) if warmup + i * every <= epochs]
