"""The space reduction as a part of the one-shot loop on tiny searches: the plan's epochs, the
sampled architectures (only they run, no architecture steps), one op per edge at the end,
``none`` never last, the ``reduce`` events, refusing runs that do not fit, and resume."""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

import pytest
import torch
from nascore_bnas.plan import SAMPLE
from nascore_bnas.reduction_part import SpaceReduction
from nascore_bnas.strategy import BNASStrategy

from nascore import ConfigError
from nascore.oneshot import OneShotStrategy
from nascore.testing import drive, run_cli, watch_ops

REDUCE_KEYS = {"type", "epoch", "stage", "group", "edge", "op", "likelihood", "likelihoods",
               "mean_accuracy", "remaining", "ops_before"}


def _kept(search: OneShotStrategy) -> set[tuple[str, int, str]]:
    """The unpruned non-zero ops ``(group, edge, op)``."""
    return {
        (g.name, e, op)
        for g in search.part(SpaceReduction.name).groups
        for e in range(len(g.edges))
        for c, op in enumerate(g.candidates)
        if search.masks[g.name][e, c] and op != g.zero
    }


def _check_reduce_events(search: OneShotStrategy) -> None:
    """Every drop is a ``reduce`` event (7 stages x 14 edges x 2 groups) with its likelihoods."""
    events = [e for e in search.context.events.records if e["type"] == "reduce"]
    part = search.part(SpaceReduction.name)
    assert events == part.history and len(events) == 7 * 14 * 2
    assert all(set(e) >= REDUCE_KEYS for e in events)
    for e in events:
        lowest = e["likelihood"] == min(e["likelihoods"].values())  # Eq. 5
        none_never_last = e["op"] == "none" and len(e["remaining"]) == 1
        assert lowest or none_never_last
        assert e["op"] not in e["remaining"] and len(e["remaining"]) == e["ops_before"] - 1
        assert all(0.0 <= a <= 1.0 for a in e["mean_accuracy"].values())
    per_edge: dict[tuple[str, str], list[str]] = defaultdict(list)
    for e in events:
        per_edge[(e["group"], e["edge"])].append(e["op"])
    assert all(len(set(ops)) == 7 for ops in per_edge.values())


def test_paper_defaults_and_the_plan_of_the_bnas_strategy(make_search):
    config = BNASStrategy.configure({})
    assert (config.epochs, config.batch_size, config.partial_channels) == (69, 128, 2)
    assert (config.warmup_epochs, config.edge_normalization, config.arch_lr) == (0, True, 0.01)
    assert (config.reduction_after, config.reduction_weights_only, config.reduction_rounds,
            config.reduction_search_epochs) == (5, 3, 3, 1)
    assert (config.reduction_batch_size, config.reduction_valid_images) == (400, 5000)
    search = make_search(epochs=69, reduction_after=5, reduction_weights_only=3,
                         reduction_rounds=3, reduction_batch_size=400)
    part = search.part(SpaceReduction.name)
    assert len(part.plan) == 69 and search.num_epochs == 69
    assert [p.arch_step for p in part.plan[:5]] == [False, False, False, True, True]
    assert [search.arch_steps_enabled(e) for e in range(5)] == [False] * 3 + [True] * 2
    assert sum(p.kind == SAMPLE for p in part.plan) == 57
    # batch 128 (here 48) in the first L = 5 epochs, 400 while the space is reduced
    assert [search.batch_size(e) for e in (0, 4, 5, 68)] == [48, 48, 400, 400]


