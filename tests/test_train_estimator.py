"""The ``train`` estimator and the core's budget presets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from nascore.architecture import Architecture
from nascore.budget import SMALL, TINY, Budget
from nascore.config import config_to_dict
from nascore.context import SearchContext
from nascore.costs import count_macs, count_params
from nascore.data import DataConfig, SearchData
from nascore.errors import ConfigError, DataError, NonFiniteLossError
from nascore.estimators.train import TrainEstimator, TrainEstimatorConfig, holdout_size
from nascore.events import EventLog, read_events
from nascore.plugins import registry
from nascore.runner import resolve_config
from nascore.spaces.darts import DartsSpace
from nascore.spaces.darts.space import DartsSpaceConfig
from nascore.training.fit import autocast_dtype, fit_step, grad_scaler, precision_name

#: Half of the sampled tiny (C=4, 3 cells) digits darts networks have fewer parameters than this
#: (sampled sizes range from about 5.3k to 11k).
PARAMS_BOUND = 7500


@pytest.fixture(scope="module")
def data() -> SearchData:
    return SearchData(DataConfig(subset=200), seed=0)


class RecordingSpace(DartsSpace):
    """The darts space, remembering the networks it builds and the input shape each is called
    with."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.input_shapes: list[tuple[int, ...]] = []
        self.networks: list[torch.nn.Module] = []

    def build_network(self, arch, **options):  # type: ignore[override]
        network = super().build_network(arch, **options)
        self.networks.append(network)
        network.register_forward_pre_hook(
            lambda _module, inputs: self.input_shapes.append(tuple(inputs[0].shape))
        )
        return network


def make(data: SearchData, budget: Budget | None = TINY, seed: int = 0,
         **config) -> TrainEstimator:
    space = RecordingSpace(DartsSpaceConfig(channels=4, layers=3), data.info)
    context = SearchContext(space=space, seed=seed, device=torch.device("cpu"),
                            events=EventLog(), data=data, budget=budget)
    return TrainEstimator(TrainEstimatorConfig(**config), context)


def sample(estimator: TrainEstimator, seed: int = 0) -> Architecture:
    return estimator.context.space.sample(np.random.default_rng(seed))


def estimate_events(estimator: TrainEstimator) -> list[dict]:
    return [r for r in estimator.context.events.records if r["type"] == "estimate"]


def test_presets_are_registered_with_their_documented_values():
    reg = registry()
    assert reg.get("budget", "tiny") == TINY
    assert reg.get("budget", "small") == SMALL
    assert (TINY.epochs, TINY.batch_size, TINY.lr, TINY.layers, TINY.channels) == (1, 64, 0.05,
                                                                                   3, 4)
    assert (TINY.image_size, TINY.cutout, TINY.precision) == (None, 0, 32)
    assert (SMALL.epochs, SMALL.batch_size, SMALL.lr, SMALL.layers, SMALL.channels) == (
        5, 64, 0.05, 5, 8)
    assert reg.get("estimator", "train") is TrainEstimator


def test_budget_preset_with_inline_overrides_resolves():
    tree = resolve_config("evolution", "darts", flags={"estimator": "train", "budget": "tiny"},
                          overrides=["budget.epochs=2"])
    assert tree["budget"] == {**config_to_dict(TINY), "epochs": 2}


def test_estimate_trains_the_budget_network_and_scores_its_accuracy(data: SearchData):
    estimator = make(data)
    arch = sample(estimator)
    estimate = estimator.estimate(arch)
    assert 0.0 <= estimate.score <= 1.0
    reference = estimator.context.space.build_network(arch, channels=4, layers=3,
                                                      num_classes=10, in_channels=1)
    assert estimate.params == count_params(reference, exclude=("auxiliary",))
    assert estimate.flops == count_macs(reference, torch.zeros(1, 1, 8, 8))
    assert estimate.cost_seconds > 0
    # 20 of the 200 images held out (MIP-BPE's tenth): 180 train in batches of 64, then the 20
    # held-out ones are scored.
    shapes = estimator.context.space.input_shapes
    assert [s[0] for s in shapes[:4]] == [64, 64, 52, 20]
    [event] = estimate_events(estimator)
    assert event["score"] == estimate.score and event["cached"] is False


def test_cache_hit_returns_the_estimate_without_training(data: SearchData):
    estimator = make(data)
    arch = sample(estimator)
    first = estimator.estimate(arch)
    built = len(estimator.context.space.input_shapes)
    assert estimator.estimate(arch) == first
    assert len(estimator.context.space.input_shapes) == built  # no forward pass at all
    assert [e["cached"] for e in estimate_events(estimator)] == [False, True]
    # The cache survives a state-dict round trip through JSON (resume).
    state = json.loads(json.dumps(estimator.state_dict()))
    resumed = make(data)
    resumed.load_state_dict(state)
    assert resumed.estimate(arch) == first
    assert estimate_events(resumed)[0]["cached"] is True
    # Without caching every query trains again.
    uncached = make(data, cache=False)
    uncached.estimate(arch)
    uncached.estimate(arch)
    assert [e["cached"] for e in estimate_events(uncached)] == [False, False]


