"""What runs write where: console lines in a piped log (one per epoch, plus one every
``log_every`` steps; no progress-bar redraws), TensorBoard (per-step scalars, architecture-weight
images and histograms, hparams) and ``nas show`` on a train run."""

from __future__ import annotations

import json
import logging
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from nascore.data import DataConfig, SearchData
from nascore.events import EventLog, heatmap, read_events
from nascore.rundir import RunDir
from nascore.show import curves_figure
from nascore.testing import run_cli
from nascore.training import resume_training, start_training
from nascore.training.source import from_zoo, resolve_tree

SEARCH = ["run", "--strategy", "darts", "--space", "darts", "--channels", "4", "--layers", "3",
          "--epochs", "2", "--batch-size", "32", "--set", "data.subset=160"]
TRAIN = ["train", "--arch", "darts_v2", "--epochs", "2", "--batch-size", "32", "--channels", "4",
         "--layers", "3", "--set", "data.subset=96"]
EPOCH_LINE = re.compile(r"^epoch (\d+)/2  train_loss [\d.]+  .*\(\d+\.\ds\)$")
STEP_LINE = re.compile(r"^epoch (\d+)/2  step (\d+)/(\d+)  loss ([\d.]+)")


def _search_steps() -> int:
    """Steps per search epoch: batches of 32 of the weights half of 160 images."""
    return SearchData(DataConfig(subset=160), seed=0).num_batches("weights", 32)


@pytest.fixture(scope="module")
def search_every_step(tmp_path_factory: pytest.TempPathFactory, nas) -> tuple[Path, list[str]]:
    """A piped search run logging every step: its directory and stderr lines."""
    out = tmp_path_factory.mktemp("logs") / "search"
    proc = nas(*SEARCH, "--log-every", "1", "--out", str(out), check=True)
    assert "\r" not in proc.stderr
    return out, proc.stderr.splitlines()


def test_piped_search_log_has_one_line_per_epoch_and_no_bar(tmp_path: Path, nas) -> None:
    proc = nas(*SEARCH, "--out", str(tmp_path / "run"), check=True)
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 4, proc.stderr
    assert lines[0] == f"run directory: {tmp_path / 'run'}"
    assert [EPOCH_LINE.match(line)[1] for line in lines[1:3]] == ["1", "2"]
    assert lines[3] == f"wrote {tmp_path / 'run' / 'architecture.json'}"


def test_log_every_adds_a_line_every_n_steps_with_running_means(search_every_step) -> None:
    run, lines = search_every_step
    steps = _search_steps()
    assert steps == 3  # 80 weight images: batches of 32, 32 and 16
    assert len(lines) == 2 + 2 * (steps + 1)
    epochs = [e for e in read_events(run / "events.jsonl") if e["type"] == "epoch"]
    body = lines[1:-1]
    for epoch in range(2):
        block = body[epoch * (steps + 1):(epoch + 1) * (steps + 1)]
        matches = [STEP_LINE.match(line) for line in block[:-1]]
        assert [(m[1], m[2], m[3]) for m in matches] == [
            (str(epoch + 1), str(s), str(steps)) for s in range(1, steps + 1)]
        assert EPOCH_LINE.match(block[-1])
        # the last step line's running mean is the epoch's mean step loss
        assert float(matches[-1][4]) == pytest.approx(epochs[epoch]["train_loss"], rel=1e-3)


@pytest.fixture(scope="module")
def train_run(tmp_path_factory: pytest.TempPathFactory, nas) -> tuple[Path, list[str]]:
    """A piped train run (3 steps per epoch: 72 of 96 images, 24 held out) logging every 2nd
    step: its directory and stderr lines."""
    out = tmp_path_factory.mktemp("logs") / "train"
    proc = nas(*TRAIN, "--log-every", "2", "--set", "train.valid_fraction=0.25", "--out",
               str(out), check=True)
    assert "\r" not in proc.stderr
    return out, proc.stderr.splitlines()


