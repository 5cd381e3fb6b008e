"""Whole EoiNAS searches on tiny settings: pruned ops leave the compute graph, the derived
architecture is valid, the events and the state are complete."""

from __future__ import annotations

import io
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import torch
from nascore_eoinas import EoiNASStrategy

from nascore.events import read_events
from nascore.testing import drive, watch_ops

PRUNE_KEYS = {"type", "epoch", "group", "edge", "op", "score"}


def _kept(strategy: EoiNASStrategy) -> set[tuple[str, int, str]]:
    """The unpruned non-zero ops ``(group, edge, op)`` (the zero op has no module)."""
    return {
        (g.name, e, op)
        for g in strategy.part("gradual_pruning").groups
        for e in range(len(g.edges))
        for c, op in enumerate(g.candidates)
        if strategy.masks[g.name][e, c] and op != g.zero
    }


@pytest.mark.parametrize("preset", [None, "code"])
def test_search_prunes_to_one_op_per_edge_and_pruned_ops_never_run(
    make_strategy, preset: str | None
) -> None:
    strategy = make_strategy(preset=preset)  # 3 epochs: warm-up 1, stages after epochs 2, 3
    op_groups = strategy.part("gradual_pruning").groups
    assert strategy.part("gradual_pruning").schedule == [1, 1, 1, 2, 2, 2, 2]
    ran = watch_ops(strategy)
    kept_before = [_kept(strategy)]
    ran_per_epoch = []
    for epoch in range(strategy.num_epochs):
        drive(strategy, [epoch])
        ran_per_epoch.append(set(ran))
        ran.clear()
        kept_before.append(_kept(strategy))
    assert kept_before[1] == kept_before[0]  # warm-up epoch: nothing pruned
    assert len(kept_before[3]) < len(kept_before[2]) < len(kept_before[1])
    for epoch, ops in enumerate(ran_per_epoch):
        assert ops, epoch
        assert ops <= kept_before[epoch], f"pruned ops ran in epoch {epoch}"
        if preset == "code":  # soft sampling: every unpruned op runs
            assert ops == kept_before[epoch]
        else:  # hard sampling: one op per edge and forward pass, so only some of them
            assert len(ops) < len(kept_before[epoch])
    for g in op_groups:
        assert strategy.masks[g.name].sum(dim=1).tolist() == [1] * len(g.edges)
        assert not strategy.masks[g.name][:, g.zero_index].any()
    arch = strategy.derive()
    assert strategy.context.space.validate(arch) == arch
    survivors = {
        g.name: [g.candidates[int(i)] for i in strategy.masks[g.name].float().argmax(dim=1)]
        for g in op_groups
    }
    for position, (op, source) in enumerate(arch.spec["normal"]):
        edge = op_groups[0].edges.index(f"n{position // 2 + 2}<-{source}")
        assert op == survivors["normal"][edge]  # the derived op is the edge's last op


def test_events_record_the_indicator_counters_and_every_prune(make_strategy) -> None:
    strategy = make_strategy()
    summaries = drive(strategy, range(strategy.num_epochs))
    prunes = [r for r in strategy.context.events.records if r["type"] == "prune"]
    pruning = strategy.part("gradual_pruning")
    assert len(prunes) == 7 * 14 * 2 and prunes == pruning.history
    assert all(set(p) >= PRUNE_KEYS for p in prunes)
    assert [p["epoch"] for p in prunes[:: 28]] == pruning.schedule
    per_edge: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p in prunes:
        per_edge[(p["group"], p["edge"])].append(p["op"])
    assert all(len(set(ops)) == 7 for ops in per_edge.values())  # 7 different ops per edge
    steps = strategy.steps_per_epoch(0)
    last = summaries[-1]
    assert set(last["indicator"]) == {"normal", "reduce"} and last["ce"]["normal"].shape == (14, 8)
    # Ce: every training iteration after the warm-up counts one op per edge (paper: no reset)
    assert last["ce"]["normal"].sum(dim=1).tolist() == [2 * steps] * 14
    assert summaries[0]["ce"]["normal"].sum() == 0  # warm-up epoch
    ca_rows = last["ca"]["reduce"].sum(dim=1)
    assert torch.allclose(ca_rows, ca_rows[0].expand(14)) and ca_rows[0] > 0
    assert last["remaining_ops"]["normal"].tolist() == [1] * 14
    assert summaries[1]["remaining_ops"]["normal"].tolist() == [5] * 14


