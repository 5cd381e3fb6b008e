"""``nas bench nb201``: search quality of a discrete strategy on the NAS-Bench-201 table.

Each repeat runs the strategy with a different seed against the tabular estimator (selection by
12-epoch validation accuracy) and records the 200-epoch test accuracy of the architecture it
selected. No run directory, no network is built, no torch in the loop: a query costs microseconds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import torch

from nascore.config import config_to_dict
from nascore.context import SearchContext
from nascore.errors import ConfigError, IncompatibleError
from nascore.estimators.nb201 import DATASETS, NB201Estimator, NB201EstimatorConfig
from nascore.events import EventLog
from nascore.plugins import registry
from nascore.space import DataInfo
from nascore.spaces.nb201 import NB201Config, NB201Space
from nascore.strategies.discrete import run_search

#: Input shape and classes of the benchmark's datasets (only networks would use them).
_DATA = {
    "cifar10": DataInfo(3, 32, 10),
    "cifar100": DataInfo(3, 32, 100),
    "imagenet16": DataInfo(3, 16, 120),
}


def bench_nb201(
    strategy: str,
    queries: int = 100,
    repeats: int = 100,
    dataset: str = "cifar10",
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``strategy`` ``repeats`` times (seeds ``seed``, ``seed + 1``, ...) with ``queries``
    tabular queries each; ``options`` override the strategy config.

    Returns the mean and (population) std over repeats of the selected architectures' 200-epoch
    test accuracy (``test_mean``/``test_std``) and of their search signal
    (``signal_mean``/``signal_std``), with the settings and the table's optimum.
    """
    if dataset not in DATASETS:
        raise ConfigError(f"dataset must be one of {', '.join(DATASETS)}; got {dataset!r}")
    cls = registry().get("strategy", strategy)
    if cls.kind != "discrete":
        raise IncompatibleError(
            f"nas bench nb201 runs discrete strategies; '{strategy}' is {cls.kind}"
        )
    config = cls.configure({**(options or {}), "queries": queries})
    space = NB201Space(NB201Config(), _DATA[dataset])
    estimator_config = NB201EstimatorConfig(dataset=dataset)
    tests, signals = [], []
    started = time.perf_counter()
    for r in range(repeats):
        context = SearchContext(
            space=space, seed=seed + r, device=torch.device("cpu"), events=EventLog(None)
        )
        estimator = NB201Estimator(estimator_config, context)
        context.estimator = estimator
        arch = run_search(cls(config, context))
        row = estimator.table.row(space.format(arch))
        tests.append(estimator.test[row])
        signals.append(estimator.signal[row])
    preset, proxy = getattr(config, "preset", None), getattr(config, "warmup_proxy", None)
    notes = [preset] if preset else []
    if proxy:
        notes.append(f"{proxy} warm-up of {config.warmup_samples}")
    return {
        "strategy": strategy,
        "label": f"{strategy} ({', '.join(notes)})" if notes else strategy,
        "dataset": dataset,
        "queries": queries,
        "repeats": repeats,
        "seed": seed,
        "test_mean": float(np.mean(tests)),
        "test_std": float(np.std(tests)),
        "signal_mean": float(np.mean(signals)),
        "signal_std": float(np.std(signals)),
        "optimum_test": float(estimator.test.max()),
        "seconds": time.perf_counter() - started,
        "config": config_to_dict(config),
    }


#: The strategies ``nas bench nb201`` runs by default: the NAS-Bench-201 paper's discrete baselines.
BASELINES = ("random", "evolution", "reinforce")


def bench_plan(
    strategies: Sequence[str],
    presets: Sequence[str],
    options: Mapping[str, Any],
    warmups: Sequence[str] = (),
) -> list[tuple[str, dict[str, Any]]]:
    """``(strategy, options)`` of every row: each strategy with its defaults, then with each of
    ``presets`` it has, then with each zero-cost warm-up proxy of ``warmups``
    (``warmup_proxy``). ``options`` go to the strategies whose config has the key; a key no
    strategy has, or a preset none has, is a one-line error."""
    for proxy in warmups:
        registry().get("estimator", proxy)  # an unknown proxy fails before any search
    classes = {name: registry().get("strategy", name) for name in strategies}
    fields = {name: set(attrs.fields_dict(cls.config_class({}))) for name, cls in classes.items()}
    for key in options:
        if not any(key in names for names in fields.values()):
            raise ConfigError(
                f"no strategy among {', '.join(strategies)} has the setting {key!r}; "
                "see `nas config --strategy NAME --space nb201`"
            )
    for preset in presets:
        if not any(preset in cls.presets for cls in classes.values()):
            raise ConfigError(
                f"no strategy among {', '.join(strategies)} has the preset {preset!r}"
            )
    plan = []
    for name, cls in classes.items():
        own = {k: v for k, v in options.items() if k in fields[name]}
        plan.append((name, own))
        plan.extend((name, {**own, "preset": p}) for p in presets if p in cls.presets)
        plan.extend((name, {**own, "warmup_proxy": w}) for w in warmups
                    if "warmup_proxy" in fields[name])
    return plan


#: The NAS-Bench-201 paper's figures for the discrete baselines (Dong & Yang, ICLR 2020): CIFAR-10
#: test accuracy (%) at 200 epochs, mean and std, keyed by nascore strategy name.
PAPER_CIFAR10_TEST = {
    "random": (93.70, 0.36),
    "evolution": (93.92, 0.30),
    "reinforce": (93.85, 0.37),
}


def format_results(results: Sequence[Mapping[str, Any]]) -> str:
    """A table of :func:`bench_nb201` results (one row each), closed by a note comparing the
    CIFAR-10 rows of strategies with published figures against :data:`PAPER_CIFAR10_TEST`."""
    head = ["strategy", "dataset", "queries", "repeats", "test_200 (%)", "val_12 (%)", "seconds"]
    rows = [
        [
            r.get("label", r["strategy"]),
            r["dataset"],
            str(r["queries"]),
            str(r["repeats"]),
            f"{r['test_mean']:.2f} +- {r['test_std']:.2f}",
            f"{r['signal_mean']:.2f} +- {r['signal_std']:.2f}",
            f"{r['seconds']:.1f}",
        ]
        for r in results
    ]
    widths = [max(len(line[i]) for line in (head, *rows)) for i in range(len(head))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in (head, *rows)
    ]
    compared = [
        f"{r['strategy']} {mean:.2f} +- {std:.2f} (here {r['test_mean']:.2f} +- "
        f"{r['test_std']:.2f})"
        for r in results
        if r["dataset"] == "cifar10" and r["strategy"] in PAPER_CIFAR10_TEST
        and not r.get("config", {}).get("preset")
        and not r.get("config", {}).get("warmup_proxy")
        for mean, std in [PAPER_CIFAR10_TEST[r["strategy"]]]
    ]
    if compared:
        lines.append(
            "NAS-Bench-201 paper, CIFAR-10 test at 200 epochs, searches budgeted by 12,000 s of "
            "simulated training (about 100-150 queries): " + "; ".join(compared)
        )
    return "\n".join(lines)


def format_result(result: Mapping[str, Any]) -> str:
    """:func:`format_results` of a single result."""
    return format_results([result])