def test_train_log_every_two_of_three_steps(train_run) -> None:
    run, lines = train_run
    # network, run directory, per epoch: the line of step 2 of 3 and the epoch line; wrote
    assert len(lines) == 2 + 2 * 2 + 1, lines
    assert [STEP_LINE.match(line).groups()[:3] for line in (lines[2], lines[4])] == [
        ("1", "2", "3"), ("2", "2", "3")]
    assert EPOCH_LINE.match(lines[3]) and EPOCH_LINE.match(lines[5])
    config = tomllib.loads((run / "config.toml").read_text())
    assert config["train"]["log_every"] == 2


def _accumulator(run: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(run / "tensorboard"), size_guidance={
        "scalars": 0, "images": 0, "histograms": 0, "tensors": 0})
    accumulator.Reload()
    return accumulator


def test_tensorboard_gets_steps_arch_weight_images_histograms_and_hparams(
        search_every_step) -> None:
    run, _ = search_every_step
    steps = _search_steps()
    tb = _accumulator(run)
    epochs = [e for e in read_events(run / "events.jsonl") if e["type"] == "epoch"]
    losses = tb.Scalars("step/loss")
    assert [s.step for s in losses] == list(range(2 * steps))
    assert len(tb.Scalars("step/arch_loss")) == 2 * steps
    for epoch, record in enumerate(epochs):  # the epoch's train_loss is the mean of its steps
        mean = np.mean([s.value for s in losses[epoch * steps:(epoch + 1) * steps]])
        assert mean == pytest.approx(record["train_loss"], rel=1e-5)
    for group in ("normal", "reduce"):
        images = tb.Images(f"arch_weights/{group}")
        assert [i.step for i in images] == [0, 1]
        assert (images[0].height, images[0].width) == (14 * 12, 8 * 12)  # edges x candidates
        histograms = tb.Histograms(f"arch_weights/{group}")
        assert [h.step for h in histograms] == [0, 1]
        assert histograms[-1].histogram_value.num == 14 * 8
        assert histograms[-1].histogram_value.sum == pytest.approx(14.0, rel=1e-4)  # softmaxes
    content = tb.PluginTagToContent("hparams")
    assert set(content) == {"_hparams_/experiment", "_hparams_/session_start_info",
                            "_hparams_/session_end_info"}
    start = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["run.strategy"].string_value == "darts"
    assert start.hparams["run.log_every"].number_value == 1
    assert start.hparams["space.channels"].number_value == 4
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/experiment"]).experiment
    metrics = {m.name.tag for m in experiment.metric_infos}
    assert {"hparams/valid_acc", "hparams/train_loss"} <= metrics
    final = tb.Scalars("hparams/valid_acc")
    assert [s.value for s in final] == [pytest.approx(epochs[-1]["valid_acc"])]


def test_array_fields_become_histograms_and_2d_ones_heatmaps(tmp_path: Path) -> None:
    events = EventLog(tmp_path)
    events.log({"type": "epoch", "epoch": 0,
                "arch_weights": {"a": [[0.25, 0.75], [0.5, 0.5], [1.0, 0.0]]},
                "edge_weights": {"a": [0.2, 0.3, 0.5]},
                "pruned": {"a": 3},
                "indicator": {"a": [[1.0, "-inf"]]}})
    events.close()
    tb = _accumulator(tmp_path)
    tags = tb.Tags()
    assert tags["images"] == ["arch_weights/a"]
    assert sorted(tags["histograms"]) == ["arch_weights/a", "edge_weights/a"]
    assert tb.Histograms("edge_weights/a")[0].histogram_value.num == 3
    record = read_events(tmp_path / "events.jsonl")[0]
    assert record["indicator"] == {"a": [[1.0, "-inf"]]}  # events.jsonl keeps every field