def test_same_seed_same_score_and_global_rng_untouched(data: SearchData):
    arch = sample(make(data), seed=3)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = make(data, seed=7).estimate(arch)
    assert torch.equal(torch.get_rng_state(), before)
    b = make(data, seed=7).estimate(arch)
    assert (a.score, a.report) == (b.score, b.report)
    c = make(data, seed=8).estimate(arch)
    assert c.report["train_loss"] != a.report["train_loss"]


def test_images_are_resized_to_the_budget_size(data: SearchData):
    estimator = make(data, TINY.evolve(image_size=16, cutout=4))
    arch = sample(estimator)
    estimate = estimator.estimate(arch)
    shapes = estimator.context.space.input_shapes
    assert shapes and all(s[1:] == (1, 16, 16) for s in shapes)
    assert estimate.flops == count_macs(estimator.build(arch), torch.zeros(1, 1, 16, 16))


def test_bfloat16_precision_trains(data: SearchData):
    estimator = make(data, TINY.evolve(precision=16))
    estimate = estimator.estimate(sample(make(data)))
    assert 0.0 <= estimate.score <= 1.0 and np.isfinite(estimate.report["train_loss"])
    [event] = estimate_events(estimator)
    assert event["precision"] == "bfloat16"  # the log says what precision 16 meant here


def test_precision_16_is_float16_with_loss_scaling_on_cuda_and_bfloat16_on_cpu():
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert autocast_dtype(cuda, 16) is torch.float16
    assert autocast_dtype(cpu, 16) is torch.bfloat16
    assert autocast_dtype(cuda, 32) is None and autocast_dtype(cpu, 32) is None
    # without a loss scaler (the one-shot loop) float16 gradients would underflow: bfloat16
    assert autocast_dtype(cuda, 16, loss_scaling=False) is torch.bfloat16
    assert [precision_name(d, 16) for d in (cuda, cpu)] == ["float16", "bfloat16"]
    assert precision_name(cpu, 32) == "float32"
    assert grad_scaler(cpu, 16) is None and grad_scaler(cpu, 32) is None
    assert grad_scaler(cuda, 32) is None


def test_a_loss_scaled_step_updates_like_a_plain_one():
    """fit_step through a GradScaler (power-of-two scale, unscaled before the clip) takes the
    same SGD step as without one (exercised on the CPU; float16 itself needs CUDA)."""
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    steps = []
    for scaler in (None, torch.amp.GradScaler("cpu", init_scale=2.0**10)):
        torch.manual_seed(0)
        net = torch.nn.Linear(3, 2)
        optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
        fit_step(net, x, y, optimizer, torch.nn.CrossEntropyLoss(), torch.device("cpu"),
                 grad_clip=0.1, scaler=scaler)
        steps.append(net.weight.detach().clone())
    torch.manual_seed(0)
    initial = torch.nn.Linear(3, 2).weight.detach()
    assert not torch.allclose(steps[0], initial)  # a step was taken
    assert torch.allclose(steps[0], steps[1], atol=1e-7)  # the same one


def test_holdout_is_the_papers_5k_of_50k_or_the_same_tenth_of_a_smaller_set():
    assert holdout_size(50000, 5000) == 5000  # CIFAR-10: Sec. 5.1.1
    assert holdout_size(60000, 5000) == 5000  # a larger set keeps the 5K
    assert holdout_size(49990, 5000) == 4999  # just below: the tenth
    assert holdout_size(1437, 5000) == 144  # digits: round(143.7)
    assert holdout_size(200, 5000) == 20
    assert holdout_size(4, 5000) == 1  # never nothing
    assert holdout_size(20000, 1000) == 1000 and holdout_size(5000, 1000) == 500


def test_the_holdout_scores_images_the_network_never_trained_on(data: SearchData):
    estimator = make(data)
    split = estimator.split
    assert split is not None and (len(split["valid"]), len(split["train"])) == (20, 180)
    assert not set(split["valid"]) & set(split["train"])
    assert sorted([*split["valid"], *split["train"]]) == list(range(200))
    [note] = [r for r in estimator.context.events.records if r["type"] == "note"]
    assert "holds out 20 of the 200 training images" in note["message"]
    # holdout = 0: the search split (weights part trains, arch part scores), no note.
    search = make(data, holdout=0)
    search.estimate(sample(search))
    assert search.split is None
    assert [s[0] for s in search.context.space.input_shapes[:4]] == [64, 36, 64, 36]
    assert not [r for r in search.context.events.records if r["type"] == "note"]
    # Too few images to hold some out and still train is a one-line error.
    with pytest.raises(DataError, match="estimator.holdout=0"):
        make(SearchData(DataConfig(subset=2), seed=0))


