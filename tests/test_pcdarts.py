"""PC-DARTS: edge normalisation, partial channels, warm-up and an end-to-end search."""

from __future__ import annotations

import math

import pytest
import torch

from nascore.errors import ConfigError
from nascore.oneshot import scaled_warmup
from nascore.oneshot.edgenorm import edge_softmax, node_groups
from nascore.oneshot.sampling import masked_softmax
from nascore.testing import drive as run
from nascore.testing import make_strategy, run_cli

EDGES = ("n2<-0", "n2<-1", "n3<-0", "n3<-1", "n3<-2")


def test_node_groups_follow_edge_names():
    assert node_groups(EDGES) == [[0, 1], [2, 3, 4]]
    with pytest.raises(ValueError, match="target<-source"):
        node_groups(("a", "b"))


def test_edge_softmax_on_a_hand_computed_case():
    betas = torch.tensor([0.0, math.log(2.0), 0.0, 0.0, math.log(2.0)])
    scale = edge_softmax(betas, node_groups(EDGES))
    assert torch.allclose(scale, torch.tensor([1 / 3, 2 / 3, 1 / 4, 1 / 4, 1 / 2]))


def test_edge_softmax_is_differentiable_per_node():
    betas = torch.zeros(5, requires_grad=True)
    scale = edge_softmax(betas, node_groups(EDGES))
    scale[0].backward()
    # d softmax_0 / d beta over node 2's two edges: p(1-p) and -p*q; node 3's edges untouched.
    assert torch.allclose(betas.grad, torch.tensor([0.25, -0.25, 0.0, 0.0, 0.0]))


# -- pcdarts strategy on a tiny darts space


def test_pcdarts_warms_up_then_searches_and_derives_from_op_times_edge_weights():
    strategy = make_strategy("pcdarts", partial_channels=2, warmup_epochs=1)
    start = {n: p.detach().clone() for n, p in strategy.params.tensors.items()}
    assert set(start) == {"normal", "reduce", "normal.edges", "reduce.edges"}
    metrics = list(strategy.run_epoch(0))
    assert metrics and all("arch_loss" not in m for m in metrics)
    summary = strategy.end_epoch(0)
    assert summary["warmup"] is True and "arch_loss" not in summary
    assert all(torch.equal(start[n], p) for n, p in strategy.params.tensors.items())

    summary = run(strategy, range(1, 2))[0]
    assert summary["warmup"] is False and summary["arch_loss"] > 0
    assert all(not torch.equal(start[n], p) for n, p in strategy.params.tensors.items())
    node_sums = torch.tensor(summary["edge_weights"]["normal"])
    assert torch.allclose(
        torch.stack([node_sums[g].sum() for g in node_groups(strategy.groups[0].edges)]),
        torch.ones(4),
    )

    group = strategy.groups[0]
    expected = (
        masked_softmax(strategy.alphas["normal"])
        * edge_softmax(strategy.params.tensors["normal.edges"], node_groups(group.edges))[:, None]
    )
    assert torch.allclose(strategy.scores()["normal"], expected.detach())
    assert torch.equal(
        strategy.edge_weights(group).edge_scale,
        edge_softmax(strategy.params.tensors["normal.edges"], node_groups(group.edges)),
    )
    arch = strategy.derive()
    assert strategy.context.space.validate(arch) == arch


def test_pcdarts_builds_a_partial_channel_supernet():
    strategy = make_strategy("pcdarts", partial_channels=2, warmup_epochs=0)
    edges = [m for m in strategy.supernet.modules() if type(m).__name__ == "MixedEdge"]
    assert edges and all(e.partial_channels == 2 for e in edges)


def test_partial_channels_must_divide_the_channels():
    with pytest.raises(ConfigError, match="partial_channels=3 does not divide .*channels=4"):
        make_strategy("pcdarts", partial_channels=3, warmup_epochs=0)


def test_pcdarts_defaults_follow_the_paper():
    from nascore.strategies.pcdarts import PCDartsStrategy

    c = PCDartsStrategy.configure({})
    assert (c.partial_channels, c.warmup_epochs, c.batch_size, c.lr, c.arch_lr) == (
        4,
        None,
        256,
        0.1,
        6e-4,
    )
    assert (c.epochs, c.warmup_fraction) == (50, 0.3)


@pytest.mark.parametrize("epochs, warmup", [(50, 15), (2, 1), (10, 3), (4, 1), (100, 30)])
def test_pcdarts_warmup_scales_with_the_epochs(epochs, warmup):
    # the paper's 15 of 50 epochs, rounded down, at least 1 and below the epochs
    assert scaled_warmup(epochs, 0.3) == warmup
    strategy = make_strategy("pcdarts", epochs=epochs)
    assert strategy.warmup_epochs == warmup
    assert strategy.in_warmup(warmup - 1) and not strategy.in_warmup(warmup)


def test_explicit_warmup_still_wins_and_is_checked():
    assert make_strategy("pcdarts", epochs=4, warmup_epochs=0).warmup_epochs == 0
    with pytest.raises(ConfigError, match="lower warmup_epochs"):
        make_strategy("pcdarts", epochs=4, warmup_epochs=15)
    with pytest.raises(ConfigError, match="warmup_fraction must be in"):
        make_strategy("pcdarts", warmup_fraction=1.0)


@pytest.mark.slow
def test_the_readme_tour_line_runs_with_few_epochs(tmp_path):
    code, _out, err = run_cli(
        "run", "--strategy", "pcdarts", "--space", "darts", "--epochs", "2", "--channels", "4",
        "--layers", "3", "--batch-size", "32", "--set", "data.subset=96",
        "--out", str(tmp_path / "run"), "--quiet",
    )
    assert code == 0, err
    assert (tmp_path / "run" / "architecture.json").exists()
