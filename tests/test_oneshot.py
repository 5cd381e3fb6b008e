"""The one-shot base: masked softmax, the unrolled gradient, masks, hooks, state and DARTS."""

from __future__ import annotations

import copy

import attrs
import pytest
import torch
from torch import nn
from torch.func import functional_call

from nascore.budget import Budget
from nascore.errors import ConfigError, NonFiniteLossError
from nascore.nn.mixed import MixedEdge
from nascore.oneshot import OneShotStrategy
from nascore.oneshot.sampling import masked_softmax
from nascore.oneshot.unrolled import unrolled_arch_gradients
from nascore.plugins import registry
from nascore.space import EdgeWeights
from nascore.spaces.darts import DartsSpace, DartsSpaceConfig
from nascore.testing import count_op_calls, make_strategy, record_steps, tiny_data
from nascore.testing import drive as run


def test_masked_softmax_zeroes_pruned_candidates_and_renormalises():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, 2.0, 3.0, 4.0]], requires_grad=True)
    mask = torch.tensor([[True, False, True, True], [False, False, True, True]])
    probs = masked_softmax(logits, mask)
    assert torch.allclose(probs[0], torch.tensor([1 / 3, 0.0, 1 / 3, 1 / 3]))
    e = torch.tensor([3.0, 4.0]).exp()
    assert torch.allclose(probs[1], torch.tensor([0.0, 0.0, e[0] / e.sum(), e[1] / e.sum()]))
    probs[:, 1].sum().backward()
    assert torch.all(logits.grad == 0)
    assert torch.equal(masked_softmax(logits), torch.softmax(logits, -1))


class ToySupernet(nn.Module):
    """Two candidate ops on one edge, mixed by the group "g"'s weights."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.ops = nn.ModuleList([nn.Linear(3, 2), nn.Linear(3, 2)]).double()

    def forward(self, x: torch.Tensor, weights: dict[str, EdgeWeights]) -> torch.Tensor:
        w = weights["g"].weights[0]
        return sum(w[k] * torch.tanh(op(x)) for k, op in enumerate(self.ops))


def _batches():
    gen = torch.Generator().manual_seed(1)
    return tuple(
        (
            torch.randn(8, 3, generator=gen, dtype=torch.float64),
            torch.randint(0, 2, (8,), generator=gen),
        )
        for _ in range(2)
    )


def test_unrolled_gradient_matches_the_exact_second_order_gradient():
    net = ToySupernet()
    train, arch = _batches()
    xi = 0.5
    alpha = torch.tensor([[0.3, -0.2]], dtype=torch.float64, requires_grad=True)
    loss_fn = nn.functional.cross_entropy

    selections = {"g": EdgeWeights(weights=torch.softmax(alpha, -1))}
    _, _, (approx,) = unrolled_arch_gradients(
        net, selections, [alpha], train, arch, loss_fn, xi, check=lambda loss, which: None
    )

    # Exact: d/d alpha of L_arch(w - xi * dL_train(w, alpha)/dw, alpha), by double backward.
    params = dict(net.named_parameters())
    sel = {"g": EdgeWeights(weights=torch.softmax(alpha, -1))}
    train_loss = loss_fn(functional_call(net, params, (train[0], sel)), train[1])
    grads = torch.autograd.grad(train_loss, list(params.values()), create_graph=True)
    virtual = {n: p - xi * g for (n, p), g in zip(params.items(), grads, strict=True)}
    arch_loss = loss_fn(functional_call(net, virtual, (arch[0], sel)), arch[1])
    (exact,) = torch.autograd.grad(arch_loss, [alpha])

    first_order = torch.autograd.grad(
        loss_fn(net(arch[0], {"g": EdgeWeights(torch.softmax(alpha, -1))}), arch[1]), [alpha]
    )[0]
    assert not torch.allclose(exact, first_order, rtol=1e-2)  # the Hessian term matters here
    assert torch.allclose(approx, exact, rtol=1e-3, atol=1e-7)
    # The supernet itself is untouched by the virtual steps.
    assert all(
        torch.equal(p, q) for p, q in zip(net.parameters(), ToySupernet().parameters(), strict=True)
    )


# -- the strategies on a tiny darts space


def snapshot(strategy: OneShotStrategy, buffers: bool = True) -> dict[str, torch.Tensor]:
    """Copies of the supernet's parameters (and buffers) and the architecture parameters."""
    net = strategy.supernet
    named = net.state_dict() if buffers else dict(net.named_parameters())
    params = {f"w.{n}": p.detach().clone() for n, p in named.items()}
    params.update({f"a.{n}": p.detach().clone() for n, p in strategy.params.tensors.items()})
    return params


