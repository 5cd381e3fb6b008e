"""``nas bench zerocost``: rank correlation of proxies with NAS-Bench-201's CIFAR-10 accuracy.

N cells drawn without replacement from the 15,625 (seeded; all of them when N reaches that), each
network built at the benchmark's size (C=16, N=5 cells per stage: the ``nb201`` space's
defaults) for the dataset of the accuracy column (``metric``, by default the 200-epoch CIFAR-10
test accuracy ``cifar10_test_200``: 3x32x32 input, 10 classes) and scored by every proxy;
Spearman's rho and Kendall's tau (scipy) against that column, with the mean seconds per network.
Data-dependent proxies score one CIFAR-10 minibatch from ``data_dir`` (CIFAR-10 columns only).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from scipy import stats

import nascore
from nascore import SearchContext
from nascore.data import DataConfig, SearchData
from nascore.estimators.nb201_table import load_table, test_column
from nascore.events import EventLog
from nascore.space import DataInfo
from nascore.spaces.nb201 import NB201Config, NB201Space
from nascore_zerocost.cli import METRICS
from nascore_zerocost.estimators import PROXIES, ZeroCostConfig

#: NAS-Bench-201's CIFAR-10 networks: 3x32x32 images, 10 classes.
CIFAR10 = DataInfo(3, 32, 10)
#: The networks of each dataset of the table (NAS-Bench-201, Dong & Yang, ICLR 2020, Sec. 2.3:
#: CIFAR-100 with 100 classes, ImageNet16-120 with 16x16 images and 120 classes).
DATASETS = {"cifar10": CIFAR10, "cifar100": DataInfo(3, 32, 100),
            "imagenet16": DataInfo(3, 16, 120)}
#: Spearman's rho on all 15,625 cells against each dataset's 200-epoch test accuracy, as
#: published by Abdelfattah et al. (ICLR 2021, Table 1; the three decimals printed by the
#: authors' notebooks/nasbench201_correlations.ipynb, SamsungLabs/zero-cost-nas). Their CIFAR-10
#: accuracy is NAS-Bench-201's ``cifar10-valid`` run (trained on the 25k train split), not the
#: train+valid run of this table's ``cifar10_test_200``.
PAPER_SPEARMAN = {
    "cifar10": {"grad_norm": 0.594, "snip": 0.596, "grasp": 0.514, "fisher": 0.36,
                "synflow": 0.737, "jacob_cov": 0.731},
    "cifar100": {"grad_norm": 0.637, "snip": 0.637, "grasp": 0.547, "fisher": 0.385,
                 "synflow": 0.763, "jacob_cov": 0.704},
    "imagenet16": {"grad_norm": 0.578, "snip": 0.578, "grasp": 0.549, "fisher": 0.327,
                   "synflow": 0.751, "jacob_cov": 0.701},
}


def metric_dataset(metric: str, columns: Sequence[str] = METRICS) -> str:
    """The dataset of an accuracy column (``cifar100_val_12`` -> ``cifar100``), checked."""
    if metric not in METRICS or metric not in columns:
        raise nascore.ConfigError(
            f"unknown accuracy column {metric!r}; columns: "
            f"{', '.join(m for m in METRICS if m in columns)}")
    return metric.split("_")[0]


def parse_proxies(text: str) -> list[str]:
    """``a,b,...`` as proxy names, each checked."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in PROXIES]
    if not names or unknown:
        raise nascore.ConfigError(
            f"unknown proxy {unknown[0] if unknown else text!r}; proxies: {', '.join(PROXIES)}")
    return names


