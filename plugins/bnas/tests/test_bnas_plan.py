"""Algorithm 1's epoch plan, the seeded sampler, and the whole reduction driven through the plan
(one op per edge at the end, resume mid-reduction)."""

from __future__ import annotations

import io
from collections import Counter

import pytest
import torch
from nascore_bnas.plan import (
    PCDARTS,
    SAMPLE,
    WARMUP,
    PlannedEpoch,
    epoch_plan,
    epoch_sample,
    round_samples,
)
from nascore_bnas.reduction import OperationReduction, smaller_half

from nascore import ConfigError


def test_paper_plan_has_69_epochs():
    plan = epoch_plan()  # L = 5 (3 weights only), T = 3, V = 1, K = 8
    # 5 warm-up + T * (4 + 4 + 3 + 3 + 2 + 2 + 1) sampling + 7 * V PC-DARTS epochs
    assert len(plan) == 5 + 3 * 19 + 7 == 69
    assert Counter(e.kind for e in plan) == {WARMUP: 5, SAMPLE: 57, PCDARTS: 7}
    assert [e.arch_step for e in plan[:5]] == [False, False, False, True, True]
    assert not any(e.arch_step for e in plan if e.kind == SAMPLE)
    assert all(e.arch_step for e in plan if e.kind == PCDARTS)


def test_plan_stages_have_t_rounds_of_ceil_k_over_2_slots_then_v_epochs():
    plan = epoch_plan()
    for stage, k in enumerate(range(8, 1, -1)):
        epochs = [e for e in plan if e.stage == stage]
        slots = (k + 1) // 2
        assert all(e.ops == k for e in epochs)
        assert [(e.round, e.slot) for e in epochs if e.kind == SAMPLE] == [
            (t, s) for t in range(3) for s in range(slots)
        ]
        assert [e.kind for e in epochs][-1] == PCDARTS
        assert [e.begins_stage for e in epochs].count(True) == 1 and epochs[0].begins_stage
        ends = [i for i, e in enumerate(epochs) if e.ends_sampling]
        assert ends == [3 * slots - 1]


def test_small_plan_with_an_odd_k_counted_by_hand():
    plan = epoch_plan(warmup=0, weights_only=0, rounds=2, pcdarts=0, ops=3)
    # K = 3: 2 rounds of ceil(3/2) = 2 epochs; K = 2: 2 rounds of 1 epoch
    assert [(e.ops, e.round, e.slot) for e in plan] == [
        (3, 0, 0), (3, 0, 1), (3, 1, 0), (3, 1, 1), (2, 0, 0), (2, 1, 0)
    ]
    assert len(epoch_plan(warmup=2, weights_only=2, rounds=1, pcdarts=2, ops=1)) == 2


@pytest.mark.parametrize(
    "kwargs", [{"weights_only": 6}, {"rounds": 0}, {"ops": 0}, {"warmup": -1, "weights_only": 0}]
)
def test_bad_plan_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        epoch_plan(**kwargs)


def _smaller(edges: int = 14, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    mask = torch.ones(edges, 8, dtype=torch.bool)
    return {g: smaller_half(torch.randn(edges, 8, generator=generator), mask)
            for g in ("normal", "reduce")}


def test_a_round_samples_every_smaller_op_once_per_edge():
    smaller = _smaller()
    samples = round_samples(smaller, seed=3, stage=0, round=1)
    for g, mask in smaller.items():
        assert samples[g].shape == (4, 14)
        for edge in range(14):
            picked = sorted(samples[g][:, edge].tolist())
            assert picked == mask[edge].nonzero().flatten().tolist()


def test_sampling_is_a_pure_function_of_seed_stage_and_round():
    smaller = _smaller()
    first = round_samples(smaller, seed=3, stage=2, round=1)
    again = round_samples({g: m.clone() for g, m in smaller.items()}, seed=3, stage=2, round=1)
    assert all(torch.equal(first[g], again[g]) for g in smaller)
    for other in ({"seed": 4, "stage": 2, "round": 1}, {"seed": 3, "stage": 1, "round": 1},
                  {"seed": 3, "stage": 2, "round": 0}):
        assert not torch.equal(round_samples(smaller, **other)["normal"], first["normal"])
    assert not torch.equal(first["normal"], first["reduce"])  # each group its own stream


def test_epoch_sample_is_the_row_of_its_slot():
    smaller = _smaller()
    epoch = PlannedEpoch(SAMPLE, False, stage=1, ops=7, round=2, slot=3)
    rows = round_samples(smaller, 5, 1, 2)
    sample = epoch_sample(smaller, 5, epoch)
    assert all(torch.equal(sample[g], rows[g][3]) for g in smaller)
    with pytest.raises(ValueError, match="pcdarts"):
        epoch_sample(smaller, 5, PlannedEpoch(PCDARTS, True, stage=1, ops=7))


GROUPS = {"normal": (14, 8), "reduce": (14, 8)}


def _quality() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(11)
    return {g: torch.rand(shape, generator=generator, dtype=torch.float64)
            for g, shape in GROUPS.items()}


def _drive(
    reduction: OperationReduction, plan: tuple[PlannedEpoch, ...], start: int, stop: int
) -> list[int]:
    """Run epochs ``start..stop-1`` of ``plan`` with a stand-in for training: the accuracy of a
    sampled architecture is the mean 'quality' of its ops, and alpha is fixed. Returns the epochs
    after which the reduction dropped ops."""
    quality = _quality()
    alphas = {g: q.float() for g, q in quality.items()}  # good ops have large alpha
    drops = []
    for index in range(start, stop):
        epoch = plan[index]
        if epoch.begins_stage:
            reduction.begin_stage(alphas)
        if epoch.kind == SAMPLE:
            sampled = epoch_sample(reduction.smaller, seed=7, epoch=epoch)
            parts = [quality[g][torch.arange(14), sampled[g]] for g in GROUPS]
            reduction.record(sampled, float(torch.cat(parts).mean()))
        if epoch.ends_sampling:
            reduction.end_stage(alphas)
            drops.append(index)
    return drops


def test_the_reduction_reaches_one_op_per_edge_at_the_end_of_the_plan():
    plan = epoch_plan()
    reduction = OperationReduction(GROUPS, zero_index={"normal": 0, "reduce": 0})
    drops = _drive(reduction, plan, 0, len(plan) - 1)  # all but the last (V) epoch
    assert reduction.finished()
    assert len(drops) == 7 and drops[-1] == len(plan) - 2  # the last sampling epoch
    for mask in reduction.masks.values():
        assert mask.sum(dim=1).tolist() == [1] * 14
        assert not bool(mask[:, 0].any())  # none is never the last op


def test_resume_mid_reduction_gives_the_same_architecture():
    plan = epoch_plan()
    whole = OperationReduction(GROUPS, zero_index={"normal": 0, "reduce": 0})
    _drive(whole, plan, 0, len(plan))
    middle = 5 + 3 * 4 + 1 + 5  # stage 1 (K = 7), round 1, slot 1: accuracies half collected
    first = OperationReduction(GROUPS, zero_index={"normal": 0, "reduce": 0})
    _drive(first, plan, 0, middle)
    assert int(first.counts["normal"].sum()) > 0
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = OperationReduction(GROUPS, zero_index={"normal": 0, "reduce": 0})
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    _drive(resumed, plan, middle, len(plan))
    for g in GROUPS:
        assert torch.equal(resumed.masks[g], whole.masks[g])
        assert torch.equal(resumed.likelihood[g], whole.likelihood[g])
