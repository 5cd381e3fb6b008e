"""Retraining: recipe, cutout, costs, the resumable loop and the ``nas train`` command."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from nascore.architecture import Architecture
from nascore.cli.train import train_command
from nascore.errors import (
    CheckpointError,
    ConfigError,
    MalformedArchitecture,
    RunDirError,
    UnknownNameError,
    UsageError,
)
from nascore.events import read_events
from nascore.exporters.weights import load_weights
from nascore.plugins import make_space, registry
from nascore.rundir import RunDir
from nascore.space import DataInfo
from nascore.training import (
    TrainConfig,
    build_network,
    learning_rate,
    network_costs,
    resume_training,
    start_training,
)
from nascore.training.augment import cutout
from nascore.training.source import from_zoo, resolve_source, resolve_tree

TINY = {"epochs": 2, "batch_size": 32, "channels": 4, "layers": 3}
TINY_SET = ["data.subset=96"]
TINY_ARGS = ["--epochs", "1", "--batch-size", "32", "--channels", "4", "--layers", "3",
             "--set", "data.subset=64", "--quiet"]
NB201_CELL = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
)


def tiny_tree(space: str = "darts", **flags):
    return resolve_tree({}, space, flags={**TINY, **flags}, overrides=TINY_SET)


class Stop(Exception):
    """Raised by a callback to interrupt a training run."""


def stop_after_first_epoch(epoch: int, _record) -> None:
    if epoch == 0:
        raise Stop


# -- cutout --------------------------------------------------------------------------------------
def _holes(images: torch.Tensor, out: torch.Tensor) -> list[torch.Tensor]:
    return [(a != b).any(0) for a, b in zip(images, out, strict=True)]


def test_cutout_zeroes_one_square_per_image_of_the_given_length():
    images = torch.ones(64, 3, 12, 12)
    out = cutout(images, 4, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and torch.equal(images, torch.ones_like(images))
    full = 0
    for hole in _holes(images, out):
        rows, cols = hole.any(1).nonzero().flatten(), hole.any(0).nonzero().flatten()
        height, width = len(rows), len(cols)
        # a single axis-aligned rectangle, clipped at the border, never larger than 4x4
        assert 1 <= height <= 4 and 1 <= width <= 4
        assert int(hole.sum()) == height * width
        assert rows.max() - rows.min() + 1 == height and cols.max() - cols.min() + 1 == width
        full += height == width == 4
    assert full > 10  # interior centres give the whole 4x4 square


def test_cutout_is_seeded_and_clamps_long_lengths_to_the_image():
    images = torch.randn(16, 1, 8, 8)
    a = cutout(images, 16, torch.Generator().manual_seed(3))
    b = cutout(images, 16, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    # length 16 on 8x8 images is clamped to 8: a hole spans at most 8 rows, at least 4
    for hole in _holes(images, a):
        assert 4 <= int(hole.any(1).sum()) <= 8
    assert torch.equal(cutout(images, 0, torch.Generator()), images)


# -- recipe --------------------------------------------------------------------------------------
def test_learning_rate_schedules():
    cosine = TrainConfig(epochs=10, lr=0.1, lr_min=0.02)
    assert learning_rate(cosine, 0) == pytest.approx(0.1)
    assert learning_rate(cosine, 5) == pytest.approx(0.06)  # halfway: (0.1 + 0.02) / 2
    assert learning_rate(cosine, 10) == pytest.approx(0.02)
    assert learning_rate(TrainConfig(epochs=600), 300) == pytest.approx(0.0125)
    step = TrainConfig(schedule="step", lr=0.1, lr_decay=0.97)
    assert learning_rate(step, 2) == pytest.approx(0.1 * 0.97 * 0.97)


def test_darts_recipe_is_the_default_and_imagenet_folders_get_the_imagenet_recipe():
    cifar = resolve_tree({}, "darts")["train"]
    assert (cifar["epochs"], cifar["batch_size"], cifar["lr"], cifar["momentum"]) == (
        600, 96, 0.025, 0.9)
    assert (cifar["weight_decay"], cifar["cutout"], cifar["drop_path"]) == (3e-4, 16, 0.2)
    assert (cifar["auxiliary_weight"], cifar["grad_clip"]) == (0.4, 5.0)
    assert (cifar["channels"], cifar["layers"], cifar["schedule"], cifar["lr_min"]) == (
        36, 20, "cosine", 0.0)
    imagenet = resolve_tree({"data": {"dataset": "imagefolder"}}, "darts")["train"]
    assert (imagenet["epochs"], imagenet["batch_size"], imagenet["lr"]) == (250, 128, 0.1)
    assert (imagenet["schedule"], imagenet["lr_decay"], imagenet["weight_decay"]) == (
        "step", 0.97, 3e-5)
    assert (imagenet["label_smoothing"], imagenet["channels"], imagenet["layers"]) == (
        0.1, 48, 14)
    assert imagenet["variant"] == "imagenet" and imagenet["auxiliary_weight"] == 0.4


def test_config_precedence_file_then_flags_then_set():
    tree = resolve_tree(
        {"data": {"dataset": "imagefolder"}}, "darts",
        file_tree={"train": {"epochs": 7, "lr": 0.5, "cutout": 3}},
        flags={"epochs": 5, "lr": None}, overrides=["train.epochs=4", "space.nodes=3"],
    )
    assert tree["train"]["epochs"] == 4 and tree["train"]["lr"] == 0.5
    assert tree["train"]["cutout"] == 3 and tree["train"]["batch_size"] == 128
    assert tree["space"]["nodes"] == 3
    with pytest.raises(ConfigError, match="unknown config key train.epoch"):
        resolve_tree({}, "darts", overrides=["train.epoch=3"])
    with pytest.raises(ConfigError, match="section"):
        resolve_tree({}, "darts", file_tree={"strategy": {"epochs": 3}})


# -- networks and costs --------------------------------------------------------------------------
class _WithAuxiliary(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
        self.fc = nn.Linear(128, 3)
        self.auxiliary_head = nn.Linear(128, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).flatten(1))


def test_network_costs_count_exact_params_and_multiply_adds_without_the_auxiliary_head():
    costs = network_costs(_WithAuxiliary(), DataInfo(1, 8, 3))
    assert costs["params"] == 2 * 9 + 128 * 3 + 3  # conv + linear, auxiliary head excluded
    assert costs["macs"] == 8 * 8 * 2 * 9 + 128 * 3
    assert costs["input_size"] == [1, 8, 8]


def test_build_network_drops_options_a_space_has_no_use_for():
    info = DataInfo(1, 8, 10)
    options = {"channels": 4, "layers": 3, "num_classes": 10, "in_channels": 1,
               "auxiliary": True}
    nb201 = make_space("nb201", {}, info)
    network, used = build_network(nb201, nb201.parse(NB201_CELL), options, quiet=True)
    assert "auxiliary" not in used and used["channels"] == 4
    assert isinstance(network(torch.zeros(2, 1, 8, 8)), torch.Tensor)
    darts = make_space("darts", {}, info)
    network, used = build_network(darts, registry().get("architecture", "darts_v2"), options)
    assert used["auxiliary"] is True
    assert any(name.startswith("auxiliary") for name, _ in network.named_parameters())


# -- the training loop ---------------------------------------------------------------------------
def test_train_run_directory_contents(tmp_path: Path):
    source = from_zoo("darts_v2")
    run, results = start_training(tiny_tree(), source, tmp_path / "t", progress=False)
    meta = run.meta
    assert meta["kind"] == "train" and meta["source"] == "architecture:darts_v2"
    assert meta["network"]["auxiliary"] is True and meta["network"]["channels"] == 4
    arch = Architecture.load(run.path / "architecture.json")
    assert arch == registry().get("architecture", "darts_v2")
    assert (run.path / "genotype.txt").read_text().startswith("Genotype(")
    # exact costs of the network that was trained
    space = make_space("darts", meta["config"]["space"], DataInfo(1, 8, 10))
    network = space.build_network(arch, channels=4, layers=3, num_classes=10, in_channels=1,
                                  auxiliary=True)
    assert meta["costs"] == network_costs(network, DataInfo(1, 8, 10)) == results["costs"]
    epochs = [r for r in read_events(run.path / "events.jsonl") if r["type"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [0, 1]
    assert [r["lr"] for r in epochs] == pytest.approx([0.025, 0.0125])
    assert [r["drop_path"] for r in epochs] == pytest.approx([0.0, 0.1])
    assert results["test_acc"] == epochs[-1]["test_acc"]
    assert results["best_valid_acc"] is None and "valid_acc" not in epochs[-1]
    assert not (run.path / "best.safetensors").exists()  # never chosen by test accuracy
    assert json.loads((run.path / "result.json").read_text()) == results
    assert any((run.path / "tensorboard").iterdir())
    last = load_weights(run.path / "last.safetensors")
    assert set(last) == set(network.state_dict())
    assert run.load_checkpoint()["epoch"] == 2


def test_best_weights_are_chosen_on_held_out_validation_images(tmp_path: Path):
    tree = resolve_tree({}, "darts", flags={**TINY, "epochs": 3},
                        overrides=[*TINY_SET, "train.valid_fraction=0.25"])
    run, results = start_training(tree, from_zoo("darts_v1"), tmp_path / "v", progress=False)
    epochs = [r for r in read_events(run.path / "events.jsonl") if r["type"] == "epoch"]
    best = max(range(3), key=lambda e: (epochs[e]["valid_acc"], -e))
    assert results["best_epoch"] == best + 1
    assert results["best_valid_acc"] == epochs[best]["valid_acc"]
    assert results["weights"] == {"last": "last.safetensors", "best": "best.safetensors"}
    assert load_weights(run.path / "best.safetensors").keys() == load_weights(
        run.path / "last.safetensors").keys()
    # 96 training images, 24 held out: 72 train at batch 32 = 3 steps per epoch
    assert len(epochs) == 3 and run.load_checkpoint()["epoch"] == 3


def test_interrupted_and_resumed_training_ends_with_identical_weights(tmp_path: Path):
    source, tree = from_zoo("darts_v2"), tiny_tree()
    _, straight = start_training(tree, source, tmp_path / "straight", progress=False)
    with pytest.raises(Stop):
        start_training(tree, source, tmp_path / "resumed", progress=False,
                       callbacks=[stop_after_first_epoch])
    interrupted = RunDir.open(tmp_path / "resumed")
    assert interrupted.load_checkpoint()["epoch"] == 1
    assert not (interrupted.path / "result.json").exists()
    resumed = resume_training(interrupted, progress=False)
    for name in ("last.safetensors",):
        a = load_weights(tmp_path / "straight" / name)
        b = load_weights(tmp_path / "resumed" / name)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["test_acc"] == straight["test_acc"]
    records = read_events(tmp_path / "resumed" / "events.jsonl")
    assert [r["type"] for r in records] == ["epoch", "epoch", "final"]
    expected = read_events(tmp_path / "straight" / "events.jsonl")
    assert [r.get("train_loss") for r in records] == [r.get("train_loss") for r in expected]


def test_resume_refuses_network_changes_and_records_other_overrides(tmp_path: Path):
    with pytest.raises(Stop):
        start_training(tiny_tree(), from_zoo("darts_v1"), tmp_path / "r", progress=False,
                       callbacks=[stop_after_first_epoch])
    run = RunDir.open(tmp_path / "r")
    with pytest.raises(ConfigError, match="train.channels cannot change"):
        resume_training(run, ["train.channels=8"], progress=False)
    results = resume_training(run, ["train.lr=0.01"], progress=False)
    assert run.meta["overrides"] == ["train.lr=0.01"]
    assert run.meta["config"]["train"]["lr"] == 0.01
    assert read_events(run.path / "events.jsonl")[1]["lr"] == pytest.approx(0.005)
    assert read_events(run.path / "events.jsonl")[-1]["type"] == "final"
    assert results["epochs"] == 2


def test_resume_with_a_corrupt_checkpoint_fails_clearly(tmp_path: Path):
    with pytest.raises(Stop):
        start_training(tiny_tree(), from_zoo("darts_v1"), tmp_path / "r", progress=False,
                       callbacks=[stop_after_first_epoch])
    run = RunDir.open(tmp_path / "r")
    run.checkpoint_path.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        resume_training(run, progress=False)


def test_any_network_space_trains(tmp_path: Path):
    source = resolve_source(None, None, NB201_CELL, None, "nb201")
    run, results = start_training(tiny_tree("nb201", epochs=1), source, tmp_path / "nb",
                                  progress=False)
    assert run.meta["architecture"]["space"] == "nb201"
    assert "auxiliary" not in run.meta["network"]
    assert 0.0 <= results["test_acc"] <= 1.0


# -- sources -------------------------------------------------------------------------------------
def _fake_search_run(path: Path, arch: Architecture | None) -> Path:
    """A search run directory as the engine leaves it."""
    path.mkdir()
    config = {"run": {"strategy": "darts", "space": "darts", "seed": 0},
              "data": {"dataset": "digits", "data_dir": None, "subset": 64, "arch_fraction": 0.5,
                       "image_size": 0, "workers": 0},
              "space": {"channels": 8, "layers": 5, "nodes": 4, "stem_multiplier": 3}}
    (path / "run.json").write_text(json.dumps({"kind": "search", "config": config}))
    if arch is not None:
        arch.save(path / "architecture.json")
    return path


def test_sources_resolve_run_dirs_zoo_genotypes_and_files(tmp_path: Path):
    arch = registry().get("architecture", "pcdarts")
    run = from_zoo("pcdarts")
    assert run.arch == arch and run.space == "darts"
    search = resolve_source(str(_fake_search_run(tmp_path / "s", arch)), None, None, None, None)
    assert search.arch == arch and search.default_out == tmp_path / "s" / "train"
    assert search.space_options["channels"] == 8 and "subset" not in search.data_options
    space = make_space("darts", {}, DataInfo(3, 32, 10))
    text = space.format(arch)
    assert resolve_source(None, None, text, None, None).architecture(space) == arch
    (tmp_path / "genotype.txt").write_text(text + "\n")
    arch.save(tmp_path / "arch.json")
    for name in ("genotype.txt", "arch.json"):
        source = resolve_source(None, None, None, str(tmp_path / name), None)
        assert source.architecture(space) == arch
    with pytest.raises(UsageError, match="exactly one"):
        resolve_source(None, "pcdarts", text, None, None)
    with pytest.raises(UsageError, match="exactly one"):
        resolve_source(None, None, None, None, None)
    with pytest.raises(UsageError, match="space 'darts', not 'nb201'"):
        resolve_source(None, "pcdarts", None, None, "nb201")
    with pytest.raises(UnknownNameError):
        resolve_source(None, "no_such_cell", None, None, None)
    with pytest.raises(MalformedArchitecture):
        resolve_source(None, None, "Genotype(normal=[", None, None).architecture(space)
    unfinished = _fake_search_run(tmp_path / "u", None)
    with pytest.raises(RunDirError, match="no architecture.json"):
        resolve_source(str(unfinished), None, None, None, None)


# -- the command ---------------------------------------------------------------------------------
def test_train_command_with_a_published_architecture(tmp_path: Path, caplog):
    out = tmp_path / "t"
    args = ["--arch", "darts_v2", *TINY_ARGS, "--out", str(out)]
    with caplog.at_level(logging.INFO, logger="nascore"):
        result = CliRunner().invoke(train_command, args)
    assert result.exit_code == 0, result.output
    assert "test accuracy" in result.stdout
    assert "params" in caplog.text and "multiply-adds" in caplog.text
    assert json.loads((out / "result.json").read_text())["epochs"] == 1
    again = CliRunner().invoke(train_command, args)
    assert isinstance(again.exception, RunDirError)  # never overwrites a run


def test_train_command_from_a_search_run_writes_into_it(tmp_path: Path):
    search = _fake_search_run(tmp_path / "s", registry().get("architecture", "darts_v1"))
    result = CliRunner().invoke(train_command, [str(search), *TINY_ARGS])
    assert result.exit_code == 0, result.output
    meta = RunDir.open(search / "train").meta
    assert meta["config"]["space"]["stem_multiplier"] == 3
    assert meta["config"]["data"]["subset"] == 64  # from --set, not from the search run


def test_train_command_resume_and_usage_errors(tmp_path: Path):
    runner = CliRunner()
    both = runner.invoke(train_command, ["--arch", "darts_v2", "--genotype", "x"])
    assert isinstance(both.exception, UsageError) and both.exception.exit_code == 2
    with pytest.raises(Stop):
        start_training(tiny_tree(), from_zoo("darts_v2"), tmp_path / "r", progress=False,
                       callbacks=[stop_after_first_epoch])
    mixed = runner.invoke(train_command, ["--resume", str(tmp_path / "r"), "--epochs", "3"])
    assert isinstance(mixed.exception, UsageError) and "--epochs" in str(mixed.exception)
    done = runner.invoke(train_command, ["--resume", str(tmp_path / "r"), "--quiet"])
    assert done.exit_code == 0, done.output
    assert RunDir.open(tmp_path / "r").load_checkpoint()["epoch"] == 2
    assert math.isfinite(json.loads((tmp_path / "r" / "result.json").read_text())["test_loss"])


def test_imagenet_style_folders_train_with_the_imagenet_recipe(tmp_path: Path):
    from PIL import Image

    rng = torch.Generator().manual_seed(0)
    for split in ("train", "val"):
        for label in ("a", "b"):
            folder = tmp_path / "images" / split / label
            folder.mkdir(parents=True)
            for i in range(5):
                pixels = torch.randint(0, 255, (12, 12, 3), generator=rng, dtype=torch.uint8)
                Image.fromarray(pixels.numpy()).save(folder / f"{i}.png")
    args = ["--arch", "pcdarts_imagenet", "--dataset", "imagefolder", "--data-dir",
            str(tmp_path / "images"), "--epochs", "2", "--batch-size", "4", "--channels", "8",
            "--layers", "3", "--set", "data.image_size=16", "--out", str(tmp_path / "t"),
            "--quiet"]
    result = CliRunner().invoke(train_command, args)
    assert result.exit_code == 0, result.output
    meta = RunDir.open(tmp_path / "t").meta
    assert meta["network"]["variant"] == "imagenet"
    assert meta["config"]["train"]["label_smoothing"] == 0.1
    epochs = [r for r in read_events(tmp_path / "t" / "events.jsonl") if r["type"] == "epoch"]
    assert [r["lr"] for r in epochs] == pytest.approx([0.1, 0.097])
    assert meta["costs"]["input_size"] == [3, 16, 16]