def cifar10_data(proxies: Sequence[str], data_dir: str | None, seed: int,
                 dataset: str = "cifar10") -> SearchData | None:
    """CIFAR-10 from ``data_dir`` when a proxy needs data (a one-line error without it, or when
    the accuracy is another ``dataset``'s)."""
    needing = [n for n in proxies if PROXIES[n].needs_data]
    if not needing:
        return None
    if dataset != "cifar10":
        raise nascore.DataError(
            f"proxy {', '.join(needing)} scores a CIFAR-10 minibatch and the accuracy column is "
            f"{dataset}'s: choose a cifar10_* --metric, or keep to synflow, params and flops")
    if not data_dir:
        raise nascore.DataError(
            f"proxy {', '.join(needing)} scores a CIFAR-10 minibatch: pass --data-dir DIR with "
            "the CIFAR-10 python version (nascore never downloads), or keep to synflow, params "
            "and flops")
    return SearchData(DataConfig(dataset="cifar10", data_dir=data_dir), seed)


def bench_zerocost(proxies: Sequence[str], sample: int, seed: int = 0,
                   data_dir: str | None = None, batch_size: int = 64,
                   metric: str = "cifar10_test_200") -> dict[str, Any]:
    """Score ``sample`` seeded NB201 cells with every proxy; correlations with the accuracy
    column ``metric`` (default: CIFAR-10 test accuracy after 200 epochs) and seconds per
    network."""
    table = load_table()
    dataset = metric_dataset(metric, list(table.columns))
    cells = sorted(table.rows, key=table.rows.__getitem__)
    count = min(sample, len(cells))
    picked = sorted(np.random.default_rng(seed).choice(len(cells), count, replace=False))
    data = cifar10_data(proxies, data_dir, seed, dataset)
    space = NB201Space(NB201Config(), data.info if data is not None else DATASETS[dataset])
    if space.data != DATASETS[dataset]:
        raise nascore.DataError(f"{data_dir} does not hold 32x32 CIFAR-10 images")
    context = SearchContext(space=space, seed=seed, device=torch.device("cpu"),
                            events=EventLog(None), data=data)
    accuracy = table.columns[metric][picked]
    paper = PAPER_SPEARMAN[dataset] if metric == test_column(dataset) else {}
    archs = [space.parse(cells[i]) for i in picked]
    rows = []
    for name in proxies:
        estimator = PROXIES[name](ZeroCostConfig(batch_size=batch_size), context)
        began = time.perf_counter()
        scores = np.array([estimator.estimate(a).score for a in archs])
        seconds = (time.perf_counter() - began) / count
        rows.append(correlations(name, scores, accuracy, seconds, paper.get(name)))
    return {"space": "nb201", "accuracy": metric, "cells": count, "seed": seed,
            "rows": rows, "spearman": {r["proxy"]: r["spearman"] for r in rows}}


def correlations(name: str, scores: np.ndarray, accuracy: np.ndarray,
                 seconds: float, paper: float | None = None) -> dict[str, Any]:
    """One row: Spearman and Kendall of ``scores`` with ``accuracy`` (non-finite scores rank
    last) and ``paper``, the published Spearman (None when there is none)."""
    finite = np.isfinite(scores)
    ranked = np.where(finite, scores, -np.inf)
    return {
        "proxy": name,
        "spearman": float(stats.spearmanr(ranked, accuracy).statistic),
        "kendall": float(stats.kendalltau(ranked, accuracy).statistic),
        "seconds_per_network": seconds,
        "non_finite": int((~finite).sum()),
        "paper_spearman": paper,
    }


def format_table(result: Mapping[str, Any]) -> str:
    """The rows as an aligned text table."""
    head = ["proxy", "spearman", "kendall", "paper spearman", "s/network"]
    lines = [head] + [[
        r["proxy"], f"{r['spearman']:.3f}", f"{r['kendall']:.3f}",
        "-" if r["paper_spearman"] is None else f"{r['paper_spearman']:.3f}",
        f"{r['seconds_per_network']:.3f}"] for r in result["rows"]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)
    return (f"{text}\n{result['cells']} NAS-Bench-201 cells (seed {result['seed']}) against "
            f"{result['accuracy']}" + ("" if all(math.isfinite(r["spearman"])
                                                  for r in result["rows"]) else
                                      "; nan: a proxy gave every cell the same score"))