def test_darts_search_derives_a_valid_architecture_and_logs_arch_weights():
    strategy = make_strategy("darts")
    init = strategy.alphas["normal"].detach().clone()
    summaries = run(strategy, range(strategy.num_epochs))
    arch = strategy.derive()
    space = strategy.context.space
    assert space.validate(arch) == arch
    assert space.parse(space.format(arch)) == arch
    last = summaries[-1]
    assert set(last["arch_weights"]) == {"normal", "reduce"}
    rows = torch.tensor(last["arch_weights"]["normal"])
    assert rows.shape == (14, 8) and torch.allclose(rows.sum(1), torch.ones(14))
    assert 0.0 <= last["valid_acc"] <= 1.0 and last["arch_loss"] > 0
    assert last["lr"] < summaries[0]["lr"]  # cosine schedule stepped
    # 6 Adam steps of lr 3e-4 moved the alphas.
    assert (strategy.alphas["normal"].detach() - init).abs().max() > 5e-4


def test_darts_step_runs_every_non_zero_candidate_on_every_edge():
    strategy = make_strategy("darts")
    counts = count_op_calls(strategy)
    batch = next(tiny_data().batches("weights", 16, 0))
    strategy.search_step(batch, batch, 0)
    assert counts["ops"] == 7 * counts["edges"] > 0


def test_pruned_candidates_never_run_weigh_nothing_and_are_never_derived():
    strategy = make_strategy("darts")
    sep = strategy.groups[0].candidates.index("sep_conv_3x3")
    for group in ("normal", "reduce"):
        for edge in range(14):
            strategy.prune(group, edge, "sep_conv_3x3")
    strategy.prune("normal", "n2<-0", "max_pool_3x3")
    calls = []
    for module in strategy.supernet.modules():
        if isinstance(module, MixedEdge):
            module.ops["sep_conv_3x3"].register_forward_hook(lambda *_: calls.append(1))
    run(strategy, range(1))
    assert calls == []
    assert strategy.alphas["normal"].grad is None
    probs = strategy.probabilities()["normal"]
    assert torch.all(probs[:, sep] == 0) and torch.allclose(probs.sum(1), torch.ones(14))
    scores = strategy.scores()["normal"]
    assert torch.all(scores[:, sep] == float("-inf")) and scores[0, 1] == float("-inf")
    arch = strategy.derive()
    assert all(op != "sep_conv_3x3" for cell in ("normal", "reduce") for op, _ in arch.spec[cell])
    with pytest.raises(ValueError, match="without any candidate"):
        strategy.set_mask("normal", torch.zeros(14, 8, dtype=torch.bool))


@pytest.mark.parametrize("name", ["darts", "pcdarts", "gdas"])
def test_state_dict_round_trip_continues_identically(name):
    options = {"warmup_epochs": 0} if name == "pcdarts" else {}
    reference = make_strategy(name, **options)
    reference_summary = run(reference, range(2))[-1]

    interrupted = make_strategy(name, **options)
    run(interrupted, range(1))
    steps = interrupted.run_epoch(1)
    next(steps)
    state = copy.deepcopy(interrupted.state_dict())
    del interrupted, steps

    resumed = make_strategy(name, **options)
    resumed.load_state_dict(state)
    for _ in resumed.run_epoch(1, start_step=1):
        pass
    resumed_summary = resumed.end_epoch(1)

    expected, got = snapshot(reference), snapshot(resumed)
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    assert resumed_summary == reference_summary
    assert resumed.derive() == reference.derive()


def test_non_finite_losses_raise_before_any_update():
    strategy = make_strategy("darts")
    x, y = next(tiny_data().batches("weights", 16, 0))
    before = snapshot(strategy, buffers=False)
    with pytest.raises(NonFiniteLossError, match="weights loss is nan at epoch 1 step 4"):
        strategy.search_step((torch.full_like(x, float("nan")), y), (x, y), 3)
    after = snapshot(strategy, buffers=False)
    assert all(torch.equal(before[k], v) for k, v in after.items() if k.startswith("w."))

    alphas = {n: p.detach().clone() for n, p in strategy.params.tensors.items()}
    with pytest.raises(NonFiniteLossError, match="arch loss is nan"):
        strategy.search_step((x, y), (torch.full_like(x, float("nan")), y), 4)
    assert all(torch.equal(alphas[n], p) for n, p in strategy.params.tensors.items())


