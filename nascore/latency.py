"""Latency: the ``latency`` constraint, its meter and the on-disk cache of latency cost tables.

A :class:`LatencyMeter` times forward passes of a module on one device (the CPU at the run's
torch threads, or a GPU with synchronisation) at the batch size of its :class:`LatencyConfig`:
``warmup`` untimed passes, then ``repeats`` timed ones, whose median is the latency in seconds.
The backend is eager torch or ONNX Runtime (the module exported to ONNX in memory).

Spaces with cost tables measure per-candidate latencies with the meter :func:`current_meter`
returns (the constraint's, inside :meth:`LatencyConstraint.measuring`), :func:`calibrate` them
on a few whole networks, and keep them under :func:`cache_dir` (:func:`cached_table`), measured
once per device, threads, torch version and shape.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import json
import os
import re
import statistics
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np
import torch
from torch import nn

from nascore.config import field, non_negative, one_of, positive
from nascore.constraint import Constraint
from nascore.costs import CostTable
from nascore.errors import ConfigError, UsageError

#: Seconds per unit of a latency bound.
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
_LATENCY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(us|ms|s)\s*$")
BACKENDS = ("torch", "onnxruntime")
#: Clocks of a meter: elapsed (wall) time, or the CPU time of the measuring thread.
CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}
#: Random architectures a latency table is calibrated on besides its cheapest and dearest.
CALIBRATION_SAMPLES = 6
#: Environment variable naming the cache directory (default ``~/.cache/nascore``).
CACHE_ENV = "NASCORE_CACHE"


def parse_latency(text: str) -> float:
    """``"5ms"``, ``"800us"``, ``"0.1s"`` -> seconds (a unit is required)."""
    match = _LATENCY.match(text)
    if match is None:
        raise ConfigError(f"cannot read latency {text!r}: give a number with a unit "
                          "(us, ms or s), e.g. 800us, 5ms, 0.1s")
    return float(match.group(1)) * UNITS[match.group(2)]


def format_latency(seconds: float) -> str:
    """Seconds in the unit that reads best: ``0.005`` -> ``"5ms"``."""
    unit = "s" if abs(seconds) >= 1 else "ms" if abs(seconds) >= 1e-3 else "us"
    return f"{round(seconds / UNITS[unit], 9):g}{unit}"


@attrs.frozen
class LatencyConfig:
    """Settings of the ``latency`` constraint (``[constraint]`` ``latency.KEY``; nascore's own,
    no paper)."""

    batch: int = field(1, "batch size of the timed forward passes (the input is the data's "
                       "shape)", validator=positive)
    warmup: int = field(10, "untimed forward passes before timing", validator=non_negative)
    repeats: int = field(30, "timed forward passes; the latency is their median",
                         validator=positive)
    backend: str = field("torch", "torch (eager) or onnxruntime (the network exported to ONNX "
                         "in memory)", validator=one_of(*BACKENDS))
    device: str = field("run", "run (the run's device), cpu, cuda or cuda:N")
    clock: str = field("wall", "wall (elapsed time: what a caller waits) or cpu (the "
                       "measuring thread's CPU time: not inflated by other processes sharing "
                       "the cores; the latency when torch runs 1 thread; CPU only)",
                       validator=one_of(*CLOCKS))


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class LatencyMeter:
    """Median seconds of a forward pass (see the module docstring); ``timer`` returns seconds
    (default: the config's ``clock``; tests inject a fake clock)."""

    def __init__(self, config: LatencyConfig | None = None, device: str | torch.device = "cpu",
                 timer: Callable[[], float] | None = None) -> None:
        self.config = config or LatencyConfig()
        try:
            self.device = torch.device(device)
        except RuntimeError:
            raise ConfigError(f"constraint.latency.device: unknown device {device!r}; use run, "
                              "cpu, cuda or cuda:N") from None
        if self.config.clock == "cpu" and self.device.type != "cpu":
            raise ConfigError("constraint.latency.clock=cpu times the CPU only; use clock=wall "
                              f"on {self.device}")
        self.timer = timer or CLOCKS[self.config.clock]
        if self.config.backend == "onnxruntime":
            import importlib.util

            missing = [m for m in ("onnxruntime", "onnxscript")
                       if importlib.util.find_spec(m) is None]
            if missing:
                raise UsageError(f"latency backend onnxruntime needs {' and '.join(missing)}: "
                                 "pip install 'nascore[onnx]'")

    def key(self) -> dict[str, Any]:
        """What a measurement depends on besides the module and shape (the cache key)."""
        device = str(self.device)
        if self.device.type == "cuda":
            device += f" {torch.cuda.get_device_name(self.device)}"
        key = {"device": device, "torch": torch.__version__, "threads": torch.get_num_threads(),
               **attrs.asdict(self.config, filter=lambda a, _v: a.name != "device")}
        if self.config.backend == "onnxruntime":
            import onnxruntime

            key["onnxruntime"] = onnxruntime.__version__
        return key

    def time(self, run: Callable[[], Any]) -> float:
        """Median seconds of ``run()`` over ``repeats`` timed calls after ``warmup`` untimed."""
        for _ in range(self.config.warmup):
            run()
        _synchronize(self.device)
        times = []
        for _ in range(self.config.repeats):
            began = self.timer()
            run()
            _synchronize(self.device)
            times.append(self.timer() - began)
        return statistics.median(times)

    def measure(self, module: nn.Module, example: torch.Tensor) -> float:
        """Median seconds of ``module``'s forward pass on a batch of ``config.batch`` inputs of
        ``example``'s shape (eval mode; the module is left as it was)."""
        shape = (self.config.batch, *example.shape[1:])
        was_training = module.training
        try:
            with torch.no_grad():
                if self.config.backend == "onnxruntime":
                    return self.time(self._onnx_run(module.eval(), torch.zeros(shape)))
                target = module if self.device.type == "cpu" else copy.deepcopy(module)
                target = target.to(self.device).eval()
                x = torch.zeros(shape, device=self.device)
                return self.time(lambda: target(x))
        finally:
            module.train(was_training)

    def _onnx_run(self, module: nn.Module, x: torch.Tensor) -> Callable[[], Any]:
        import onnxruntime

        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module.cpu(), (x,), dynamo=True, verbose=False)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        provider = "CUDAExecutionProvider" if self.device.type == "cuda" else \
            "CPUExecutionProvider"
        session = onnxruntime.InferenceSession(program.model_proto.SerializeToString(), options,
                                               providers=[provider])
        feed = {session.get_inputs()[0].name: x.numpy()}
        return lambda: session.run(None, feed)


