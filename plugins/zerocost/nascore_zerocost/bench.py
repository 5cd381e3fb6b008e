"""``nas bench zerocost``: rank correlation of proxies with NAS-Bench-201's CIFAR-10 accuracy.

N cells drawn without replacement from the 15,625 (seeded; all of them when N reaches that), each
network built at the benchmark's size (C=16, N=5 cells per stage, 3x32x32 input, 10 classes: the
``nb201`` space's defaults) and scored by every proxy; Spearman's rho and Kendall's tau (scipy)
against the table's 200-epoch CIFAR-10 test accuracy (``cifar10_test_200``), with the mean
seconds per network. Data-dependent proxies score one CIFAR-10 minibatch from ``data_dir``.
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
from nascore_zerocost.estimators import PROXIES, ZeroCostConfig

#: NAS-Bench-201's CIFAR-10 networks: 3x32x32 images, 10 classes.
CIFAR10 = DataInfo(3, 32, 10)
#: Spearman's rho on all of NAS-Bench-201, CIFAR-10, as published by Abdelfattah et al. (ICLR
#: 2021, Table 2, from memory of the paper: see the plugin README for how sure each value is).
PAPER_SPEARMAN = {"grad_norm": 0.58, "snip": 0.58, "grasp": 0.48, "fisher": 0.36,
                  "synflow": 0.74, "jacob_cov": 0.73}


def parse_proxies(text: str) -> list[str]:
    """``a,b,...`` as proxy names, each checked."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in PROXIES]
    if not names or unknown:
        raise nascore.ConfigError(
            f"unknown proxy {unknown[0] if unknown else text!r}; proxies: {', '.join(PROXIES)}")
    return names


def cifar10_data(proxies: Sequence[str], data_dir: str | None, seed: int) -> SearchData | None:
    """CIFAR-10 from ``data_dir`` when a proxy needs data (a one-line error without it)."""
    needing = [n for n in proxies if PROXIES[n].needs_data]
    if not needing:
        return None
    if not data_dir:
        raise nascore.DataError(
            f"proxy {', '.join(needing)} scores a CIFAR-10 minibatch: pass --data-dir DIR with "
            "the CIFAR-10 python version (nascore never downloads), or keep to synflow, params "
            "and flops")
    return SearchData(DataConfig(dataset="cifar10", data_dir=data_dir), seed)


def bench_zerocost(proxies: Sequence[str], sample: int, seed: int = 0,
                   data_dir: str | None = None, batch_size: int = 64) -> dict[str, Any]:
    """Score ``sample`` seeded NB201 cells with every proxy; correlations with CIFAR-10 test
    accuracy (200 epochs) and seconds per network."""
    table = load_table()
    cells = sorted(table.rows, key=table.rows.__getitem__)
    count = min(sample, len(cells))
    picked = sorted(np.random.default_rng(seed).choice(len(cells), count, replace=False))
    data = cifar10_data(proxies, data_dir, seed)
    space = NB201Space(NB201Config(), data.info if data is not None else CIFAR10)
    if space.data != CIFAR10:
        raise nascore.DataError(f"{data_dir} does not hold 32x32 CIFAR-10 images")
    context = SearchContext(space=space, seed=seed, device=torch.device("cpu"),
                            events=EventLog(None), data=data)
    accuracy = table.columns[test_column("cifar10")][picked]
    archs = [space.parse(cells[i]) for i in picked]
    rows = []
    for name in proxies:
        estimator = PROXIES[name](ZeroCostConfig(batch_size=batch_size), context)
        began = time.perf_counter()
        scores = np.array([estimator.estimate(a).score for a in archs])
        seconds = (time.perf_counter() - began) / count
        rows.append(correlations(name, scores, accuracy, seconds))
    return {"space": "nb201", "accuracy": "cifar10_test_200", "cells": count, "seed": seed,
            "rows": rows, "spearman": {r["proxy"]: r["spearman"] for r in rows}}


def correlations(name: str, scores: np.ndarray, accuracy: np.ndarray,
                 seconds: float) -> dict[str, Any]:
    """One row: Spearman and Kendall of ``scores`` with ``accuracy`` (non-finite scores rank
    last), the paper's Spearman when it has one."""
    finite = np.isfinite(scores)
    ranked = np.where(finite, scores, -np.inf)
    return {
        "proxy": name,
        "spearman": float(stats.spearmanr(ranked, accuracy).statistic),
        "kendall": float(stats.kendalltau(ranked, accuracy).statistic),
        "seconds_per_network": seconds,
        "non_finite": int((~finite).sum()),
        "paper_spearman": PAPER_SPEARMAN.get(name),
    }


def format_table(result: Mapping[str, Any]) -> str:
    """The rows as an aligned text table."""
    head = ["proxy", "spearman", "kendall", "paper spearman", "s/network"]
    lines = [head] + [[
        r["proxy"], f"{r['spearman']:.3f}", f"{r['kendall']:.3f}",
        "-" if r["paper_spearman"] is None else f"{r['paper_spearman']:.2f}",
        f"{r['seconds_per_network']:.3f}"] for r in result["rows"]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)
    return (f"{text}\n{result['cells']} NAS-Bench-201 cells (seed {result['seed']}) against "
            f"{result['accuracy']}" + ("" if all(math.isfinite(r["spearman"])
                                                  for r in result["rows"]) else
                                      "; nan: a proxy gave every cell the same score"))
