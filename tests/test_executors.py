"""Executors (inline, process pool, Ray) and batched discrete search: results depend only on the
seed and the batch size, workers rebuild the estimator from the registry, and a failing worker
stops the run with a one-line error while the run directory keeps its state."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from nascore.budget import TINY
from nascore.config import build_config
from nascore.context import SearchContext
from nascore.data import DataConfig, SearchData
from nascore.errors import CandidateError, ConfigError, NonFiniteLossError
from nascore.estimators.nb201 import NB201Estimator, NB201EstimatorConfig
from nascore.estimators.train import TrainEstimator, TrainEstimatorConfig
from nascore.events import EventLog, read_events
from nascore.executors import (
    Executor,
    ExecutorConfig,
    Failure,
    InlineExecutor,
    TaskFailed,
    make_executor,
)
from nascore.executors.process import ProcessExecutor
from nascore.space import DataInfo
from nascore.spaces.darts import DartsSpace
from nascore.spaces.darts.space import DartsSpaceConfig
from nascore.spaces.nb201 import NB201Config, NB201Space
from nascore.strategies.discrete import run_search
from nascore.strategies.evolution import Evolution
from nascore.strategies.random_search import RandomSearch


@pytest.fixture(scope="module")
def data() -> SearchData:
    return SearchData(DataConfig(subset=200), seed=0)


def _context(data: SearchData, executor: Executor | None = None,
             budget=TINY) -> SearchContext:
    space = DartsSpace(DartsSpaceConfig(channels=4, layers=3), data.info)
    context = SearchContext(space=space, seed=0, device=torch.device("cpu"), events=EventLog(),
                            data=data, budget=budget, executor=executor)
    context.estimator = TrainEstimator(TrainEstimatorConfig(), context)
    return context


def _search(cls, data: SearchData, executor: Executor | None = None, **config):
    context = _context(data, executor)
    strategy = cls(build_config(cls.config_cls, config, "strategy"), context)
    try:
        run_search(strategy)
    finally:
        if executor is not None:  # as the runner does: Ray actors hold their CPUs until then
            executor.close()
    return strategy


def _history(strategy) -> list[tuple[str, float]]:
    return [(q.arch.key(), q.score) for q in strategy.history]


def test_inline_executor_maps_in_order_and_is_not_parallel() -> None:
    assert InlineExecutor().map(math.sqrt, [16.0, 1.0, 9.0]) == [4.0, 1.0, 3.0]
    assert not InlineExecutor.parallel and make_executor(ExecutorConfig()).kind == "inline"


@pytest.mark.parametrize(("values", "message"), [
    ({"workers": 2}, "needs a parallel executor; add --executor process"),
    ({"kind": "process", "address": "auto"}, "names a Ray cluster; add --executor ray"),
])
def test_executor_settings_that_cannot_work_are_one_line_errors(values, message) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config(ExecutorConfig, values, "executor")


def test_a_worker_failure_names_its_class_and_rebuilds_nascore_errors() -> None:
    failure = Failure.of(NonFiniteLossError("train loss is nan\nmore"))
    assert failure.summary() == "NonFiniteLossError: train loss is nan"
    assert isinstance(failure.nascore_error(), NonFiniteLossError)
    assert Failure.of(ValueError("bad")).nascore_error() is None


def test_process_pool_keeps_order_and_reports_the_failing_item() -> None:
    with ProcessExecutor(workers=2) as pool:
        assert pool.map(math.sqrt, [16.0, 1.0, 9.0, 4.0]) == [4.0, 1.0, 3.0, 2.0]
        with pytest.raises(TaskFailed) as caught:
            pool.map(math.sqrt, [4.0, -1.0, 9.0])
    assert caught.value.index == 1
    assert caught.value.failure.summary() == "ValueError: math domain error"


def test_batches_are_asked_before_results_and_observed_in_ask_order(data) -> None:
    one = _search(Evolution, data, queries=6, queries_per_epoch=3, population=2, sample_size=2)
    two = _search(Evolution, data, queries=6, queries_per_epoch=3, population=2, sample_size=2,
                  batch_size=2)
    again = _search(Evolution, data, queries=6, queries_per_epoch=3, population=2,
                    sample_size=2, batch_size=2)
    assert _history(two) == _history(again)
    assert _history(two)[:2] == _history(one)[:2]  # the first population is sampled alike
    assert _history(two) != _history(one)  # children of a batch see the population before it
    assert len(two.history) == 6 and not two.pending


def test_random_search_is_the_same_for_any_batch_size(data) -> None:
    base = _search(RandomSearch, data, queries=5, queries_per_epoch=5)
    batched = _search(RandomSearch, data, queries=5, queries_per_epoch=5, batch_size=4)
    assert _history(batched) == _history(base)


def test_a_failed_batch_stays_pending_and_is_estimated_again_on_resume(data) -> None:
    context = _context(data)
    strategy = RandomSearch(build_config(RandomSearch.config_cls, {
        "queries": 4, "queries_per_epoch": 4, "batch_size": 2}, "strategy"), context)
    estimate_many = context.estimator.estimate_many
    calls = []

    def failing(archs, budget=None):
        calls.append(len(archs))
        if len(calls) == 2:
            raise CandidateError("boom")
        return estimate_many(archs, budget)

    context.estimator.estimate_many = failing
    steps = strategy.run_epoch(0)
    with pytest.raises(CandidateError):
        list(steps)
    state = strategy.state_dict()
    assert len(strategy.history) == 2 and len(state["_nascore_discrete"]["pending"]) == 2
    resumed = RandomSearch(strategy.config, _context(data))
    resumed.load_state_dict(state)
    run_search(resumed)
    assert _history(resumed) == _history(_search(RandomSearch, data, queries=4,
                                                 queries_per_epoch=4))


@pytest.mark.slow
def test_process_workers_rebuild_the_estimator_and_match_inline(data) -> None:
    inline = _search(RandomSearch, data, queries=4, queries_per_epoch=4)
    with ProcessExecutor(workers=2, threads=1) as pool:
        strategy = _search(RandomSearch, data, pool, queries=4, queries_per_epoch=4,
                           batch_size=4)
        events = strategy.context.events.records
    assert _history(strategy) == _history(inline)
    estimates = [e for e in events if e["type"] == "estimate"]
    assert len(estimates) == 4 and not any(e["cached"] for e in estimates)  # from the workers
    assert len(strategy.context.estimator.cache) == 4  # cached here for resumes


# -- Ray -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray", reason="the Ray executor needs pip install 'nascore[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


def test_ray_random_search_gives_the_inline_architecture(data, ray_local) -> None:
    from nascore.executors.ray_cluster import RayExecutor

    inline = _search(RandomSearch, data, queries=4, queries_per_epoch=4)
    ray = _search(RandomSearch, data, RayExecutor(workers=2, threads=1), queries=4,
                  queries_per_epoch=4, batch_size=2)
    assert _history(ray) == _history(inline)
    assert ray.derive() == inline.derive()


def test_ray_evolution_with_batch_2_is_reproducible(data, ray_local) -> None:
    from nascore.executors.ray_cluster import RayExecutor

    options = {"queries": 6, "queries_per_epoch": 3, "population": 2, "sample_size": 2,
               "batch_size": 2}
    first = _search(Evolution, data, RayExecutor(workers=2, threads=1), **options)
    second = _search(Evolution, data, RayExecutor(workers=2, threads=1), **options)
    inline = _search(Evolution, data, **options)
    assert _history(first) == _history(second) == _history(inline)


FAILING_PLUGIN = '''
"""Test plugin: an estimator scoring a hash of the architecture, failing on one candidate."""
import os
import zlib

import attrs

from nascore import Estimate, Estimator, hookimpl

NASCORE_PLUGIN_API = 1

@attrs.frozen
class HashConfig:
    salt: int = 0


class HashScore(Estimator):
    name = "hashscore"
    config_cls = HashConfig

    def estimate(self, arch, budget=None):
        text = self.context.space.format(arch)
        if os.environ.get("FAIL_ON") == text:
            raise RuntimeError("boom on this candidate")
        return Estimate(score=zlib.crc32(f"{self.config.salt}{text}".encode()) / 2**32)


@hookimpl
def nascore_estimators():
    return [HashScore]
'''

@pytest.fixture(scope="module")
def hash_site(tmp_path_factory: pytest.TempPathFactory, install_plugin) -> Path:
    source = tmp_path_factory.mktemp("hashscore")
    target = source / "site"
    install_plugin(source, target, "hashscore", FAILING_PLUGIN)
    return target


SEARCH = ["run", "--strategy", "random", "--space", "nb201", "--estimator", "hashscore",
          "--set", "strategy.queries=6", "--set", "strategy.queries_per_epoch=6",
          "--set", "data.subset=64", "--quiet"]


@pytest.mark.slow
def test_a_failing_ray_worker_is_a_one_line_error_and_the_run_resumes(hash_site, nas,
                                                                      tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="the Ray executor needs pip install 'nascore[ray]'")
    env = {"PYTHONPATH": str(hash_site)}
    inline = tmp_path / "inline"
    nas(*SEARCH, "--out", str(inline), env_extra=env, check=True)
    queries = [e["arch"] for e in read_events(inline / "events.jsonl") if e["type"] == "query"]
    out = tmp_path / "ray"
    parallel = ["--executor", "ray", "--workers", "2", "--set", "strategy.batch_size=2"]
    proc = nas(*SEARCH, *parallel, "--out", str(out), env_extra={**env, "FAIL_ON": queries[3]})
    assert proc.returncode == 1, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert proc.stderr.count("error:") == 1 and line.startswith("error: estimating candidate ")
    assert queries[3] in line and "RuntimeError: boom on this candidate" in line
    assert f"nas resume {out}" in line
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["job"]
    own = state["_nascore_discrete"]
    assert len(own["history"]) == 2 and len(own["pending"]) == 2  # the failed batch
    nas("resume", str(out), "--quiet", env_extra=env, check=True)
    done = [e["arch"] for e in read_events(out / "events.jsonl") if e["type"] == "query"]
    assert done == queries
    assert json.loads((out / "result.json").read_text())["architecture"] == json.loads(
        (inline / "result.json").read_text())["architecture"]


def test_executor_settings_apply_to_discrete_strategies_only(nas, tmp_path: Path) -> None:
    proc = nas("run", "--strategy", "darts", "--space", "darts", "--executor", "process",
               "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "scale it with --nproc N" in proc.stderr and not (tmp_path / "x").exists()
    config = nas("config", "--strategy", "random", "--space", "nb201", "--estimator", "nb201",
                 "--executor", "ray", "--workers", "3", check=True).stdout
    assert 'kind = "ray"' in config and "workers = 3" in config


def test_tables_answer_in_this_process_even_with_an_executor() -> None:
    space = NB201Space(NB201Config(), DataInfo(3, 32, 10))
    context = SearchContext(space=space, seed=0, device=torch.device("cpu"), events=EventLog(),
                            executor=ProcessExecutor(workers=2))
    estimator = NB201Estimator(NB201EstimatorConfig(), context)
    archs = [space.sample(np.random.default_rng(seed)) for seed in range(3)]
    assert len(estimator.estimate_many(archs)) == 3
    assert estimator.queries == 3  # counted here: the lookups never left this process
