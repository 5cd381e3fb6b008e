"""The discrete strategies' zero-cost warm-up (strategy.warmup_proxy) with the synflow proxy."""

from __future__ import annotations

import numpy as np
import pytest

import nascore
from nascore import registry
from nascore.strategies.discrete import run_search


def make_search(name, context, **options):
    from nascore.estimators.nb201 import NB201Estimator, NB201EstimatorConfig

    context.estimator = NB201Estimator(NB201EstimatorConfig(), context)
    cls = registry().get("strategy", name)
    return cls(cls.configure({"queries": 12, **options}), context)


def proxy_order(space, context, samples, seed):
    """The warm-up's candidates ranked by synflow, computed here independently."""
    rng = np.random.default_rng(seed)
    archs = list({a.key(): a for a in (space.sample(rng) for _ in range(samples))}.values())
    cls = registry().get("estimator", "synflow")
    synflow = cls(cls.config_cls(), context)
    scores = [synflow.estimate(a).score for a in archs]
    return [archs[i].key() for i in np.argsort(-np.array(scores), kind="stable")]


def test_the_first_proposals_are_the_proxys_best(make_context, tiny_space) -> None:
    best = proxy_order(tiny_space, make_context(), 20, seed=0)
    search = make_search("random", make_context(), warmup_proxy="synflow", warmup_samples=20,
                         warmup_top=3)
    run_search(search)
    assert [q.arch.key() for q in search.history[:3]] == best[:3]
    plain = make_search("random", make_context())
    run_search(plain)
    assert [q.arch.key() for q in plain.history[:3]] != best[:3]


def test_the_warm_up_seeds_evolutions_population(make_context, tiny_space) -> None:
    best = proxy_order(tiny_space, make_context(), 30, seed=0)
    search = make_search("evolution", make_context(), warmup_proxy="synflow", warmup_samples=30,
                         population=4, sample_size=2)
    run_search(search)
    assert [q.arch.key() for q in search.history[:4]] == best[:4]
    assert len(search.history) == 12


def test_the_warm_up_resumes_with_what_is_left(make_context) -> None:
    options = {"warmup_proxy": "synflow", "warmup_samples": 20, "warmup_top": 5,
               "queries_per_epoch": 2}
    whole = make_search("random", make_context(), **options)
    run_search(whole)
    first = make_search("random", make_context(), **options)
    for _ in first.run_epoch(0):
        pass
    resumed = make_search("random", make_context(), **options)
    resumed.load_state_dict(first.state_dict())
    run_search(resumed)
    assert [q.arch.key() for q in resumed.history] == [q.arch.key() for q in whole.history]


def test_an_unknown_warm_up_proxy_is_one_line(make_context) -> None:
    search = make_search("random", make_context(), warmup_proxy="nosuch")
    with pytest.raises(nascore.NascoreError, match="nosuch"):
        run_search(search)


def test_bench_nb201_gains_a_warm_up_row() -> None:
    from nascore.bench.nb201 import bench_nb201, bench_plan

    plan = bench_plan(["evolution"], [], {"warmup_samples": 3}, ["synflow"])
    assert plan == [("evolution", {"warmup_samples": 3}),
                    ("evolution", {"warmup_samples": 3, "warmup_proxy": "synflow"})]
    strategy, options = plan[1]
    result = bench_nb201(strategy, queries=4, repeats=1, options={**options, "population": 3,
                                                                  "sample_size": 2})
    assert result["label"] == "evolution (synflow warm-up of 3)"
    assert result["config"]["warmup_proxy"] == "synflow"