def test_other_epochs_scale_every_planned_epoch_with_a_note(make_search):
    # 48 weights images at batch 8: 6 steps per pass; the 27 planned epochs over 9 passes
    # take round(6 * 9 / 27) = 2 steps each, and the paper's length gives a whole pass each
    whole = make_search(epochs=27, batch_size=8, reduction_batch_size=8)
    assert whole.num_epochs == 27 and whole.steps_per_epoch(3) == 6
    assert not [e for e in whole.context.events.records if e["type"] == "note"]
    scaled = make_search(epochs=9, batch_size=8, reduction_batch_size=8)
    assert scaled.num_epochs == 27 and scaled.hyper.epochs == 9
    assert [scaled.steps_per_epoch(e) for e in range(27)] == [2] * 27
    (note,) = [e for e in scaled.context.events.records if e["type"] == "note"]
    assert "27 planned epochs run as 27 epochs of 9/27 of a pass" in note["message"]
    # two epochs still run the whole plan: one step per planned epoch, one op per edge at the end
    short = make_search(epochs=2)
    drive(short, range(short.num_epochs))
    assert all(short.masks[g].sum(dim=1).tolist() == [1] * 14 for g in ("normal", "reduce"))


def test_a_warmup_longer_than_l_is_refused_in_one_line(make_search):
    with pytest.raises(ConfigError, match=r"warmup_epochs \(3\) is above .* L = 1") as info:
        make_search(warmup_epochs=3)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"reduction_weights_only \(3\) is above .* L = 1"):
        make_search(reduction_weights_only=3)


def test_sampled_architectures_are_scored_on_fixed_validation_images(make_search):
    search = make_search(reduction_valid_images=20, valid_batches=None)
    part = search.part(SpaceReduction.name)
    assert part.valid_images == 20
    drive(search, [0])
    (summary,) = drive(search, [1])  # a sampling epoch
    # by hand: the first 20 images of the arch split's fixed (epoch 0) order, under the sample
    search.supernet.eval()
    x, y = next(search.data.batches("arch", 48, 0))
    with torch.no_grad():
        logits = search.supernet(x[:20], search.forward_weights())
    expected = float((logits.argmax(dim=1) == y[:20]).float().mean())
    assert summary["sampled_accuracy"] == pytest.approx(expected)
    assert search.evaluate("arch", images=20)["accuracy"] == pytest.approx(expected)


def test_a_split_smaller_than_the_validation_set_is_used_whole_with_a_note(make_search):
    search = make_search(reduction_valid_images=5000)
    assert search.part(SpaceReduction.name).valid_images == 48  # the tiny arch split
    (note,) = [e for e in search.context.events.records if e["type"] == "note"]
    assert "arch split has 48 images, fewer than reduction_valid_images = 5000" in note["message"]


def test_reduction_reaches_one_op_per_edge_after_the_planned_epochs_with_events(
    make_search,
):
    search = make_search()  # 27 epochs
    part = search.part(SpaceReduction.name)
    ran = watch_ops(search)
    ends = [i for i, p in enumerate(part.plan) if p.ends_sampling]
    assert ends == [4, 9, 13, 17, 20, 23, 25]  # after 4, 4, 3, 3, 2, 2, 1 sampling epochs + V
    remaining = []
    for epoch, planned in enumerate(part.plan):
        kept = _kept(search)
        alphas = {g: a.detach().clone() for g, a in search.alphas.items()}
        ran.clear()
        (summary,) = drive(search, [epoch])
        remaining.append(int(search.masks["normal"].sum(dim=1).max()))
        assert ran <= kept, f"pruned ops ran in epoch {epoch}"
        if planned.kind == SAMPLE:
            assert all(torch.equal(alphas[g], search.alphas[g]) for g in alphas)  # no arch step
            sampled = {(g, e, op) for g, ops in summary["sampled"].items()
                       for e, op in enumerate(ops) if op != "none"}
            assert ran == sampled  # only the sampled architecture runs
            assert summary["sampled_accuracy"] == summary["valid_acc"]
        else:
            assert not torch.equal(alphas["normal"], search.alphas["normal"])
            assert ran == kept  # the softmax mixture runs every remaining op
    assert remaining == [8] * 4 + [7] * 5 + [6] * 4 + [5] * 4 + [4] * 3 + [3] * 3 + [2] * 2 + [
        1] * 2
    for g in part.groups:
        assert search.masks[g.name].sum(dim=1).tolist() == [1] * 14
        assert not search.masks[g.name][:, g.zero_index].any()  # none is never the last op
    # an edge's score is its survivor's share of the softmax over all its alphas, times the
    # edge-normalisation weight (not 1 for every single-op edge)
    normal = next(g for g in part.groups if g.name == "normal")
    full = torch.softmax(search.alphas["normal"].detach(), dim=-1)
    expected = (full * search.edge_scale(normal)[:, None].detach()).masked_fill(
        ~search.masks["normal"], float("-inf"))
    assert torch.allclose(search.scores()["normal"], expected)
    arch = search.derive()
    assert search.context.space.validate(arch) == arch
    survivors = normal
    for position, (op, source) in enumerate(arch.spec["normal"]):
        edge = survivors.edges.index(f"n{position // 2 + 2}<-{source}")
        assert search.masks["normal"][edge, survivors.candidates.index(op)]
    _check_reduce_events(search)


