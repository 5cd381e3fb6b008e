"""The bpe1/bpe2 presets: their values and their use by every kind of strategy (tiny runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from nascore_mipbpe import BPE1, BPE2, FULL

from nascore import Architecture, count_macs, count_params, registry, testing
from nascore.plugins import make_space
from nascore.runner import resolve_config, start_run

#: Table 1 of the paper (precision and cutout: the authors' param_setting.py).
TABLE_1 = {
    "bpe1": {"epochs": 10, "batch_size": 128, "lr": 0.03, "layers": 6, "channels": 8,
             "image_size": 16, "precision": 32, "cutout": 0},
    "bpe2": {"epochs": 30, "batch_size": 128, "lr": 0.03, "layers": 16, "channels": 16,
             "image_size": 16, "precision": 32, "cutout": 0},
}
#: A run of seconds: one epoch on 48 digits images, batch 32; the budget keeps its network size.
TINY = ["budget.epochs=1", "budget.batch_size=32", "data.subset=48"]
DISCRETE = {
    "random": ["strategy.queries=2"],
    "evolution": ["strategy.queries=3", "strategy.population=2", "strategy.sample_size=1"],
    "reinforce": ["strategy.queries=2"],
}


def test_presets_are_table_1_and_registered() -> None:
    for name, preset in (("bpe1", BPE1), ("bpe2", BPE2)):
        assert {k: getattr(preset, k) for k in TABLE_1[name]} == TABLE_1[name]
        assert registry().get("budget", name) == preset
    assert (FULL.layers, FULL.channels, FULL.epochs, FULL.cutout) == (20, 36, 600, 16)
    assert (FULL.batch_size, FULL.lr, FULL.image_size, FULL.precision) == (96, 0.025, None, 32)
    # The DARTS retraining recipe's regularisers (auxiliary towers 0.4, path dropout 0.2).
    assert (FULL.auxiliary_weight, FULL.drop_path) == (0.4, 0.2)
    assert (BPE1.auxiliary_weight, BPE1.drop_path, BPE2.auxiliary_weight, BPE2.drop_path) == (
        0.0, 0.0, 0.0, 0.0)
    registry().collect_all()
    owners = {p.name: p.provides for p in registry().plugins}
    assert owners["mipbpe"]["budget"] == ["bpe1", "bpe2"]
    assert sorted(owners["mipbpe"]["command"]) == ["bpe", "budgets"]


@pytest.mark.parametrize("strategy", sorted(DISCRETE))
def test_bpe1_trains_every_estimate_of_a_discrete_strategy(strategy: str, tmp_path: Path) -> None:
    tree = resolve_config(strategy, "darts", {"estimator": "train", "budget": "bpe1"},
                          overrides=[*TINY, *DISCRETE[strategy]])
    assert {k: tree["budget"][k] for k in ("layers", "channels", "image_size", "lr")} == {
        "layers": 6, "channels": 8, "image_size": 16, "lr": 0.03}
    run, _arch = start_run(tree, tmp_path / strategy, progress=False)
    events = [json.loads(line) for line in (run.path / "events.jsonl").read_text().splitlines()]
    estimates = [e for e in events if e.get("type") == "estimate" and not e["cached"]]
    assert estimates
    space = make_space("darts", None, testing.tiny_data().info)
    for event in estimates:  # each network is BPE-1's: 6 cells of 8 channels on 16x16 images
        arch = space.parse(event["arch"])
        network = space.build_network(arch, channels=8, layers=6, num_classes=10, in_channels=1)
        assert event["params"] == count_params(network)
        assert event["flops"] == count_macs(network, torch.zeros(1, 1, 16, 16))
    assert isinstance(Architecture.load(run.path / "architecture.json"), Architecture)


@pytest.mark.parametrize("preset", ["bpe1", "bpe2"])
def test_a_budget_sizes_the_darts_proxy_supernet_and_schedule(preset: str) -> None:
    budget = registry().get("budget", preset)
    strategy = testing.make_strategy("darts", budget=budget)
    assert len(strategy.supernet.cells) == budget.layers
    stem = next(m for m in strategy.supernet.modules() if isinstance(m, torch.nn.Conv2d))
    assert stem.out_channels == 3 * budget.channels
    assert (strategy.hyper.epochs, strategy.hyper.batch_size, strategy.hyper.lr) == (
        budget.epochs, budget.batch_size, budget.lr)


def test_darts_search_runs_with_bpe1(tmp_path: Path) -> None:
    tree = resolve_config("darts", "darts", {"budget": "bpe1"},
                          overrides=[*TINY, "strategy.valid_batches=1"])
    run, arch = start_run(tree, tmp_path / "darts", progress=False)
    assert arch.space == "darts" and len(arch.spec["normal"]) == 8
    assert tree["budget"]["layers"] == 6 and tree["budget"]["channels"] == 8


def test_bench_times_each_budget_on_the_same_architectures() -> None:
    from nascore_mipbpe.bench import bench_budgets

    rows = bench_budgets(("tiny", "small"), archs=2, subset=64)
    assert [r["budget"] for r in rows] == ["tiny", "small"]
    for row in rows:
        assert 0 < row["min_seconds"] <= row["seconds_per_estimate"] <= row["max_seconds"]
        assert 0.0 <= row["mean_accuracy"] <= 1.0 and row["archs"] == 2
