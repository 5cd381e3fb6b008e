"""EoiNAS parts on hand-made numbers: presets, counters, pruning stages, derivation."""

from __future__ import annotations

import pytest
import torch
from nascore_eoinas import EoiNASStrategy
from nascore_eoinas.pruning import LOWEST, ZERO_FIRST

from nascore import ConfigError, EdgeWeights
from nascore.oneshot import StepRecord

OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
       "dil_conv_3x3", "dil_conv_5x5")
CODE = {"hard_sampling": False, "latest_accuracy": True, "reset_counts_after_prune": True,
        "drop_zero_first": True, "arch_lr": 6e-4}


def _switches(config) -> dict:
    return {key: getattr(config, key) for key in CODE}


def test_paper_is_the_default_and_the_code_preset_switches_every_difference():
    paper = EoiNASStrategy.configure({})
    assert _switches(paper) == {"hard_sampling": True, "latest_accuracy": False,
                                "reset_counts_after_prune": False, "drop_zero_first": False,
                                "arch_lr": 3e-4}
    assert _switches(EoiNASStrategy.configure({"preset": "code"})) == CODE
    mixed = EoiNASStrategy.configure({"preset": "code", "hard_sampling": True})
    assert _switches(mixed) == {**CODE, "hard_sampling": True}  # explicit keys win
    with pytest.raises(ConfigError, match="no preset 'blog'; presets: code"):
        EoiNASStrategy.configure({"preset": "blog"})


def test_the_settings_earlier_names_still_work_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="strategy.variant is deprecated: use "
                      "strategy.preset"):
        assert _switches(EoiNASStrategy.configure({"variant": "code"})) == CODE
    with pytest.warns(DeprecationWarning):
        assert EoiNASStrategy.configure({"variant": "paper"}) == EoiNASStrategy.configure({})
    with pytest.warns(DeprecationWarning, match="use strategy.hard_sampling"):
        assert EoiNASStrategy.configure({"soft_sampling": True}).hard_sampling is False
    with pytest.warns(DeprecationWarning, match="use strategy.reset_counts_after_prune"):
        assert EoiNASStrategy.configure({"reset_after_prune": True}).reset_counts_after_prune
    with pytest.raises(ConfigError, match="give only strategy.hard_sampling"):
        EoiNASStrategy.configure({"soft_sampling": True, "hard_sampling": True})


def test_the_plugins_earlier_python_names_still_import_with_a_deprecation_warning():
    import nascore_eoinas

    with pytest.warns(DeprecationWarning, match="EoiNASStrategy.config_class"):
        config_cls = nascore_eoinas.EoiNASConfig
    assert config_cls is EoiNASStrategy.config_class({})
    with pytest.warns(DeprecationWarning, match="nascore.oneshot.scaled_warmup"):
        assert nascore_eoinas.scaled_warmup(160) == 20  # the paper's 20 of 160 epochs
    with pytest.warns(DeprecationWarning, match="nascore_eoinas.aliases.masked"):
        apply_prunes = nascore_eoinas.apply_prunes
    mask = apply_prunes(torch.ones(2, 3, dtype=torch.bool), [(1, 2, LOWEST)])
    assert mask.tolist() == [[True, True, True], [True, True, False]]


def test_config_defaults_follow_the_paper_and_checks_still_apply():
    config = EoiNASStrategy.configure({})
    assert (config.epochs, config.tau_max, config.tau_schedule) == (160, 5.0, "exponential")
    assert config.indicator_lambda == 0.5 and config.warmup_epochs is None
    assert (config.arch_lr, config.arch_betas, config.arch_weight_decay) == (3e-4, (0.5, 0.999),
                                                                             1e-3)
    with pytest.raises(ConfigError, match="lr_min"):
        EoiNASStrategy.configure({"lr_min": 1.0})
    with pytest.raises(ConfigError, match="tau_min"):
        EoiNASStrategy.configure({"tau_min": 0})
    with pytest.raises(ConfigError, match="warmup_epochs"):
        EoiNASStrategy.configure({"epochs": 4, "warmup_epochs": 4})


def test_warmup_and_schedule_scale_with_the_run(make_strategy):
    strategy = make_strategy(epochs=8)
    assert strategy.warmup_epochs == 1 and strategy.in_warmup(0) and not strategy.in_warmup(1)
    assert strategy.part("gradual_pruning").schedule == [1, 2, 3, 4, 5, 6, 7]
    explicit = make_strategy(epochs=8, warmup_epochs=2, prune_every=3)
    assert explicit.warmup_epochs == 2 and explicit.part("gradual_pruning").schedule == [4, 7]


