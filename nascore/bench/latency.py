"""``nas bench latency``: how well a space's latency table predicts measured latencies.

Samples architectures of a space with a ``latency`` cost table, builds each network and
compares the table's prediction (``constant`` plus the chosen candidates' per-op latencies)
with the network's latency measured end to end by the same :class:`~nascore.latency.LatencyMeter`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from nascore.errors import IncompatibleError
from nascore.latency import LatencyConfig, LatencyMeter, measuring_with
from nascore.plugins import make_space, registry
from nascore.space import DataInfo


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation of two equally long sequences."""
    return float(np.corrcoef(np.asarray(x, float), np.asarray(y, float))[0, 1])


def _ranks(values: Sequence[float]) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (the Pearson correlation of the ranks; ties broken by order)."""
    return pearson(_ranks(x), _ranks(y))


def prediction_errors(predicted: Sequence[float], measured: Sequence[float]) -> dict[str, float]:
    """Pearson and Spearman correlation, mean absolute error (seconds), mean relative error
    (of the measured value) and mean signed relative error (negative: the table
    underestimates)."""
    p, m = np.asarray(predicted, float), np.asarray(measured, float)
    return {
        "pearson": pearson(p, m),
        "spearman": spearman(p, m),
        "mean_abs_error": float(np.mean(np.abs(p - m))),
        "mean_rel_error": float(np.mean(np.abs(p - m) / m)),
        "mean_signed_rel_error": float(np.mean((p - m) / m)),
    }


def bench_latency(
    space_name: str = "darts",
    space_options: Mapping[str, Any] | None = None,
    info: DataInfo | None = None,
    samples: int = 50,
    seed: int = 0,
    config: LatencyConfig | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Predicted and measured latency of ``samples`` random architectures (rows) and
    :func:`prediction_errors` over them (``summary``)."""
    info = info or DataInfo(in_channels=3, image_size=16, num_classes=10)
    cls = registry().get("space", space_name)
    if "cost" not in cls.capabilities or "latency" not in cls.cost_metrics \
            or not hasattr(cls, "one_hot"):
        raise IncompatibleError(f"space {space_name} has no latency table; use darts")
    space = make_space(space_name, space_options, info)
    meter = LatencyMeter(config, device)
    began = time.perf_counter()
    with measuring_with(meter):
        table = space.cost_table("latency")
    table_seconds = time.perf_counter() - began
    rng = np.random.default_rng(seed)
    example = torch.zeros(1, info.in_channels, info.image_size, info.image_size)
    rows = []
    for _ in range(samples):
        arch = space.sample(rng)
        rows.append({
            "architecture": arch.key(),
            "predicted": table.exact(space.one_hot(arch)),
            "measured": meter.measure(space.build_network(arch), example),
        })
    summary = prediction_errors([r["predicted"] for r in rows], [r["measured"] for r in rows])
    return {
        "space": space_name, "options": dict(space_options or {}),
        "shape": [meter.config.batch, info.in_channels, info.image_size, info.image_size],
        "meter": meter.key(), "samples": samples, "table_seconds": table_seconds,
        "summary": summary, "rows": rows,
    }


def format_summary(result: Mapping[str, Any]) -> str:
    """The summary of :func:`bench_latency` as a two-column text table."""
    s = result["summary"]
    measured = [r["measured"] for r in result["rows"]]
    predicted = [r["predicted"] for r in result["rows"]]
    meter = result["meter"]
    lines = [
        ("space", f"{result['space']} {result['options']}"),
        ("input", "x".join(map(str, result["shape"]))),
        ("meter", f"{meter['backend']} on {meter['device']}, {meter['threads']} thread(s), "
                  f"{meter['clock']} clock, median of {meter['repeats']}"),
        ("architectures", str(result["samples"])),
        ("measured ms", f"{min(measured) * 1e3:.3f} .. {max(measured) * 1e3:.3f}"),
        ("predicted ms", f"{min(predicted) * 1e3:.3f} .. {max(predicted) * 1e3:.3f}"),
        ("pearson", f"{s['pearson']:.3f}"),
        ("spearman", f"{s['spearman']:.3f}"),
        ("mean abs error ms", f"{s['mean_abs_error'] * 1e3:.3f}"),
        ("mean rel error", f"{s['mean_rel_error']:.1%}"),
        ("mean signed rel error", f"{s['mean_signed_rel_error']:+.1%}"),
    ]
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in lines)