def test_an_auxiliary_head_and_drop_path_train_when_the_budget_asks(data: SearchData):
    budget = TINY.evolve(epochs=2, auxiliary_weight=0.4, drop_path=0.2)
    estimator = make(data, budget)
    arch = sample(estimator)
    estimate = estimator.estimate(arch)
    network = estimator.context.space.networks[-1]
    assert any(name.startswith("auxiliary") for name, _ in network.named_parameters())
    assert network.drop_path_prob == pytest.approx(0.2 * 1 / 2)  # ramped: last of 2 epochs
    assert estimate.params == make(data).estimate(arch).params  # the head is not counted
    plain = make(data)
    plain.estimate(arch)
    assert not any(name.startswith("auxiliary")
                   for name, _ in plain.context.space.networks[-1].named_parameters())


def test_without_a_budget_the_defaults_apply(data: SearchData):
    assert make(data, budget=None).budget == Budget()


def test_nan_loss_raises_a_one_line_error(data: SearchData):
    estimator = make(data, TINY.evolve(lr=1e30, grad_clip=0.0))
    with pytest.raises(NonFiniteLossError, match="budget.lr") as info:
        estimator.estimate(sample(estimator))
    assert "\n" not in str(info.value)


def test_evolution_with_the_train_estimator_meets_a_params_bound(nas, tmp_path: Path):
    out = tmp_path / "run"
    nas("run", "--strategy", "evolution", "--space", "darts", "--estimator", "train",
        "--budget", "tiny", "--channels", "4", "--layers", "3",
        "--constraint", f"params:..{PARAMS_BOUND}",
        "--set", "strategy.queries=4", "--set", "strategy.population=2",
        "--set", "strategy.sample_size=2", "--set", "data.subset=200",
        "--out", str(out), "--quiet", check=True, timeout=120)
    result = json.loads((out / "result.json").read_text())
    [(spec, check)] = result["constraints"].items()
    assert spec.startswith("params") and check["satisfied"] and check["value"] <= PARAMS_BOUND
    events = read_events(out / "events.jsonl")
    estimates = [e for e in events if e["type"] == "estimate"]
    queries = [e for e in events if e["type"] == "query"]
    assert len(queries) == 4 and len(estimates) == 4
    assert all(0 <= e["score"] <= 1 and e["params"] <= PARAMS_BOUND for e in estimates)
    assert all(q["params"] <= PARAMS_BOUND for q in queries)


def test_a_budget_given_per_call_trains_under_it_and_is_part_of_the_cache_key(data):
    estimator = make(data, TINY)
    arch = sample(estimator)
    run_budget = estimator.estimate(arch)
    other = TINY.evolve(channels=6)
    under_other = estimator.estimate(arch, other)
    assert under_other != run_budget  # not the cached run-budget estimate
    assert under_other.params > run_budget.params  # 6 channels instead of 4
    assert estimator.estimate(arch, other) == under_other  # cached under its own key
    assert len(estimator.cache) == 2
    assert estimator.seed_for(arch, TINY) != estimator.seed_for(arch, other)
    cached = [e["cached"] for e in estimate_events(estimator)]
    assert cached == [False, False, True]


def test_estimate_many_preserves_order_and_matches_single_estimates(data):
    estimator = make(data, TINY)
    archs = [sample(estimator, seed) for seed in (3, 1, 2)]
    many = estimator.estimate_many(archs, TINY.evolve(lr=0.02))
    fresh = make(data, TINY)
    singles = [fresh.estimate(a, TINY.evolve(lr=0.02)) for a in archs]
    assert [(e.score, e.params, e.report) for e in many] == [
        (e.score, e.params, e.report) for e in singles
    ]


def test_a_budget_file_is_loaded_by_the_run_config(tmp_path):
    from nascore.budget import budget_toml

    path = tmp_path / "found.toml"
    path.write_text(budget_toml(TINY.evolve(epochs=2, channels=6), ["found by a test"]))
    tree = resolve_config("random", "darts", flags={"estimator": "train", "budget": str(path)},
                          overrides=["budget.lr=0.02"])
    assert tree["budget"] == config_to_dict(TINY.evolve(epochs=2, channels=6, lr=0.02))
    assert tree["run"]["budget"] == str(path)
    bad = tmp_path / "bad.toml"
    bad.write_text("[budget]\nepochs = 2\n[other]\nx = 1\n")
    with pytest.raises(ConfigError, match="exactly one \\[budget\\] table"):
        resolve_config("random", "darts", flags={"estimator": "train", "budget": str(bad)})
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config("random", "darts",
                       flags={"estimator": "train", "budget": str(tmp_path / "nope.toml")})