_METER: ContextVar[LatencyMeter | None] = ContextVar("nascore_latency_meter", default=None)


@contextlib.contextmanager
def measuring_with(meter: LatencyMeter) -> Iterator[LatencyMeter]:
    """Make ``meter`` the one latency cost tables are measured with, inside the block."""
    token = _METER.set(meter)
    try:
        yield meter
    finally:
        _METER.reset(token)


def current_meter() -> LatencyMeter:
    """The meter of the enclosing :func:`measuring_with`, else one with the default settings
    on the CPU."""
    return _METER.get() or LatencyMeter()


def cache_dir() -> Path:
    """``$NASCORE_CACHE``, else ``~/.cache/nascore``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "nascore")


def _table_to_json(table: CostTable) -> dict[str, Any]:
    return {"metric": table.metric, "constant": table.constant,
            "per_group": {k: v.tolist() for k, v in table.per_group.items()},
            "gates": {k: [g, c.tolist()] for k, (g, c) in table.gates.items()}}


def _table_from_json(data: Mapping[str, Any]) -> CostTable:
    return CostTable(
        data["metric"], float(data["constant"]),
        {k: torch.tensor(v, dtype=torch.float64) for k, v in data["per_group"].items()},
        {k: (g, torch.tensor(c, dtype=torch.long)) for k, (g, c) in data["gates"].items()},
    )


def cached_table(key: Mapping[str, Any], build: Callable[[], CostTable]) -> CostTable:
    """The table stored under ``key`` in :func:`cache_dir` (``latency/<hash>.json``), else
    ``build()``, stored there. A file that does not read back is measured again."""
    text = json.dumps(key, sort_keys=True, default=str)
    path = cache_dir() / "latency" / f"{hashlib.sha256(text.encode()).hexdigest()[:20]}.json"
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        data = json.loads(path.read_text())
        if data["key"] == json.loads(text):
            return _table_from_json(data["table"])
    table = build()
    with contextlib.suppress(OSError):  # a read-only cache costs a measurement, not the run
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": json.loads(text), "table": _table_to_json(table)}))
        tmp.replace(path)
    return table


def calibrate(table: CostTable, points: Sequence[tuple[float, float]]) -> CostTable:
    """``table`` scaled by the least-squares factor ``a`` of ``measured = a * predicted`` over
    ``points`` of (table prediction, measured latency) of whole networks: every entry and the
    constant times ``a``, so the table's sum stays its constant plus the chosen entries, and
    stays positive. Per-op latencies measured alone miss part of what the ops cost inside a
    network (cold caches, layout changes between ops)."""
    x = np.asarray([p for p, _ in points], float)
    y = np.asarray([m for _, m in points], float)
    a = float(x @ y / (x @ x)) if float(x @ x) > 0 else 1.0
    a = a if a > 0 else 1.0
    return CostTable(table.metric, a * table.constant,
                     {k: a * v for k, v in table.per_group.items()}, dict(table.gates))


class LatencyConstraint(Constraint):
    """Median seconds of a forward pass of the built network on the run's device (bounds with
    units: ``latency:..5ms``; settings under ``[constraint]`` ``latency.*``). One-shot
    strategies enforce it through the space's ``latency`` cost table (per-op latencies)."""

    name = "latency"
    metric = "latency"
    config_cls: ClassVar[type | None] = LatencyConfig
    table_predicts = True
    noisy = True

    def __init__(self, low: float | None = None, high: float | None = None) -> None:
        super().__init__(low, high)
        self.meter = LatencyMeter()

    @classmethod
    def from_spec(cls, bounds: str) -> LatencyConstraint:
        low_text, sep, high_text = bounds.partition("..")
        if not sep:
            raise ConfigError(f"latency bounds look like LOW..HIGH with units (e.g. ..5ms), "
                              f"got {bounds!r}")
        low, high = (parse_latency(t) if t.strip() else None for t in (low_text, high_text))
        if low is not None and high is not None and low > high:
            raise ConfigError(f"bounds {bounds!r} are empty: lower end above upper end")
        return cls(low, high)

    def spec(self) -> str:
        low = "" if self.low is None else format_latency(self.low)
        high = "" if self.high is None else format_latency(self.high)
        return f"{self.name}:{low}..{high}"

    def configure(self, config: Any, device: torch.device | None = None) -> None:
        run_device = device if device is not None else torch.device("cpu")
        self.meter = LatencyMeter(config, run_device if config.device == "run" else config.device)

    def measuring(self) -> contextlib.AbstractContextManager[Any]:
        return measuring_with(self.meter)

    def measure(self, network: nn.Module, example: torch.Tensor) -> float:
        return self.meter.measure(network, example)
