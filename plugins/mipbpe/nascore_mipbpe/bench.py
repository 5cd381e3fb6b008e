"""``nas bench budgets``: mean seconds per ``train`` estimate under named budgets.

The same randomly drawn architectures are trained under every budget through the search's
evaluator, so the figure is what ``nas bpe search`` and ``nas run --estimator train`` pay per
architecture. Run it with ``OMP_NUM_THREADS=1`` for comparable figures on a shared machine.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
import numpy as np
import torch

from nascore import SearchContext, build_config, registry
from nascore.data import DataConfig, SearchData
from nascore.events import EventLog
from nascore.plugins import make_space
from nascore_mipbpe.evaluators import SampleEvaluator


def bench_budgets(
    budgets: Sequence[str] = ("small", "bpe1"),
    archs: int = 3,
    space: str = "darts",
    dataset: str = "digits",
    data_dir: str | None = None,
    seed: int = 0,
    subset: int | None = None,
) -> list[dict[str, Any]]:
    """One row per budget preset: mean, min and max seconds per estimate and mean accuracy of
    ``archs`` architectures drawn from ``space`` with ``seed`` (on the first ``subset``
    training images if given)."""
    presets = {name: registry().get("budget", name) for name in budgets}
    config = build_config(
        DataConfig, {"dataset": dataset, "data_dir": data_dir, "subset": subset}, "data"
    )
    data = SearchData(config, seed)
    built = make_space(space, None, data.info)
    rng = np.random.default_rng(seed)
    sample = [built.sample(rng) for _ in range(archs)]
    estimator_cls = registry().get("estimator", "train")
    context = SearchContext(space=built, seed=seed, device=torch.device("cpu"),
                            events=EventLog(None), data=data)
    estimator = estimator_cls(build_config(estimator_cls.config_cls, {}, "estimator"), context)
    rows = []
    for name in budgets:
        evaluator = SampleEvaluator(estimator, sample, presets[name])
        found = evaluator.estimates(presets[name])
        seconds = [e["seconds"] for e in found]
        rows.append({
            "budget": name, "dataset": dataset, "space": space, "archs": archs,
            "seconds_per_estimate": round(float(np.mean(seconds)), 3),
            "min_seconds": round(min(seconds), 3), "max_seconds": round(max(seconds), 3),
            "mean_accuracy": round(float(np.mean([e["score"] for e in found])), 4),
            "threads": torch.get_num_threads(),
        })
    return rows


@click.command("budgets")
@click.option("--budget", "budgets", multiple=True, default=("small", "bpe1"),
              show_default=True, help="Budget preset to time (repeatable).")
@click.option("--archs", type=int, default=3, show_default=True,
              help="Architectures trained under each budget.")
@click.option("--space", default="darts", show_default=True, help="Space they are drawn from.")
@click.option("--dataset", default="digits", show_default=True, help="Dataset.")
@click.option("--data-dir", default=None, help="Local folder of the dataset.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed.")
def bench_command(budgets: tuple[str, ...], archs: int, space: str, dataset: str,
                  data_dir: str | None, seed: int) -> None:
    """Seconds per train estimate under budget presets (default: small vs bpe1), as JSON."""
    rows = bench_budgets(budgets, archs, space, dataset, data_dir, seed)
    for row in rows:
        click.echo(f"{row['budget']:>8}: {row['seconds_per_estimate']:.3f} s per estimate "
                   f"({row['min_seconds']:.3f}..{row['max_seconds']:.3f}), mean accuracy "
                   f"{row['mean_accuracy']:.4f}", err=True)
    click.echo(json.dumps(rows, indent=2))


bench_command.nascore_group = "bench"  # type: ignore[attr-defined]