def test_hard_sampling_runs_one_op_and_soft_sampling_weights_all_unpruned_ops(make_strategy):
    hard = make_strategy()
    group = hard.groups[0]
    weights = hard.edge_weights(group)
    assert weights.index is not None
    one_hot = torch.nn.functional.one_hot(weights.index, 8).float()
    assert torch.equal(weights.weights.detach(), one_hot)

    soft = make_strategy(preset="code")
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
def test_paper_counters_accumulate_validation_accuracy_over_training_samples(
    make_strategy, soft: bool
):
    """The paper's reading of Eq. 6: Ca sums the validation accuracies, Ce counts training
    samples, so C = Ca / Ce is the mean accuracy while sampled."""
    strategy = make_strategy(epochs=8, hard_sampling=not soft)  # warm-up: epoch 0
    indicator = strategy.part("importance_indicator")
    indicator.after_weights_step(_record(strategy, "weights", None, 0, 0.0, soft))
    assert indicator.stats["normal"].ce.sum() == 0  # no counting during the warm-up
    for _ in range(2):
        indicator.after_weights_step(_record(strategy, "weights", None, 1, 0.0, soft))
    indicator.after_arch_step(_record(strategy, "arch", 0, 1, 0.5, soft))
    indicator.after_arch_step(_record(strategy, "arch", 0, 1, 0.25, soft))
    indicator.after_arch_step(_record(strategy, "arch", 1, 1, 0.9, soft))  # another stage
    sampled = torch.arange(14) % 8
    for name in ("normal", "reduce"):
        stats = indicator.stats[name]
        assert stats.ce[torch.arange(14), sampled].tolist() == [2] * 14
        assert stats.ce.sum() == 28
        assert stats.ca[torch.arange(14), sampled].tolist() == [0.75] * 14
        assert stats.ratio()[torch.arange(14), sampled].tolist() == pytest.approx([0.375] * 14)


def test_code_reading_keeps_the_latest_validation_accuracy_over_the_sample_count(make_strategy):
    """The released code's reading of Eq. 6: Ca is the latest batch's accuracy, so C is that
    accuracy divided by the number of training samples."""
    strategy = make_strategy(epochs=8, preset="code")
    indicator = strategy.part("importance_indicator")
    for _ in range(2):
        indicator.after_weights_step(_record(strategy, "weights", None, 1, 0.0, True))
    indicator.after_arch_step(_record(strategy, "arch", 0, 1, 0.5, True))
    indicator.after_arch_step(_record(strategy, "arch", 0, 1, 0.25, True))
    stats = indicator.stats["normal"]
    assert stats.ca.max() == 0.25
    assert stats.ratio().max() == pytest.approx(0.125)


def _rig(strategy) -> None:
    """Alphas and counters where plain alpha and the indicator disagree on every edge: skip has
    the lowest alpha but C = 1 (+0.5); sep_conv_5x5 is then the lowest indicator."""
    stats = strategy.part("importance_indicator").stats
    with torch.no_grad():
        for name in ("normal", "reduce"):
            alpha = strategy.alphas[name]
            alpha.zero_()
            alpha[:, OPS.index("skip_connect")] = -1.0
            alpha[:, OPS.index("sep_conv_5x5")] = -0.5
            alpha[:, OPS.index("max_pool_3x3")] = -0.2
            stats[name].ca[:, OPS.index("skip_connect")] = 4.0
            stats[name].ce[:, OPS.index("skip_connect")] = 4


@pytest.mark.parametrize("preset", [None, "code"])
def test_a_stage_prunes_the_lowest_indicator_op_of_every_edge_and_logs_it(make_strategy, preset):
    strategy = make_strategy(epochs=8, preset=preset)
    indicator, pruning = strategy.part("importance_indicator"), strategy.part("gradual_pruning")
    _rig(strategy)
    expected = {n: indicator.indicator(n) for n in ("normal", "reduce")}
    events = pruning.prune_stage(epoch=3)
    assert len(events) == 28 and strategy.context.events.records == events
    for event in events:
        assert event["type"] == "prune" and event["epoch"] == 3 and event["stage"] == 1
        assert event["op"] == "sep_conv_5x5" and event["reason"] == LOWEST
        edge = strategy.params.group(event["group"]).edges.index(event["edge"])
        assert event["score"] == pytest.approx(float(expected[event["group"]][edge, 5]))
        assert "sep_conv_5x5" not in event["remaining"] and len(event["remaining"]) == 7
    assert not strategy.masks["normal"][:, 5].any() and strategy.masks["normal"].sum() == 14 * 7
    assert indicator.indicator("normal")[:, 5].eq(float("-inf")).all()
    indicator.begin_epoch(4)  # the code restarts Ce once pruning happened
    reset = preset == "code"
    assert (indicator.stats["normal"].ce.sum() == 0) == reset
    # the next stage: max_pool (alpha -0.2) goes, skip (alpha -1 but C = 1 in the paper) stays
    pruning.prune_stage(epoch=4)
    pruned = {e["op"] for e in pruning.history[28:]}
    assert pruned == ({"skip_connect"} if reset else {"max_pool_3x3"})


def test_only_the_code_presets_last_stage_drops_none_first(make_strategy):
    for preset, reason in ((None, LOWEST), ("code", ZERO_FIRST)):
        strategy = make_strategy(epochs=8, preset=preset)
        pruning = strategy.part("gradual_pruning")
        _rig(strategy)
        pruning.stages_done = len(pruning.schedule) - 1  # the next stage is the last
        events = pruning.prune_stage(epoch=7)
        assert {e["reason"] for e in events} == {reason}
        assert {e["op"] for e in events} == ({"none"} if preset == "code" else {"sep_conv_5x5"})


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
    assert torch.equal(scores["normal"], strategy.part("importance_indicator").indicator("normal"))


def test_the_method_code_is_short():
    """EoiNAS is a declaration plus two parts: at most 200 lines of code (without its config,
    bench and plot modules)."""
    from pathlib import Path

    import nascore_eoinas

    from nascore.testing import code_lines

    root = Path(nascore_eoinas.__file__).parent
    files = ("indicator.py", "pruning.py", "schedule.py", "strategy.py")
    assert sum(code_lines(root / name) for name in files) <= 200