def test_heatmap_is_white_at_zero_and_darkest_at_the_largest_value() -> None:
    image = heatmap(np.array([[0.0, 0.5], [0.25, 0.5]]))
    assert image.shape == (24, 24, 3) and image.dtype == np.uint8
    assert image[0, 0].tolist() == [255, 255, 255]  # 0
    assert image[0, 12].tolist() == [8, 48, 107]  # the maximum, 0.5
    assert image[12, 0].tolist() == [132, 152, 181]  # 0.25: halfway, (255 + 8) / 2 rounded
    assert (image[:12, :12] == image[0, 0]).all()  # 12 x 12 pixels per value


def test_show_on_a_train_run_prints_results_and_draws_curves(train_run) -> None:
    run, _ = train_run
    code, shown, err = run_cli("show", str(run))
    assert code == 0, err
    result = json.loads((run / "result.json").read_text())
    assert "(train)" in shown.splitlines()[0]
    assert "epochs done: 2 of 2" in shown
    assert f"test accuracy {result['test_acc']:.4f}" in shown
    assert f"best validation accuracy {result['best_valid_acc']:.4f}" in shown
    assert "Genotype(normal=[" in shown and "params" in shown
    curves = run / "plots" / "curves.png"
    assert f"wrote {curves}" in shown
    assert curves.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {p.name for p in (run / "plots").iterdir()} >= {
        "curves.png", "cell_normal.png", "cell_normal.dot", "cell_reduce.pdf"}
    epochs = [e for e in read_events(run / "events.jsonl") if e["type"] == "epoch"]
    figure = curves_figure(epochs)
    panels = {ax.get_title(): {line.get_label(): line for line in ax.lines}
              for ax in figure.axes}
    assert {title: sorted(lines) for title, lines in panels.items()} == {
        "loss": ["test_loss", "train_loss", "valid_loss"],
        "accuracy": ["test_acc", "train_acc", "valid_acc"],
        "learning rate": ["lr"],
    }
    lr = panels["learning rate"]["lr"]
    assert list(lr.get_xdata()) == [1, 2]
    assert list(lr.get_ydata()) == [e["lr"] for e in epochs]


class Stop(Exception):
    """Raised by a callback to interrupt a training run."""


def _stop_after_first_epoch(epoch: int, _record) -> None:
    if epoch == 0:
        raise Stop


def test_a_resumed_run_takes_log_every_from_set_and_continues_the_step_axis(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tree = resolve_tree({}, "darts", flags={"epochs": 2, "batch_size": 32, "channels": 4,
                                            "layers": 3}, overrides=["data.subset=64"])
    with pytest.raises(Stop):
        start_training(tree, from_zoo("darts_v2"), tmp_path / "r", progress=False,
                       callbacks=[_stop_after_first_epoch])
    caplog.set_level(logging.INFO, logger="nascore")
    resume_training(RunDir.open(tmp_path / "r"), ["train.log_every=1"], progress=False)
    steps = [m.groups()[:3] for r in caplog.records if (m := STEP_LINE.match(r.getMessage()))]
    assert steps == [("2", "1", "2"), ("2", "2", "2")]  # 64 images: 2 steps, epoch 2 only
    tb = _accumulator(tmp_path / "r")
    # two event files (before and after the resume), read in file-name order
    assert sorted(s.step for s in tb.Scalars("step/loss")) == [0, 1, 2, 3]
    assert "_hparams_/session_start_info" in tb.PluginTagToContent("hparams")


def test_the_cli_in_process_leaves_the_nascore_logger_as_it_was(capsys) -> None:
    """``nas`` called in-process (an embedding application, a test) removes its console handler
    when it returns, so later Python use stays silent and never writes to a closed stream."""
    from nascore.cli import entry

    logger = logging.getLogger("nascore")
    before = (logger.handlers[:], logger.level, logger.propagate)
    entry(["config", "--strategy", "darts", "--space", "darts"])
    assert "strategy" in capsys.readouterr().out
    assert (logger.handlers, logger.level, logger.propagate) == before
