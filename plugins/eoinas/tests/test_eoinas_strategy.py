"""EoiNAS strategy parts on hand-made numbers: variants, counters, pruning stages, derivation."""

from __future__ import annotations

import pytest
import torch
from nascore_eoinas import Behaviour, EoiNASConfig
from nascore_eoinas.pruning import LOWEST, ZERO_FIRST

from nascore import ConfigError, EdgeWeights, build_config
from nascore.strategies.oneshot import StepRecord

OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
       "dil_conv_3x3", "dil_conv_5x5")


def test_paper_is_the_default_and_code_switches_every_difference():
    assert build_config(EoiNASConfig, {}).behaviour() == Behaviour(False, False, False, False)
    assert build_config(EoiNASConfig, {"variant": "code"}).behaviour() == Behaviour(
        True, True, True, True
    )
    mixed = build_config(EoiNASConfig, {"variant": "code", "soft_sampling": False})
    assert mixed.behaviour() == Behaviour(False, True, True, True)
    one = build_config(EoiNASConfig, {"reset_after_prune": True})
    assert one.behaviour() == Behaviour(False, False, True, False)


def test_config_defaults_follow_the_paper_and_checks_still_apply():
    config = build_config(EoiNASConfig, {})
    assert (config.epochs, config.tau_max, config.tau_schedule) == (160, 5.0, "exponential")
    assert config.indicator_lambda == 0.5 and config.warmup_epochs is None
    assert (config.arch_lr, config.arch_betas, config.arch_weight_decay) == (3e-4, (0.5, 0.999),
                                                                             1e-3)
    with pytest.raises(ConfigError, match="lr_min"):
        build_config(EoiNASConfig, {"lr_min": 1.0})  # inherited check, warm-up left to scale
    with pytest.raises(ConfigError, match="tau_min"):
        build_config(EoiNASConfig, {"tau_min": 0})
    with pytest.raises(ConfigError, match="warmup_epochs"):
        build_config(EoiNASConfig, {"epochs": 4, "warmup_epochs": 4})
    with pytest.raises(ConfigError, match="variant"):
        build_config(EoiNASConfig, {"variant": "blog"})


def test_warmup_and_schedule_scale_with_the_run(make_strategy):
    strategy = make_strategy(epochs=8)
    assert strategy.warmup_epochs == 1 and strategy.in_warmup(0) and not strategy.in_warmup(1)
    assert strategy.schedule == [1, 2, 3, 4, 5, 6, 7]
    explicit = make_strategy(epochs=8, warmup_epochs=2, prune_every=3)
    assert explicit.warmup_epochs == 2 and explicit.schedule == [4, 7]


def test_hard_sampling_runs_one_op_and_soft_sampling_weights_all_unpruned_ops(make_strategy):
    hard = make_strategy()
    group = hard.op_groups[0]
    weights = hard.edge_weights(group)
    assert weights.index is not None
    one_hot = torch.nn.functional.one_hot(weights.index, 8).float()
    assert torch.equal(weights.weights.detach(), one_hot)

    soft = make_strategy(variant="code")
    mask = soft.masks[group.name].clone()
    mask[:, 2] = False
    soft.set_mask(group.name, mask)
    weights = soft.edge_weights(group)
    assert weights.index is None and torch.equal(weights.mask, mask)
    assert torch.allclose(weights.weights.sum(dim=1), torch.ones(14))
    assert (weights.weights[:, 2] == 0).all() and (weights.weights[:, [0, 1, 3]] > 0).all()
    weights.weights.sum().backward()  # differentiable in alpha
    assert soft.alphas[group.name].grad is not None


def _record(strategy, split: str, stage: int | None, epoch: int, accuracy: float, soft: bool):
    selections = {}
    for g in strategy.groups:
        index = torch.arange(len(g.edges)) % len(g.candidates)
        one_hot = torch.nn.functional.one_hot(index, len(g.candidates)).float()
        selections[g.name] = (
            EdgeWeights(weights=0.2 + one_hot) if soft else EdgeWeights(one_hot, index=index)
        )
    return StepRecord(epoch, 0, split, stage, 1.0, accuracy, selections)