def _roundtrip(state: dict[str, Any]) -> dict[str, Any]:
    """Save and load ``state`` as the run engine's checkpoints do."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("preset", [None, "code"])
def test_resumed_search_matches_an_uninterrupted_one(make_strategy, preset) -> None:
    whole = make_strategy(preset=preset, epochs=2)  # warm-up 1, all 7 stages after epoch 2
    drive(whole, range(2))

    first = make_strategy(preset=preset, epochs=2)
    drive(first, [0])
    steps = first.run_epoch(1)
    next(steps)  # interrupted after the first step of epoch 2
    state = _roundtrip(first.state_dict())

    resumed = make_strategy(preset=preset, epochs=2)
    resumed.load_state_dict(state)
    for _ in resumed.run_epoch(1, start_step=1):
        pass
    resumed.end_epoch(1)

    history = resumed.part("gradual_pruning").history
    assert len(history) == 7 * 28
    assert history == whole.part("gradual_pruning").history
    stats, whole_stats = (s.part("importance_indicator").stats for s in (resumed, whole))
    for name in ("normal", "reduce"):
        assert torch.equal(resumed.masks[name], whole.masks[name])
        assert torch.equal(resumed.alphas[name], whole.alphas[name])
        assert torch.equal(stats[name].ca, whole_stats[name].ca)
        assert torch.equal(stats[name].ce, whole_stats[name].ce)
    assert resumed.derive() == whole.derive()


def test_search_on_the_factorized_adarts_space_prunes_working_ops_only(
    make_strategy, make_space
) -> None:
    space = make_space("adarts")  # skipped when the adarts plugin is not installed
    strategy = make_strategy(space, epochs=2)
    assert [g.name for g in strategy.part("gradual_pruning").groups] == ["normal", "reduce"]
    assert set(strategy.part("importance_indicator").stats) == {"normal", "reduce"}
    beta_before = strategy.alphas["normal.act"].detach().clone()
    drive(strategy, range(2))
    assert strategy.masks["normal.act"].all() and strategy.masks["reduce.act"].all()
    assert strategy.masks["normal"].sum(dim=1).tolist() == [1] * 14
    assert not torch.equal(strategy.alphas["normal.act"], beta_before)  # beta was trained
    scores = strategy.scores()
    assert torch.allclose(scores["normal.act"], torch.softmax(strategy.alphas["normal.act"], -1))
    arch = strategy.derive()
    assert space.validate(arch) == arch
    assert any(act is not None for act in arch.spec["normal_act"] + arch.spec["reduce_act"])


def test_a_run_directory_holds_the_events_and_show_draws_the_timeline(tmp_path: Path) -> None:
    from nascore.runner import resolve_config, start_run

    tree = resolve_config(
        "eoinas", "darts",
        flags={"epochs": 3, "channels": 4, "layers": 3, "batch_size": 16},
        overrides=["data.subset=64", "strategy.valid_batches=1"],
    )
    run, arch = start_run(tree, tmp_path / "run", progress=False)
    events = read_events(run.path / "events.jsonl")
    epochs = [e for e in events if e["type"] == "epoch"]
    prunes = [e for e in events if e["type"] == "prune"]
    assert len(epochs) == 3 and len(prunes) == 7 * 28
    assert all(set(p) >= PRUNE_KEYS for p in prunes)
    assert epochs[0]["indicator"]["normal"][0][0] > 0 and len(epochs[0]["ce"]["reduce"]) == 14
    # pruned ops are -inf: 3 before the last epoch's stages
    assert epochs[-1]["indicator"]["normal"][0].count("-inf") == 3
    paths = EoiNASStrategy.plot(events, str(tmp_path / "eoinas"))
    assert paths == [str(tmp_path / "eoinas_pruning.png")]
    assert Path(paths[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert EoiNASStrategy.plot(epochs, str(tmp_path / "none")) == []


@pytest.mark.parametrize("strategy", ["pcdarts", "darts"])
def test_gradual_pruning_runs_as_a_part_of_other_strategies(strategy: str) -> None:
    """EoiNAS's pruning part added through the config: without the indicator it prunes by the
    strategy's own derivation scores, and one op per edge remains at the end."""
    from nascore.testing import make_strategy as make_core

    options = {"warmup_epochs": 1} if strategy == "pcdarts" else {}
    search = make_core(strategy, epochs=3, valid_batches=1, parts=["gradual_pruning"], **options)
    pruning = search.part("gradual_pruning")
    assert [p.name for p in search.parts] == ["gradual_pruning"]
    assert pruning.schedule[-1] == 2 and len(pruning.schedule) == 7
    ran = watch_ops(search)
    drive(search, range(3))
    for group in pruning.groups:
        assert search.masks[group.name].sum(dim=1).tolist() == [1] * len(group.edges)
    assert {p["reason"] for p in pruning.history} <= {"lowest-score", "zero-never-last"}
    arch = search.derive()
    assert search.context.space.validate(arch) == arch
    ran.clear()
    drive(search, [2])  # after the last stage only the kept ops run
    kept = {(g.name, e, g.candidates[int(c)]) for g in pruning.groups
            for e, c in enumerate(search.masks[g.name].float().argmax(dim=1))}
    assert ran <= {(key[0], key[1], key[2]) for key in kept}