def test_sampling_rounds_draw_every_smaller_op_once_per_edge(make_search):
    search = make_search()
    part = search.part(SpaceReduction.name)
    drawn: dict[tuple[str, int], list[str]] = defaultdict(list)
    drive(search, [0])  # L = 1
    for epoch in range(1, 5):  # stage 0: K = 8, one round of 4 epochs
        (summary,) = drive(search, [epoch])
        for g, ops in summary["sampled"].items():
            for e, op in enumerate(ops):
                drawn[(g, e)].append(op)
    smaller = part.reduction.smaller
    for (g, e), ops in drawn.items():
        group = next(x for x in part.groups if x.name == g)
        expected = {group.candidates[c] for c in smaller[g][e].nonzero().flatten().tolist()}
        assert sorted(ops) == sorted(expected) and len(ops) == 4


def _roundtrip(state: dict[str, Any]) -> dict[str, Any]:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.slow
def test_resume_mid_reduction_gives_the_same_architecture(make_search):
    whole = make_search(batch_size=24, reduction_batch_size=24)  # 2 steps per epoch
    drive(whole, range(whole.num_epochs))

    middle = 8  # stage 1 (K = 7), slot 2: half its accuracies collected
    first = make_search(batch_size=24, reduction_batch_size=24)
    drive(first, range(middle))
    steps = first.run_epoch(middle)
    next(steps)  # interrupted after the first step of a sampling epoch
    state = _roundtrip(first.state_dict())
    assert first.part(SpaceReduction.name).reduction.counts["normal"].sum() > 0

    resumed = make_search(batch_size=24, reduction_batch_size=24)
    resumed.load_state_dict(state)
    for _ in resumed.run_epoch(middle, start_step=1):
        pass
    resumed.end_epoch(middle)
    drive(resumed, range(middle + 1, resumed.num_epochs))

    assert resumed.part(SpaceReduction.name).history == whole.part(SpaceReduction.name).history
    for name in ("normal", "reduce"):
        assert torch.equal(resumed.masks[name], whole.masks[name])
        assert torch.equal(resumed.alphas[name], whole.alphas[name])
    assert resumed.derive() == whole.derive()


@pytest.mark.slow
def test_the_readme_tour_line_runs_with_few_epochs_and_a_small_dataset(tmp_path):
    code, _out, err = run_cli(
        "run", "--strategy", "bnas", "--space", "bnas", "--epochs", "2", "--channels", "4",
        "--layers", "3", "--batch-size", "32", "--set", "data.subset=96",
        "--set", "strategy.valid_batches=1", "--set", "strategy.reduction_rounds=1",
        "--out", str(tmp_path / "run"), "--quiet",
    )  # T = 1 keeps it short: 5 + 19 + 7 = 31 planned epochs
    assert code == 0, err
    assert "31 planned epochs run as 31 epochs of 2/31" in err
    assert "fewer than reduction_valid_images = 5000" in err
    assert (tmp_path / "run" / "architecture.json").exists()
