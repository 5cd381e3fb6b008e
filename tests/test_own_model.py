"""Spaces written as models: the choice primitives, the space read from a model factory, its
costs, and searches from the CLI and from Python (issue 26)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from torch import nn

from nascore.errors import IncompatibleError, MalformedArchitecture
from nascore.model_space import space_from
from nascore.nn import InputChoice, LayerChoice, ValueBatchNorm2d, ValueChoice, ValueConv2d
from nascore.nn.choices import choices_of, freeze
from nascore.space import DataInfo, EdgeWeights

TINY_FILE = Path(__file__).parent / "own_model" / "tiny_cnn.py"
SPEC = f"module:{TINY_FILE}:tiny_cnn"
INFO = DataInfo(in_channels=1, image_size=8, num_classes=10)


def tiny_space():
    cls = space_from(SPEC)
    return cls(cls.config_cls(), INFO)


# -- primitives ------------------------------------------------------------------------------
def test_shared_labels_make_one_decision_and_plain_forward_takes_the_first() -> None:
    class Two(nn.Module):
        def __init__(self, num_classes: int, in_chans: int) -> None:
            super().__init__()
            self.a = LayerChoice([nn.Identity(), nn.ReLU()], label="act")
            self.b = LayerChoice([nn.Identity(), nn.ReLU()], label="act")

        def forward(self, x):
            return self.b(self.a(x))

    space = space_from(Two)(space_from(Two).config_cls(), INFO)
    assert [d.name for d in space.decisions()] == ["act"]
    x = torch.tensor([[-1.0, 2.0]])
    assert torch.equal(Two(10, 1)(x), x)  # first candidate: identity
    relu = space.build_network(space.decode([1]))
    assert torch.equal(relu(x), torch.tensor([[0.0, 2.0]]))
    assert isinstance(relu.a, nn.ReLU) and isinstance(relu.b, nn.ReLU)


def test_input_choice_sums_n_of_m() -> None:
    choice = InputChoice(3, n_chosen=2, label="inputs")
    xs = [torch.full((1, 2), float(v)) for v in (1, 10, 100)]
    assert choice.combinations() == [(0, 1), (0, 2), (1, 2)]
    assert torch.equal(choice(xs), torch.full((1, 2), 11.0))  # plain: the first set
    choice._nascore_fixed = 2
    assert torch.equal(choice(xs), torch.full((1, 2), 110.0))
    with pytest.raises(ValueError, match="n_chosen"):
        InputChoice(2, n_chosen=3)


def test_value_conv_slices_equal_a_smaller_standalone_layer() -> None:
    torch.manual_seed(0)
    width, kernel = ValueChoice([2, 4], label="width"), ValueChoice([3, 5], label="kernel")
    conv = ValueConv2d(3, width, kernel)
    assert conv.weight.shape == (4, 3, 5, 5)  # the largest candidate is allocated
    x = torch.randn(2, 3, 6, 6)
    width._nascore_fixed, kernel._nascore_fixed = 0, 0  # width 2, kernel 3
    expected = F.conv2d(x, conv.weight[:2, :, 1:4, 1:4], padding=1)
    assert torch.allclose(conv(x), expected)
    fixed = conv.fixed()
    assert isinstance(fixed, nn.Conv2d) and fixed.weight.shape == (2, 3, 3, 3)
    assert torch.allclose(fixed(x), expected)
    norm = ValueBatchNorm2d(width)
    norm.eval()
    norm.running_mean.copy_(torch.arange(4.0))
    y = torch.randn(2, 2, 6, 6)
    assert torch.allclose(norm(y), norm.fixed()(y))
    assert norm.fixed().running_mean.tolist() == [0.0, 1.0]


def test_one_shot_value_mix_pads_narrow_widths() -> None:
    width = ValueChoice([1, 2], label="width")
    conv = ValueConv2d(1, width, 1)
    x = torch.ones(1, 1, 1, 1)
    weights = torch.tensor([0.25, 0.75])
    width._nascore_selection = EdgeWeights(weights[None]).row(0)
    out = conv(x).flatten()
    w = conv.weight.flatten()
    assert torch.allclose(out, torch.stack([w[0], 0.75 * w[1]]))


def test_repeat_runs_the_chosen_depth_and_keeps_only_its_blocks() -> None:
    from nascore.nn import Repeat

    def stack(num_classes: int, in_chans: int) -> nn.Module:
        blocks = Repeat(lambda i: nn.Conv2d(in_chans, in_chans, 1), ValueChoice([1, 3], "depth"))
        return nn.Sequential(blocks, nn.Flatten(), nn.Linear(in_chans * 64, num_classes))

    model = stack(10, 1)
    x = torch.randn(1, 1, 8, 8)
    first = model[0].blocks[0]
    assert torch.equal(model[0](x), first(x))  # plain: the first depth
    space = space_from(stack)(space_from(stack).config_cls(), INFO)
    deep = space.build_network(space.decode([1]))
    assert isinstance(deep[0], nn.Sequential) and len(deep[0]) == 3
    table = space.cost_table("params")
    assert table.constant + float(table.per_group["depth"][0, 1]) == space.measure("params", [1])
    depth = model[0].depth
    depth._nascore_selection = EdgeWeights(torch.tensor([[0.25, 0.75]])).row(0)
    b = model[0].blocks
    assert torch.allclose(model[0](x), 0.25 * b[0](x) + 0.75 * b[2](b[1](b[0](x))))


# -- the space -------------------------------------------------------------------------------
def test_space_decisions_round_trip_and_validation() -> None:
    space = tiny_space()
    assert [(d.name, d.candidates) for d in space.decisions()] == [
        ("op", ("conv3", "pool", "skip")), ("kernel", (3, 5)), ("merge", ((0,), (1,), (2,)))]
    for choices in itertools.product(range(3), range(2), range(3)):
        arch = space.decode(list(choices))
        assert space.encode(arch) == list(choices)
        assert space.parse(space.format(arch)) == arch
    with pytest.raises(MalformedArchitecture, match="op: one of"):
        space.validate(space.decode([0, 0, 0]).__class__(space.name, {"op": "conv9"}))
    rng = np.random.default_rng(0)
    arch = space.sample(rng)
    assert space.mutate(arch, rng) != arch


def test_two_of_three_inputs_derive_and_decode() -> None:
    class Pick(nn.Module):
        def __init__(self, num_classes: int, in_chans: int) -> None:
            super().__init__()
            self.convs = nn.ModuleList(nn.Conv2d(in_chans, 2, 1) for _ in range(3))
            self.pick = InputChoice(3, n_chosen=2, label="pick")
            self.head = nn.Linear(2, num_classes)

        def forward(self, x):
            return self.head(self.pick([c(x) for c in self.convs]).mean(dim=(2, 3)))

    space = space_from(Pick)(space_from(Pick).config_cls(), INFO)
    assert space.decisions()[0].candidates == ((0, 1), (0, 2), (1, 2))
    arch = space.derive({"pick": torch.tensor([[0.9, 0.1, 0.5]])})
    assert arch.spec == {"pick": [0, 2]} and space.encode(arch) == [1]
    kept = space.kept_mask({"pick": torch.tensor([[0.9, 0.1, 0.5]])})
    assert kept["pick"].tolist() == [[True, False, True]]
    table = space.cost_table("params")
    assert table.exact(kept) == space.measure("params", [1])
    x = torch.randn(1, 1, 8, 8)
    net = space.build_network(arch)
    assert torch.allclose(net(x), net.head((net.convs[0](x) + net.convs[2](x)).mean(dim=(2, 3))))


def test_cost_table_sums_equal_measured_costs() -> None:
    space = tiny_space()
    assert space.cost_metrics == ("params", "flops")
    for metric in ("params", "flops"):
        table = space.cost_table(metric)
        for choices in list(itertools.product(range(3), range(2), range(3)))[::3]:
            arch = space.decode(list(choices))
            scores = {g.name: torch.zeros(g.shape) for g in space.decision_groups()}
            pairs = zip(scores, choices, strict=True)
            for (label, index), d in zip(pairs, space.decisions(), strict=True):
                column = index if label != "merge" else d.candidates[index][0]
                scores[label][0, column] = 1.0
            assert space.derive(scores) == arch
            assert table.exact(space.kept_mask(scores)) == space.measure(metric, list(choices))


def test_interacting_choices_have_no_table_and_refuse_one_line() -> None:
    def wide(num_classes: int, in_chans: int) -> nn.Module:
        width = ValueChoice([2, 4], label="width")
        return nn.Sequential(ValueConv2d(in_chans, width, ValueChoice([1, 3])),
                             ValueBatchNorm2d(width), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             _Head(width, num_classes))

    space = space_from(wide)(space_from(wide).config_cls(), INFO)
    assert space.cost_metrics == ()
    with pytest.raises(IncompatibleError, match="do not add up"):
        space.cost_table("params")


class _Head(nn.Module):
    def __init__(self, width: ValueChoice, num_classes: int) -> None:
        super().__init__()
        from nascore.nn import ValueLinear

        self.linear = ValueLinear(width, num_classes)

    def forward(self, x):
        return self.linear(x)


def test_supernet_mixes_and_refuses_partial_channels() -> None:
    from nascore.space import SupernetOptions

    space = tiny_space()
    supernet = space.build_supernet(SupernetOptions())
    alphas = {g.name: torch.zeros(g.shape, requires_grad=True) for g in supernet.groups}
    weights = {name: EdgeWeights(a.softmax(dim=1)) for name, a in alphas.items()}
    supernet(torch.randn(4, 1, 8, 8), weights).sum().backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in alphas.values())
    with pytest.raises(IncompatibleError, match="partial_channels=1"):
        space.build_supernet(SupernetOptions(partial_channels=2))


def test_mixing_candidates_of_different_shapes_is_refused_in_one_line() -> None:
    choice = LayerChoice([nn.Identity(), nn.Conv2d(1, 2, 1)], label="grow")
    choice._nascore_selection = EdgeWeights(torch.full((1, 2), 0.5)).row(0)
    with pytest.raises(IncompatibleError, match="use a discrete strategy"):
        choice(torch.zeros(1, 1, 2, 2))
    choice._nascore_selection = EdgeWeights(torch.full((1, 2), 0.5), index=torch.tensor([1])).row(0)
    assert choice(torch.zeros(1, 1, 2, 2)).shape == (1, 2, 2, 2)  # one sampled candidate runs


def test_factories_that_cannot_be_named_work_in_this_process_only() -> None:
    from nascore.errors import UsageError
    from nascore.model_space import load_factory

    space = space_from(lambda num_classes, in_chans: TINY_MODULE.tiny_cnn(num_classes, in_chans))
    assert space.name.startswith("module:python:")
    assert len(space(space.config_cls(), INFO).decisions()) == 3
    with pytest.raises(UsageError, match="define the factory at module level in a file"):
        load_factory("module:python:lambda123")
    with pytest.raises(UsageError, match="no file"):
        space_from("module:no/such/file.py:model")


def test_broken_files_and_factories_fail_in_one_line(tmp_path: Path) -> None:
    from nascore.errors import UsageError

    (tmp_path / "boom.py").write_text("raise RuntimeError('boom')\n")
    (tmp_path / "bad.py").write_text("def bad(n):\n    return n\n")
    with pytest.raises(UsageError, match="importing .*boom.py failed: RuntimeError: boom"):
        space_from(f"module:{tmp_path / 'boom.py'}:model")
    bad = space_from(f"module:{tmp_path / 'bad.py'}:bad")
    with pytest.raises(UsageError, match=r"factory failed .*called as factory\(num_classes"):
        bad(bad.config_cls(), INFO)


def test_freeze_drops_unused_candidates() -> None:
    model = TINY_MODULE.tiny_cnn(num_classes=10, in_chans=1)
    labels = [label for label, _ in choices_of(model)]
    assert labels == ["op", "kernel", "merge"]
    frozen = freeze(model, {"op": 2, "kernel": 1, "merge": 0})
    assert isinstance(frozen.op, nn.Identity)
    assert isinstance(frozen.conv[0], nn.Conv2d) and frozen.conv[0].kernel_size == (5, 5)


# -- end to end ------------------------------------------------------------------------------
def _load_tiny_module():
    from nascore.model_space import load_factory

    return __import__("sys").modules[load_factory(SPEC).__module__]


TINY_MODULE = _load_tiny_module()


def _nas(*args: str) -> str:
    from nascore.cli.app import main

    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("own-model")
    runs = {}
    small = ["--set", "data.subset=96", "--batch-size", "32", "--constraint", "params:..300"]
    for strategy in ("random", "evolution"):
        runs[strategy] = root / strategy
        _nas("run", "--strategy", strategy, "--space", SPEC, "--estimator", "train",
             "--budget", "tiny", "--set", "strategy.queries=4", *small, "--out", runs[strategy])
    for strategy in ("darts", "gdas"):
        runs[strategy] = root / strategy
        _nas("run", "--strategy", strategy, "--space", SPEC, "--epochs", "1", *small,
             "--out", runs[strategy])
    _nas("resume", runs["darts"], "--set", "strategy.epochs=2")  # the space rebuilt from its spec
    runs["train"] = root / "train"
    _nas("train", runs["darts"], "--epochs", "1", "--set", "data.subset=96", "--out",
         runs["train"])
    _nas("export", runs["train"], "--format", "timm", "--out", root / "timm")
    runs["timm"] = root / "timm"
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["random", "evolution", "darts", "gdas"])
def test_cli_searches_meet_the_constraint(searched: dict[str, Path], strategy: str) -> None:
    result = json.loads((searched[strategy] / "result.json").read_text())
    assert result["constraints"]["params:..300"]["satisfied"] is True
    arch = json.loads((searched[strategy] / "architecture.json").read_text())
    assert arch["space"] == SPEC and set(arch["spec"]) == {"op", "kernel", "merge"}


@pytest.mark.slow
def test_cli_resume_continues_a_module_space_run(searched: dict[str, Path]) -> None:
    from nascore.events import read_events

    epochs = [e for e in read_events(searched["darts"] / "events.jsonl") if e["type"] == "epoch"]
    assert len(epochs) == 2


@pytest.mark.slow
def test_cli_train_and_timm_export_load(searched: dict[str, Path]) -> None:
    import timm

    import nascore.timm  # noqa: F401  (registers local-dir:)

    model = timm.create_model(f"local-dir:{searched['timm']}", pretrained=True)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)
    assert not any(isinstance(m, (LayerChoice, ValueConv2d)) for m in model.modules())


@pytest.mark.slow
def test_python_search_and_train_on_a_tensor_dataset(tmp_path: Path) -> None:
    import nascore
    from nascore.errors import DataError

    g = torch.Generator().manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(80, 1, 8, 8, generator=g),
                                          torch.randint(0, 3, (80,), generator=g))
    found = nascore.search("darts", TINY_MODULE.tiny_cnn, dataset=data, epochs=1, batch_size=32,
                           constraints=["params:..300"], out=tmp_path / "search")
    assert found.constraints["params:..300"]["satisfied"] is True
    model = found.model()
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 3)  # three classes in the labels
    trained = nascore.train(found, epochs=1, batch_size=32, out=tmp_path / "train")
    net = trained.model()
    assert not net.training and net(torch.zeros(1, 1, 8, 8)).shape == (1, 3)
    run = json.loads((tmp_path / "search" / "run.json").read_text())
    assert run["config"]["run"]["space"] == SPEC  # the factory is named by its file
    name = run["config"]["data"]["dataset"]
    from nascore.data import _PYTHON, DataConfig, load_datasets

    held = _PYTHON.pop(name)  # as in another process: the data cannot be named again
    try:
        with pytest.raises(DataError, match="cannot be loaded again"):
            load_datasets(DataConfig(dataset=name))
    finally:
        _PYTHON[name] = held