@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
def test_counters_follow_training_samples_and_validation_accuracy(make_strategy, soft: bool):
    strategy = make_strategy(epochs=8, soft_sampling=soft)  # warm-up: epoch 0
    strategy.after_weights_step(_record(strategy, "weights", None, 0, 0.0, soft))
    assert strategy.stats["normal"].ce.sum() == 0  # no counting during the warm-up
    for _ in range(2):
        strategy.after_weights_step(_record(strategy, "weights", None, 1, 0.0, soft))
    strategy.after_arch_step(_record(strategy, "arch", 0, 1, 0.5, soft))
    strategy.after_arch_step(_record(strategy, "arch", 0, 1, 0.25, soft))
    strategy.after_arch_step(_record(strategy, "arch", 1, 1, 0.9, soft))  # not the op groups' stage
    sampled = torch.arange(14) % 8
    for name in ("normal", "reduce"):
        stats = strategy.stats[name]
        assert stats.ce[torch.arange(14), sampled].tolist() == [2] * 14
        assert stats.ce.sum() == 28
        assert stats.ca[torch.arange(14), sampled].tolist() == [0.75] * 14
        assert stats.ca.sum() == pytest.approx(14 * 0.75)


def test_code_variant_keeps_the_latest_validation_accuracy(make_strategy):
    strategy = make_strategy(epochs=8, variant="code")
    strategy.after_arch_step(_record(strategy, "arch", 0, 1, 0.5, True))
    strategy.after_arch_step(_record(strategy, "arch", 0, 1, 0.25, True))
    assert strategy.stats["normal"].ca.max() == 0.25


def _rig(strategy) -> None:
    """Alphas and counters where plain alpha and the indicator disagree on every edge: skip has
    the lowest alpha but C = 1 (+0.5); sep_conv_5x5 is then the lowest indicator."""
    with torch.no_grad():
        for name in ("normal", "reduce"):
            alpha = strategy.alphas[name]
            alpha.zero_()
            alpha[:, OPS.index("skip_connect")] = -1.0
            alpha[:, OPS.index("sep_conv_5x5")] = -0.5
            alpha[:, OPS.index("max_pool_3x3")] = -0.2
            strategy.stats[name].ca[:, OPS.index("skip_connect")] = 4.0
            strategy.stats[name].ce[:, OPS.index("skip_connect")] = 4


@pytest.mark.parametrize("variant", ["paper", "code"])
def test_a_stage_prunes_the_lowest_indicator_op_of_every_edge_and_logs_it(make_strategy, variant):
    strategy = make_strategy(epochs=8, variant=variant)
    _rig(strategy)
    expected = {n: strategy.indicator(n) for n in ("normal", "reduce")}
    events = strategy.prune_stage(epoch=3)
    assert len(events) == 28 and strategy.context.events.records == events
    for event in events:
        assert event["type"] == "prune" and event["epoch"] == 3 and event["stage"] == 1
        assert event["op"] == "sep_conv_5x5" and event["reason"] == LOWEST
        edge = strategy._group(event["group"]).edges.index(event["edge"])
        assert event["indicator"] == pytest.approx(float(expected[event["group"]][edge, 5]))
        assert "sep_conv_5x5" not in event["remaining"] and len(event["remaining"]) == 7
    assert not strategy.masks["normal"][:, 5].any() and strategy.masks["normal"].sum() == 14 * 7
    assert strategy.indicator("normal")[:, 5].eq(float("-inf")).all()
    reset = variant == "code"
    assert (strategy.stats["normal"].ce.sum() == 0) == reset
    # the next stage: max_pool (alpha -0.2) goes, skip (alpha -1 but C = 1 in the paper) stays
    strategy.prune_stage(epoch=4)
    pruned = {e["op"] for e in strategy.prune_history[28:]}
    assert pruned == ({"skip_connect"} if reset else {"max_pool_3x3"})


def test_only_the_code_variants_last_stage_drops_none_first(make_strategy):
    for variant, reason in (("paper", LOWEST), ("code", ZERO_FIRST)):
        strategy = make_strategy(epochs=8, variant=variant)
        _rig(strategy)
        strategy.stages_done = len(strategy.schedule) - 1  # the next stage is the last
        events = strategy.prune_stage(epoch=7)
        assert {e["reason"] for e in events} == {reason}
        assert {e["op"] for e in events} == ({"none"} if variant == "code" else {"sep_conv_5x5"})


@pytest.mark.parametrize(("lam", "op"), [(0.5, "skip_connect"), (0.0, "sep_conv_3x3")])
def test_derivation_follows_the_indicator_not_alpha(make_strategy, lam: float, op: str):
    strategy = make_strategy(epochs=8, indicator_lambda=lam)
    _rig(strategy)
    with torch.no_grad():
        for name in ("normal", "reduce"):  # sep_conv_3x3 has the largest alpha...
            strategy.alphas[name][:, OPS.index("sep_conv_3x3")] = 0.3
    # ... but skip_connect the largest indicator (about 1/8 + 0.5) when lambda > 0
    arch = strategy.derive()
    assert {o for o, _ in arch.spec["normal"] + arch.spec["reduce"]} == {op}
    scores = strategy.scores()
    assert torch.equal(scores["normal"], strategy.indicator("normal"))