def test_second_order_runs_and_moves_alpha_differently_from_first_order():
    batch = next(tiny_data().batches("weights", 16, 0))
    arch_batch = next(tiny_data().batches("arch", 16, 0))
    moved = {}
    for second_order in (False, True):
        strategy = make_strategy("darts", second_order=second_order)
        start = strategy.alphas["normal"].detach().clone()
        metrics = strategy.search_step(batch, arch_batch, 0)
        assert torch.isfinite(torch.tensor(metrics["arch_loss"]))
        moved[second_order] = strategy.alphas["normal"].detach() - start
    assert moved[True].abs().sum() > 0
    assert not torch.allclose(moved[True], moved[False])


class StagedDartsSpace(DartsSpace):
    """Reduce-cell alphas at stage 1: a two-level scheme like A-DARTS's alpha/beta."""

    def decision_groups(self):
        normal, reduce = super().decision_groups()
        return [normal, attrs.evolve(reduce, stage=1)]


@pytest.mark.parametrize("name, arch_first", [("darts", True), ("pcdarts", True), ("gdas", False)])
def test_step_order_follows_the_reference_code(name, arch_first):
    """DARTS and PC-DARTS step the architecture before the weights on each batch pair; GDAS
    after (their reference code); the second-order step thus linearises at the current
    weights."""
    strategy = make_strategy(name, warmup_epochs=0)
    assert strategy.config.arch_step_first is arch_first
    recorder = record_steps(strategy)
    batch = next(tiny_data().batches("weights", 16, 0))
    strategy.search_step(batch, batch, 0)
    splits = [r.split for r in recorder.records]
    assert splits == (["arch", "weights"] if arch_first else ["weights", "arch"])


def test_second_order_linearises_at_the_weights_before_the_weights_step():
    data = tiny_data()
    batch, arch_batch = next(data.batches("weights", 16, 0)), next(data.batches("arch", 16, 0))
    strategy = make_strategy("darts", second_order=True)
    before = {n: p.detach().clone() for n, p in strategy.supernet.named_parameters()}
    seen = []
    original = strategy.arch_steps

    def spy(*args, **kwargs):
        seen.append(all(torch.equal(p, before[n]) for n, p in strategy.supernet.named_parameters()))
        return original(*args, **kwargs)

    strategy.arch_steps = spy
    strategy.search_step(batch, arch_batch, 0)
    assert seen == [True]


def test_arch_steps_run_per_stage_in_order_each_moving_only_its_own_parameters():
    data = tiny_data()
    space = StagedDartsSpace(DartsSpaceConfig(channels=4, layers=3), data.info)
    strategy = make_strategy("darts", space=space, arch_step_first=False)
    recorder = record_steps(strategy)
    assert sorted(strategy.params.optimizers) == [0, 1]
    before = {n: a.detach().clone() for n, a in strategy.alphas.items()}
    batch = next(data.batches("weights", 16, 0))
    strategy.search_step(batch, next(data.batches("arch", 16, 0)), 0)
    assert [(r.split, r.stage) for r in recorder.records] == [
        ("weights", None),
        ("arch", 0),
        ("arch", 1),
    ]
    assert all(0.0 <= r.accuracy <= 1.0 and r.loss > 0 and r.step == 0 for r in recorder.records)
    after_0, after_1 = recorder.alphas_after_arch
    assert not torch.equal(after_0["normal"], before["normal"])
    assert torch.equal(after_0["reduce"], before["reduce"])
    assert torch.equal(after_1["normal"], after_0["normal"])
    assert not torch.equal(after_1["reduce"], after_0["reduce"])


def test_a_budget_sizes_the_proxy_supernet_and_sets_the_schedule():
    budget = Budget(epochs=3, batch_size=32, lr=0.05, layers=5, channels=6)
    strategy = make_strategy("darts", budget=budget)
    assert len(strategy.supernet.cells) == 5
    assert strategy.supernet.stem[0].out_channels == 3 * 6
    assert strategy.num_epochs == 3 and strategy.hyper.batch_size == 32
    assert strategy.weights_optimizer.param_groups[0]["lr"] == 0.05
    assert strategy.steps_per_epoch(0) == 2  # 48 weights images at batch 32
    fixed = make_strategy("darts", budget=budget, budget_schedule=False)
    assert fixed.num_epochs == 2 and len(fixed.supernet.cells) == 5


def test_configs_validate_with_one_line_messages():
    cls = registry().get("strategy", "darts")
    for bad, match in [
        ({"epochs": 0}, "epochs must be positive"),
        ({"warmup_epochs": 2, "epochs": 2}, "lower warmup_epochs"),
        ({"lr": 0.01, "lr_min": 0.1}, "lower lr_min"),
        ({"arch_betas": [0.5]}, "arch_betas"),
    ]:
        with pytest.raises(ConfigError, match=match) as info:
            cls.configure(bad)
        assert "\n" not in str(info.value)


