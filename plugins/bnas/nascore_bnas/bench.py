"""``nas bench bnas``: the model size of binarized networks against their float twins, and the
search step time of the ``bnas`` strategy as the op set shrinks.

* **bits**: the network of an architecture in the ``bnas`` space (XNOR and PCNN) against the same
  genotype in the ``darts`` space (32 bits per parameter), auxiliary head excluded, at the search
  size and at the paper's CIFAR-10 evaluation size (36 channels, 20 cells). The architectures are
  the one the bench's reduction derives and the published ``darts_v2`` cells.
* **steps**: the ``bnas`` strategy on the ``bnas`` space driven through Algorithm 1's plan without
  data (each sampling epoch's accuracy is a seeded random number, so the reduction's choices are
  arbitrary but its op counts are the real ones). The first epoch of every kind and ``K`` is
  timed: a PC-DARTS step (weights step and architecture step, ``K`` ops per edge on half the
  channels) and a sampling step (weights step only, one sampled op per edge). Median over
  ``steps`` steps on random images after one untimed step.

Defaults: 16 channels, 8 cells (DARTS's reduction cells 2 and 5), 16x16 images, batch 64.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import click
import torch

from nascore import Architecture, DataInfo, SearchContext, SearchSpace, build_config, registry
from nascore.events import EventLog
from nascore_bnas.bits import FLOAT_BITS, model_bits
from nascore_bnas.plan import SAMPLE
from nascore_bnas.reduction_part import SpaceReduction
from nascore_bnas.strategy import BNASStrategy
from nascore_bnas.surgery import BINARIZERS

#: The paper's CIFAR-10 evaluation network: 36 initial channels, 20 cells.
EVAL_CHANNELS, EVAL_LAYERS = 36, 20
_EXCLUDE = ("auxiliary",)


def _space(name: str, info: DataInfo, **options: Any) -> SearchSpace:
    cls = registry().get("space", name)
    return cls(build_config(cls.config_cls, options, "space"), info)


def _timed_step(search: Any, size: int, batch_size: int, steps: int, arch: bool,
                generator: torch.Generator) -> float:
    """Median seconds of ``steps`` search steps (after one untimed step) on random images;
    ``arch``: with the architecture step."""

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randn(batch_size, 3, size, size, generator=generator)
        return x, torch.randint(0, 10, (batch_size,), generator=generator)

    times = []
    for step in range(steps + 1):
        train, valid = batch(), batch()
        started = time.perf_counter()
        search.search_step(train, valid if arch else None, step)
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:])


def bench_steps(
    channels: int = 16, layers: int = 8, image_size: int = 16, batch_size: int = 64,
    steps: int = 2, seed: int = 0,
) -> tuple[list[dict[str, Any]], Architecture]:
    """One row per timed (kind, ``K``) and the architecture the reduction derives."""
    info = DataInfo(in_channels=3, image_size=image_size, num_classes=10)
    space = _space("bnas", info, channels=channels, layers=layers, reductions=None)
    context = SearchContext(space=space, seed=seed, device=torch.device("cpu"), events=EventLog())
    settings = {"batch_size": batch_size, "reduction_batch_size": batch_size,
                "reduction_valid_images": None}  # no data: seeded accuracies, one batch size
    search = BNASStrategy(BNASStrategy.configure(settings), context)
    part = search.part(SpaceReduction.name)
    generator = torch.Generator().manual_seed(seed)
    accuracies = torch.Generator().manual_seed(seed + 1)
    rows: list[dict[str, Any]] = []
    timed: set[tuple[str, int]] = set()
    for epoch, planned in enumerate(part.plan):
        search.epoch = epoch
        part.begin_epoch(epoch)
        ops = max(int(search.masks[g.name].sum(dim=1).max()) for g in part.groups)
        kind = "sample" if planned.kind == SAMPLE else "search"
        if (planned.arch_step or kind == "sample") and (kind, ops) not in timed:
            timed.add((kind, ops))
            seconds = _timed_step(search, image_size, batch_size, steps, planned.arch_step,
                                  generator)
            rows.append({"kind": kind, "ops_per_edge": ops, "epoch": epoch,
                         "seconds_per_step": round(seconds, 4)})
        part.end_epoch(epoch, {"valid_acc": float(torch.rand((), generator=accuracies))})
    first = rows[0]["seconds_per_step"]
    for row in rows:
        row.update(vs_first_search_step=round(row["seconds_per_step"] / first, 3),
                   channels=channels, layers=layers, image_size=image_size,
                   batch_size=batch_size, threads=torch.get_num_threads())
    return rows, search.derive()


def bench_bits(
    archs: dict[str, Architecture], sizes: list[tuple[int, int]], image_size: int = 32,
) -> list[dict[str, Any]]:
    """Per architecture, size ``(channels, layers)`` and binarization: the model size in bits
    and the ratio of the float twin's size to it."""
    info = DataInfo(in_channels=3, image_size=image_size, num_classes=10)
    darts = _space("darts", info)
    rows = []
    for label, arch in archs.items():
        for channels, layers in sizes:
            float_net = darts.build_network(Architecture("darts", arch.spec), channels, layers)
            float_bits = model_bits(float_net, exclude=_EXCLUDE)
            for mode in BINARIZERS:
                space = _space("bnas", info, binarize=mode)
                net = space.build_network(Architecture("bnas", arch.spec), channels, layers)
                bits = model_bits(net, exclude=_EXCLUDE)
                rows.append({
                    "architecture": label, "channels": channels, "layers": layers,
                    "binarize": mode, "bits": bits, "float_bits": float_bits,
                    "float_params": float_bits // FLOAT_BITS,
                    "float_over_binary": round(float_bits / bits, 2),
                })
    return rows


@click.command("bnas")
@click.option("--channels", default=16, show_default=True)
@click.option("--layers", default=8, show_default=True)
@click.option("--image-size", default=16, show_default=True)
@click.option("--batch-size", default=64, show_default=True)
@click.option("--steps", default=2, show_default=True, help="timed steps per kind and K")
def bench_command(channels: int, layers: int, image_size: int, batch_size: int,
                  steps: int) -> None:
    """BNAS: bits of binarized networks vs their float twins, search step time as K shrinks
    (JSON)."""
    step_rows, derived = bench_steps(channels, layers, image_size, batch_size, steps)
    archs = {"derived": derived, "darts_v2": registry().get("architecture", "darts_v2")}
    bits = bench_bits(archs, [(channels, layers), (EVAL_CHANNELS, EVAL_LAYERS)])
    click.echo(json.dumps({"bits": bits, "steps": step_rows}, indent=2))


bench_command.nascore_group = "bench"
