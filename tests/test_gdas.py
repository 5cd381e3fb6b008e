"""GDAS: Gumbel straight-through sampling, temperature schedules and the one-op-per-edge cost."""

from __future__ import annotations

import math

import pytest
import torch

from nascore.errors import ConfigError, NonFiniteLossError
from nascore.oneshot.sampling import gumbel_noise, gumbel_straight_through
from nascore.oneshot.schedules import tau_schedule
from nascore.strategies.gdas import GDASStrategy
from nascore.testing import count_op_calls, make_strategy, record_steps, tiny_data
from nascore.testing import drive as run


def test_gumbel_forward_is_one_hot_of_the_perturbed_argmax():
    alpha = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    weights, index = gumbel_straight_through(alpha, 0.7, generator=torch.Generator().manual_seed(3))
    noise = gumbel_noise(alpha.shape, torch.Generator().manual_seed(3))
    expected_index = (torch.log_softmax(alpha, -1) + noise).argmax(-1)
    assert torch.equal(index, expected_index)
    one_hot = torch.nn.functional.one_hot(expected_index, 6).float()
    assert torch.allclose(weights, one_hot, atol=1e-6)


def test_gumbel_gradient_equals_the_gradient_of_the_relaxed_softmax():
    tau = 0.7
    alpha = torch.randn(4, 6, generator=torch.Generator().manual_seed(0)).requires_grad_()
    upstream = torch.randn(4, 6, generator=torch.Generator().manual_seed(1))
    weights, _ = gumbel_straight_through(alpha, tau, generator=torch.Generator().manual_seed(3))
    (weights * upstream).sum().backward()

    ref_alpha = alpha.detach().clone().requires_grad_()
    noise = gumbel_noise(alpha.shape, torch.Generator().manual_seed(3))
    probs = torch.softmax((torch.log_softmax(ref_alpha, -1) + noise) / tau, -1)
    (probs * upstream).sum().backward()
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0
    assert torch.allclose(alpha.grad, ref_alpha.grad, atol=1e-6)


def test_gumbel_samples_follow_the_softmax_of_alpha():
    probs = torch.tensor([0.5, 0.3, 0.2])
    alpha = probs.log().expand(4000, 3)
    _, index = gumbel_straight_through(alpha, 1.0, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(index, minlength=3).float() / 4000
    assert torch.allclose(freq, probs, atol=0.03)


def test_masked_candidates_are_never_sampled_and_get_no_gradient():
    alpha = torch.zeros(3, 4, requires_grad=True)
    mask = torch.tensor([[True, False, True, True]] * 3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(200):
        weights, index = gumbel_straight_through(alpha, 1.0, mask, gen)
        assert not (index == 1).any()
        weights.sum().backward()
        assert torch.all(alpha.grad[:, 1] == 0)
        assert torch.all(weights[:, 1] == 0)


def test_gumbel_raises_when_alphas_are_not_finite():
    alpha = torch.tensor([[0.0, math.nan, 1.0]])
    with pytest.raises(NonFiniteLossError, match="arch learning rate"):
        gumbel_straight_through(alpha, 1.0, generator=torch.Generator().manual_seed(0))


def test_linear_tau_schedule_hits_both_endpoints():
    assert tau_schedule(0, 50, 10.0, 0.1) == pytest.approx(10.0)
    assert tau_schedule(49, 50, 10.0, 0.1) == pytest.approx(0.1)
    assert tau_schedule(1, 3, 10.0, 0.1) == pytest.approx(5.05)
    assert tau_schedule(0, 1, 10.0, 0.1) == pytest.approx(10.0)


def test_exponential_tau_schedule_is_geometric():
    assert tau_schedule(0, 5, 5.0, 0.05, "exponential") == pytest.approx(5.0)
    assert tau_schedule(4, 5, 5.0, 0.05, "exponential") == pytest.approx(0.05)
    assert tau_schedule(2, 5, 5.0, 0.05, "exponential") == pytest.approx(0.5)


def test_gdas_config_rejects_a_non_positive_tau_min():

    with pytest.raises(ConfigError, match="tau_min"):
        GDASStrategy.configure({"tau_min": 0})
    with pytest.raises(ConfigError, match="swap"):
        GDASStrategy.configure({"tau_min": 2, "tau_max": 1})


# -- gdas strategy on a tiny darts space


def test_a_gdas_step_runs_at_most_one_op_per_edge():
    strategy = make_strategy("gdas")
    counts = count_op_calls(strategy)
    batch = next(tiny_data().batches("weights", 16, 0))
    strategy.search_step(batch, batch, 0)
    # Two forward passes (weights and arch step) over 3 cells x 14 edges; a sampled `none` runs
    # nothing, every other sample exactly one op (darts runs seven: see test_oneshot).
    assert counts["edges"] == 2 * 3 * 14
    assert 0.8 * counts["edges"] <= counts["ops"] <= counts["edges"]


def test_hooks_see_the_sampled_candidates_and_pruned_ones_are_never_sampled():
    strategy = make_strategy("gdas")
    records = record_steps(strategy).records
    keep = [0, 4, 6]  # none, sep_conv_3x3, dil_conv_3x3
    mask = torch.zeros(14, 8, dtype=torch.bool)
    mask[:, keep] = True
    strategy.set_mask("normal", mask)
    run(strategy, range(2))
    assert [r.split for r in records[:2]] == ["weights", "arch"]
    assert len(records) == 2 * 2 * 3
    seen = torch.cat([r.selections["normal"].index for r in records])
    assert set(seen.tolist()) <= set(keep) and len(set(seen.tolist())) > 1
    for r in records:
        index = r.selections["normal"].index
        assert torch.equal(r.selections["normal"].weights.argmax(1), index)


def test_gdas_is_deterministic_for_a_seed_and_reports_tau():
    first, second, other = (make_strategy("gdas", seed=s) for s in (0, 0, 1))
    summaries = [run(s, range(2)) for s in (first, second, other)]
    assert torch.equal(first.alphas["normal"], second.alphas["normal"])
    assert not torch.equal(first.alphas["normal"], other.alphas["normal"])
    assert [s["tau"] for s in summaries[0]] == pytest.approx([10.0, 0.1])
    assert first.context.space.validate(first.derive()) == first.derive()


def test_tau_follows_the_configured_schedule():
    strategy = make_strategy(
        "gdas", epochs=3, tau_max=5.0, tau_min=0.05, tau_schedule="exponential"
    )
    assert [strategy.policy.tau(e) for e in range(3)] == pytest.approx([5.0, 0.5, 0.05])


def test_gdas_defaults_are_the_reference_codes_with_their_source():
    import attrs

    from nascore.strategies.gdas import GDASStrategy

    config = GDASStrategy.configure({})
    assert (config.epochs, config.batch_size, config.lr, config.lr_min) == (250, 256, 0.025,
                                                                           0.001)
    assert (config.weight_decay, config.nesterov, config.tau_max, config.tau_min) == (
        5e-4, True, 10.0, 0.1)
    assert config.tau_schedule == "linear" and config.arch_step_first is False
    helps = {f.name: f.metadata["help"] for f in attrs.fields(type(config))}
    assert "AutoDL-Projects" in helps["epochs"] and "AutoDL-Projects" in helps["nesterov"]