def test_bench_supernet_measures_each_strategy_in_a_fresh_process():
    from nascore.bench.supernet import bench_supernet

    rows = bench_supernet(("gdas",), sizes=(8,), channels=4, layers=3, batch_size=8, steps=1)
    assert [(r["strategy"], r["image_size"]) for r in rows] == [("gdas", 8)]
    assert rows[0]["seconds_per_step"] > 0
    assert rows[0]["peak_rss_mb"] >= rows[0]["base_rss_mb"] > 0


def test_joint_arch_step_updates_every_stage_from_one_forward_pass() -> None:
    """With two stages, the joint step runs one arch forward instead of one per stage."""
    from nascore.testing import make_strategy, tiny_data

    data = tiny_data()
    batch, arch_batch = next(data.batches("weights", 16, 0)), next(data.batches("arch", 16, 0))
    results = {}
    for joint in (False, True):
        strategy = make_strategy("darts", joint_arch_step=joint)
        strategy.params.add("extra", (3,), stage=1)
        before = {n: p.detach().clone() for n, p in strategy.params.tensors.items()}
        calls: list[int] = []
        strategy.supernet.register_forward_hook(lambda *_, seen=calls: seen.append(1))
        strategy.search_step(batch, arch_batch, 0)
        stepped = {stage for stage, opt in strategy.params.optimizers.items() if opt.state}
        alphas_moved = all(
            not torch.equal(strategy.params.tensors[g], before[g]) for g in ("normal", "reduce")
        )
        results[joint] = (len(calls), stepped, alphas_moved)
    assert results[False] == (3, {0, 1}, True)  # weights step + one arch forward per stage
    assert results[True] == (2, {0, 1}, True)


def test_a_budget_sets_the_image_size_cutout_and_precision_of_search_steps():
    """Images are augmented (cutout) at full size on weights batches only, then resized to the
    budget's image size; precision 16 runs the forward passes under bfloat16 autocast."""
    budget = Budget(epochs=2, batch_size=16, lr=0.05, layers=3, channels=4, image_size=6,
                    cutout=4, precision=16)
    strategy = make_strategy("darts", budget=budget)
    seen = []

    def record(_module, inputs):
        seen.append((tuple(inputs[0].shape[-2:]), torch.is_autocast_enabled("cpu")))

    strategy.supernet.register_forward_pre_hook(record)
    data = tiny_data()
    batch, arch_batch = next(data.batches("weights", 16, 0)), next(data.batches("arch", 16, 0))
    strategy.search_step(batch, arch_batch, 0)
    assert seen == [((6, 6), True), ((6, 6), True)]  # arch step, then weights step

    x, _ = batch
    train = strategy._prepare(batch, train=True)[0]
    plain = strategy._prepare(batch, train=False)[0]
    resized = torch.nn.functional.interpolate(x, size=(6, 6), mode="bilinear",
                                              align_corners=False)
    assert torch.equal(plain, resized)  # arch batches: resized, no cutout
    assert not torch.equal(train, resized)  # weights batches: cutout first


@pytest.mark.parametrize("rank, replicas, images, held", [
    (0, 1, 5, 5), (0, 2, 5, 3), (1, 2, 5, 2), (1, 2, 1, 0), (2, 3, 7, 2),
])
def test_evaluate_on_images_keeps_each_shards_share_of_the_first_images(
    rank, replicas, images, held
):
    # process `rank` holds a batch's images rank, rank + replicas, ...: of the first 7 images,
    # rank 2 of 3 holds images 2 and 5
    shard = attrs.make_class("Shard", ["rank", "replicas"])(rank, replicas)
    holder = attrs.make_class("Holder", ["data"])(shard)
    assert OneShotStrategy._shard_count(holder, images) == held


def test_evaluate_on_images_scores_the_same_fixed_images_every_epoch():
    strategy = make_strategy("darts")
    first = strategy.evaluate("arch", images=20)
    x, y = next(strategy.data.batches("arch", 16, 0))
    x2, y2 = list(strategy.data.batches("arch", 16, 0))[1]
    xs, ys = torch.cat([x, x2])[:20], torch.cat([y, y2])[:20]
    strategy.supernet.eval()
    with torch.no_grad():
        logits = strategy.supernet(xs, strategy.forward_weights())
    assert first["accuracy"] == pytest.approx(float((logits.argmax(1) == ys).float().mean()))
    strategy.epoch = 1
    assert strategy.evaluate("arch", images=20) == first
