"""The core ``latency`` constraint: units, the meter's median, the cached per-op table, and
latency-bounded discrete and one-shot searches (tiny; no wall-clock thresholds)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nascore.costs import CostTable
from nascore.errors import ConfigError, IncompatibleError, InfeasibleError
from nascore.latency import (
    CACHE_ENV,
    LatencyConfig,
    LatencyConstraint,
    LatencyMeter,
    calibrate,
    format_latency,
    measuring_with,
    parse_latency,
)
from nascore.oneshot.constraints import cost_tables
from nascore.plugins import make_space
from nascore.runner import parse_constraint, resolve_config, start_run
from nascore.space import DataInfo

QUICK = LatencyConfig(warmup=0, repeats=1)


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Latency tables go to a fresh cache directory."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def tiny_space(image_size: int = 8):
    return make_space("darts", {"channels": 4, "layers": 2},
                      DataInfo(in_channels=1, image_size=image_size, num_classes=10))


def test_bounds_need_units_and_read_back_in_the_best_unit():
    assert parse_latency("5ms") == pytest.approx(5e-3)
    assert parse_latency("800us") == pytest.approx(8e-4)
    assert parse_latency(" 0.1 s ") == pytest.approx(0.1)
    assert format_latency(0.005) == "5ms" and format_latency(8e-4) == "800us"
    c = parse_constraint("latency:800us..1.5s")
    assert isinstance(c, LatencyConstraint)
    assert (c.low, c.high) == (pytest.approx(8e-4), pytest.approx(1.5))
    assert c.spec() == "latency:800us..1.5s" and parse_constraint(c.spec()).high == c.high
    for bad in ("latency:..5", "latency:..5 min", "latency:5ms", "latency:2s..1s", "latency:.."):
        with pytest.raises(ConfigError):
            parse_constraint(bad)


def test_settings_are_a_config_section_of_their_own():
    tree = resolve_config("random", "nb201", flags={"estimator": "nb201"},
                          overrides=['run.constraints=["latency:..5ms"]',
                                     "constraint.latency.batch=4"])
    assert tree["constraint"]["latency.batch"] == 4
    assert tree["constraint"]["latency.repeats"] == LatencyConfig().repeats
    assert parse_constraint("latency:..5ms", tree["constraint"]).meter.config.batch == 4
    with pytest.raises(ConfigError, match="constraint the run does not have"):
        resolve_config("random", "nb201", flags={"estimator": "nb201"},
                       overrides=["constraint.latency.batch=4"])
    with pytest.raises(ConfigError, match="backend"):
        resolve_config("random", "nb201", flags={"estimator": "nb201"},
                       overrides=['run.constraints=["latency:..5ms"]',
                                  "constraint.latency.backend=tvm"])


class Counting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.shapes.append(tuple(x.shape))
        return x


def test_the_meter_times_repeats_after_warmup_and_takes_the_median():
    durations = [5.0, 1.0, 3.0, 9.0, 2.0]  # median 3
    ticks = iter(np.cumsum([x for d in durations for x in (100.0, d)]).tolist())
    meter = LatencyMeter(LatencyConfig(batch=3, warmup=2, repeats=5), timer=lambda: next(ticks))
    module = Counting().train()
    assert meter.measure(module, torch.zeros(1, 2, 4, 4)) == pytest.approx(3.0)
    assert module.calls == 7 and set(module.shapes) == {(3, 2, 4, 4)}
    assert module.training  # left as it was


def test_the_table_is_measured_once_and_read_back_per_shape(cache: Path):
    space = tiny_space()
    calls = []
    meter = LatencyMeter(QUICK, timer=lambda: calls.append(1) or float(len(calls)))
    with measuring_with(meter):
        first = space.cost_table("latency")
        assert calls and len(list((cache / "latency").glob("*.json"))) == 1
        calls.clear()
        second = space.cost_table("latency")
        assert not calls  # read from the file, nothing timed
        assert second.constant == first.constant
        assert all(torch.equal(second.per_group[k], first.per_group[k]) for k in first.per_group)
        tiny_space(image_size=12).cost_table("latency")  # another shape: measured, a new file
    assert calls and len(list((cache / "latency").glob("*.json"))) == 2


def test_table_sum_is_the_constant_plus_the_chosen_entries():
    space = tiny_space()
    with measuring_with(LatencyMeter(QUICK)):
        table = space.cost_table("latency")
    arch = space.sample(np.random.default_rng(0))
    kept = space.one_hot(arch)
    by_hand = table.constant + sum(float(table.per_group[g][kept[g]].sum()) for g in kept)
    assert table.exact(kept) == pytest.approx(by_hand)


def test_calibration_scales_the_table_by_the_least_squares_factor():
    table = CostTable("latency", 1.0, {"g": torch.tensor([[1.0, 2.0], [3.0, 4.0]],
                                                         dtype=torch.float64)})
    kept = {"g": torch.tensor([[True, False], [False, True]])}  # 1 + 1 + 4 = 6
    # a = (2*3 + 4*9) / (2*2 + 4*4) = 42 / 20
    fitted = calibrate(table, [(2.0, 3.0), (4.0, 9.0)])
    assert fitted.exact(kept) == pytest.approx(6 * 2.1)
    assert fitted.constant == pytest.approx(2.1)
    assert torch.allclose(fitted.per_group["g"], 2.1 * table.per_group["g"])


def test_one_shot_strategies_get_the_table_through_the_constraint():
    space = tiny_space()
    constraint = LatencyConstraint(high=1.0)
    constraint.configure(QUICK)
    tables = cost_tables(space, [constraint], {})
    assert tables["latency"].metric == "latency" and tables["latency"].constant != 0
    nb201 = make_space("nb201", {}, DataInfo(in_channels=3, image_size=8, num_classes=10))
    with pytest.raises(IncompatibleError, match="no per-candidate cost tables"):
        cost_tables(nb201, [constraint], {})


def _run(tmp_path: Path, strategy: str, space: str, bound: str, *overrides: str, **flags):
    tree = resolve_config(strategy, space, flags=flags, overrides=[
        "data.subset=64", f'run.constraints=["latency:{bound}"]', "constraint.latency.warmup=1",
        "constraint.latency.repeats=3", *overrides])
    return start_run(tree, tmp_path / "run", progress=False)


def test_a_discrete_search_records_the_measured_latency(tmp_path: Path):
    run, _arch = _run(tmp_path, "random", "nb201", "..10s", "strategy.queries=3",
                      estimator="nb201")
    check = json.loads((run.path / "result.json").read_text())["constraints"]["latency:..10s"]
    assert check["satisfied"] and 0 < check["value"] <= 10
    assert "predicted" not in check  # nb201 has no latency table: measured only


def test_an_unreachable_bound_is_refused_before_the_run_directory(tmp_path: Path):
    with pytest.raises(InfeasibleError, match="outside what space darts reaches"):
        _run(tmp_path, "random", "darts", "..1us", "strategy.queries=2", estimator="train",
             channels=4, layers=2)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_the_penalty_handler_derives_a_network_inside_the_bound(tmp_path: Path):
    space = tiny_space()
    with measuring_with(LatencyMeter(LatencyConfig(warmup=1, repeats=3))):
        table = space.cost_table("latency")
    from nascore.oneshot.constraints import reachable_range

    low, high = reachable_range(space, table)
    bound = format_latency(low + 0.3 * (high - low))
    run, arch = _run(tmp_path, "darts", "darts", f"..{bound}", "strategy.valid_batches=1",
                     epochs=1, channels=4, layers=2, batch_size=16)
    result = json.loads((run.path / "result.json").read_text())
    (spec, check), = result["constraints"].items()
    limit = parse_latency(bound)
    assert spec == f"latency:..{bound}" and check["predicted"] <= limit and check["value"] > 0
    assert result["constraint_repair"]["derived"][spec] == pytest.approx(check["predicted"])


PLUGIN = '''
from nascore.constraint import Constraint
from nascore.hookspecs import hookimpl

NASCORE_PLUGIN_API = 1


class Latency(Constraint):
    name = "latency"

    def measure(self, network, example):
        return 1.0


@hookimpl
def nascore_constraints():
    return [Latency]


@hookimpl
def nascore_strategies():
    {broken}
    return []
'''


def _registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *names: str):
    import importlib.metadata as md

    from nascore.plugins import ENTRY_POINT_GROUP, discover

    monkeypatch.syspath_prepend(str(tmp_path))
    for name in names:
        broken = "raise RuntimeError('no')" if name == "broken" else "pass"
        (tmp_path / f"nas_plugin_{name}.py").write_text(PLUGIN.format(broken=broken))
    return discover([md.EntryPoint("builtin", "nascore.builtins", ENTRY_POINT_GROUP),
                     *(md.EntryPoint(n, f"nas_plugin_{n}", ENTRY_POINT_GROUP) for n in names)])


def test_a_plugin_may_replace_a_builtin_name_but_two_plugins_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    reg = _registry(tmp_path, monkeypatch, "mine")
    assert reg.get("constraint", "latency").__module__ == "nas_plugin_mine"
    builtin = next(r for r in reg.plugins if r.name == "builtin")
    assert "latency" not in builtin.provides["constraint"]
    assert builtin.note == "constraint latency is plugin mine's (it replaces the core's)"
    reg = _registry(tmp_path, monkeypatch, "mine", "theirs")
    reg.collect_all()
    theirs = next(r for r in reg.plugins if r.name == "theirs")
    assert "provided by both plugin 'mine' and plugin 'theirs'" in theirs.error
    # a replacing plugin that fails later gives the name back to the core
    reg = _registry(tmp_path, monkeypatch, "broken")
    reg.collect_all()
    assert reg.get("constraint", "latency") is LatencyConstraint
    builtin = next(r for r in reg.plugins if r.name == "builtin")
    assert "latency" in builtin.provides["constraint"] and builtin.note is None


@pytest.mark.slow
def test_the_onnxruntime_backend_times_the_exported_network():
    ticks = iter(float(t) for t in range(100))
    meter = LatencyMeter(LatencyConfig(backend="onnxruntime", warmup=1, repeats=3),
                         timer=lambda: next(ticks))
    module = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.ReLU())
    assert meter.measure(module, torch.zeros(1, 2, 8, 8)) == 1.0  # each reading: one tick
    assert next(ticks) == 6.0  # 3 timed runs read the clock twice each; warm-up not at all
    assert "onnxruntime" in meter.key()


def test_a_subclass_with_tables_of_its_own_offers_latency_only_by_declaring_it():
    from nascore.spaces.darts import DartsSpace

    class OwnTables(DartsSpace):
        name = "own_tables"

        def cost_table(self, metric, proxy=None):
            return super().cost_table(metric, proxy)

    class Declared(OwnTables):
        cost_metrics = ("params", "flops", "latency")

    class Inherited(DartsSpace):
        name = "inherited"

    assert "latency" in DartsSpace.cost_metrics and "latency" in Inherited.cost_metrics
    assert OwnTables.cost_metrics == ("params", "flops")
    assert "latency" in Declared.cost_metrics


def test_prediction_errors_by_hand_and_a_tiny_bench():
    from nascore.bench.latency import bench_latency, format_summary, prediction_errors

    errors = prediction_errors([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])
    assert errors == pytest.approx({"pearson": 1.0, "spearman": 1.0, "mean_abs_error": 2.0,
                                    "mean_rel_error": 0.5, "mean_signed_rel_error": -0.5})
    assert prediction_errors([3.0, 2.0, 1.0], [1.0, 2.0, 4.0])["spearman"] == pytest.approx(-1)
    result = bench_latency("darts", {"channels": 4, "layers": 2},
                           DataInfo(in_channels=1, image_size=8, num_classes=10), samples=3,
                           config=QUICK)
    assert len(result["rows"]) == 3 and all(r["measured"] > 0 for r in result["rows"])
    assert result["shape"] == [1, 1, 8, 8] and "pearson" in format_summary(result)
    with pytest.raises(IncompatibleError, match="no latency table"):
        bench_latency("nb201", samples=2)
