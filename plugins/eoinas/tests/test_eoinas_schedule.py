"""The pruning schedule: the paper's at 160 epochs, scaled to any other length."""

from __future__ import annotations

import pytest
from nascore_eoinas import prune_epochs

from nascore.oneshot import scaled_warmup


@pytest.mark.parametrize(
    ("epochs", "warmup"), [(160, 20), (50, 6), (16, 2), (8, 1), (4, 1), (2, 1), (1, 0)]
)
def test_warmup_is_an_eighth_of_the_run_at_least_one_epoch(epochs: int, warmup: int):
    assert scaled_warmup(epochs) == warmup


def test_160_epochs_give_the_papers_schedule():
    # Algorithm 1: prune at the end of epochs 40, 60, ..., 160 (counted from 1)
    assert prune_epochs(160, 20, 7) == [39, 59, 79, 99, 119, 139, 159]
    assert prune_epochs(160, 20, 7, every=20) == prune_epochs(160, 20, 7)


def test_8_epochs_give_one_warmup_epoch_and_a_stage_after_every_other_epoch():
    assert scaled_warmup(8) == 1
    assert prune_epochs(8, 1, 7) == [1, 2, 3, 4, 5, 6, 7]


def test_short_runs_hold_several_stages_in_one_epoch():
    assert prune_epochs(4, 1, 7) == [1, 1, 2, 2, 3, 3, 3]
    assert prune_epochs(1, 0, 7) == [0] * 7


@pytest.mark.parametrize("stages", [1, 5, 7])
def test_every_length_ends_with_all_stages_after_the_warmup(stages: int):
    for epochs in range(1, 241):
        warmup = scaled_warmup(epochs)
        schedule = prune_epochs(epochs, warmup, stages)
        assert len(schedule) == stages, epochs
        assert schedule[-1] == epochs - 1, epochs  # the last stage ends the run
        assert schedule == sorted(schedule)
        assert schedule[0] >= warmup, epochs  # at least one epoch of architecture steps first


def test_an_explicit_interval_is_applied_literally_and_may_stop_short():
    assert prune_epochs(10, 1, 7, every=2) == [2, 4, 6, 8]  # epochs 3, 5, 7, 9 (from 1)
    assert prune_epochs(30, 2, 3, every=3) == [4, 7, 10]


def test_the_warmup_must_leave_an_epoch():
    with pytest.raises(ValueError, match="warm-up"):
        prune_epochs(4, 4, 7)
