"""Faults and bad inputs checked in-process (a subprocess would prove nothing more): exports on a
full disk or into an unusable folder, exit codes, non-finite settings, a missing GPU, resuming a
finished run or with a changed shape, exporting an unfinished training. Each ends with one line,
an exit code of the right class and no partial file."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from nascore.engine import Interrupted
from nascore.errors import ConfigError, DataError, StorageError
from nascore.exporters.formats import export
from nascore.exporters.trained import load_trained
from nascore.rundir import RunDir, umask
from nascore.runner import resolve_config, start_run
from nascore.testing import run_cli
from nascore.training.source import from_zoo, resolve_tree
from nascore.training.trainer import start_training

#: A tiny darts search on 64 digits images.
SEARCH = ["--strategy", "darts", "--space", "darts", "--channels", "4", "--layers", "3",
          "--epochs", "1", "--batch-size", "16", "--set", "data.subset=64", "--quiet"]


def _train(out: Path, epochs: int, stop_after: int | None = None) -> Path:
    """A darts_v2 network trained on 96 digits images (C=4, 3 cells); ``stop_after`` epochs
    stops it as a signal would (after that epoch's checkpoint)."""
    tree = resolve_tree({}, "darts", flags={"epochs": epochs, "batch_size": 32, "channels": 4,
                                            "layers": 3}, overrides=["data.subset=96"])

    def stop(epoch: int, _record: object) -> None:
        if stop_after is not None and epoch + 1 == stop_after:
            raise Interrupted("stopped for the test")

    with contextlib.suppress(Interrupted):
        start_training(tree, from_zoo("darts_v2"), out, progress=False, callbacks=(stop,))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(tmp_path_factory.mktemp("trained") / "run", epochs=1)


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("searched") / "run"
    tree = resolve_config("darts", "darts", {"channels": 4, "layers": 3, "epochs": 1,
                                             "batch_size": 16}, overrides=["data.subset=64"])
    start_run(tree, out, progress=False)
    return out


@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Writes past ``limit`` bytes fail with EFBIG (as on a full disk) while the block runs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "tensorboard" not in p.parts and p.name != ".lock"}


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    line = stderr.strip().splitlines()[-1]
    assert line.startswith("error: "), stderr
    return line


# -- nas export ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt,name", [("timm", "export"), ("onnx", "m.onnx"), ("pt2", "m.pt2")])
def test_an_export_that_cannot_be_written_leaves_nothing_and_blocks_nothing(
    trained: Path, tmp_path: Path, fmt: str, name: str
) -> None:
    network = load_trained(trained)
    target = tmp_path / name
    with file_size_limit(4096), pytest.raises(StorageError) as failed:
        export(network, fmt, target)
    message = str(failed.value)
    assert "File too large" in message and "ulimit -f" in message
    assert "previous version" not in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []  # no partial file, no temporary folder
    report = export(network, fmt, target)  # the failure blocks nothing
    assert target.exists() and all(path.exists() for path in report.files)


def test_an_export_into_an_unusable_folder_is_a_one_line_runtime_error(
    trained: Path, tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("not a folder")
    code, _, stderr = run_cli("export", str(trained), "--format", "pt2", "--out",
                              str(tmp_path / "file" / "m.pt2"))
    assert code == StorageError.exit_code == 1
    assert "cannot write" in _one_line(stderr)
    assert (tmp_path / "file").read_text() == "not a folder"


def test_a_timm_export_gives_every_file_the_same_ordinary_mode(trained: Path,
                                                               tmp_path: Path) -> None:
    report = export(load_trained(trained), "timm", tmp_path / "timm")
    modes = {path.name: path.stat().st_mode & 0o777 for path in report.files}
    assert set(modes.values()) == {0o666 & ~umask()}, modes
    assert (tmp_path / "timm").stat().st_mode & 0o777 == 0o777 & ~umask()


def test_exporting_an_unfinished_training_warns_and_gives_its_accuracy(tmp_path: Path) -> None:
    run = _train(tmp_path / "stopped", epochs=3, stop_after=1)
    code, stdout, stderr = run_cli("export", str(run), "--format", "pt2")
    assert code == 0, stderr
    assert "stopped after 1 of 3 epochs" in stderr and f"nas resume {run}" in stderr
    meta = load_trained(run).metadata()
    record = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()
              if json.loads(line).get("type") == "epoch"][-1]
    assert (meta["epoch"], meta["epochs"]) == (1, 3)
    assert meta["test_accuracy"] == record["test_acc"] is not None


# -- exit codes and bad values -----------------------------------------------------------------
def test_usage_errors_exit_2_and_runtime_failures_exit_1(searched: Path) -> None:
    usage, _, stderr = run_cli("run", "--strategy", "nope", "--space", "darts")
    assert usage == 2 and "unknown strategy 'nope'" in _one_line(stderr)
    with RunDir.open(searched).locked():  # another holder of the lock
        busy, _, stderr = run_cli("resume", str(searched), "--quiet")
    assert busy == 1 and "is in use by process" in _one_line(stderr)


@pytest.mark.parametrize("value", ["1e308", "inf", "-inf", "nan"])
def test_non_finite_or_overflowing_float_settings_are_refused(value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="strategy.lr must be"):
        resolve_config("darts", "darts", overrides=[f"strategy.lr={value}"])
    code, _, stderr = run_cli("run", *SEARCH, "--set", f"strategy.lr={value}", "--out",
                              str(tmp_path / "run"))
    assert code == 2 and "strategy.lr must be" in _one_line(stderr)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_missing_gpu_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    code, _, stderr = run_cli("run", *SEARCH, "--device", "cuda", "--out", str(tmp_path / "r"))
    assert code == 2 and "no CUDA GPU" in _one_line(stderr)
    code, _, stderr = run_cli("train", "--arch", "darts_v2", "--channels", "4", "--layers",
                              "3", "--epochs", "1", "--set", "data.subset=32", "--device",
                              "cuda", "--out", str(tmp_path / "t"), "--quiet")
    assert code == 2 and "no CUDA GPU" in _one_line(stderr)
    assert list(tmp_path.iterdir()) == []


# -- resume ------------------------------------------------------------------------------------
def test_resuming_a_finished_run_says_so_and_changes_nothing(searched: Path) -> None:
    before = _files(searched)
    code, _, stderr = run_cli("resume", str(searched), "--quiet")
    assert code == 2 and "is finished" in _one_line(stderr)
    assert _files(searched) == before


def test_resuming_with_a_changed_shape_blames_the_setting(searched: Path,
                                                          tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(searched, run)
    (run / "result.json").unlink()  # as if stopped before its end
    before = _files(run)
    code, _, stderr = run_cli("resume", str(run), "--set", "space.channels=8", "--quiet")
    line = _one_line(stderr)
    assert code == 2 and "space.channels=8" in line and "checkpoint" in line
    assert _files(run) == before


def test_a_full_disk_at_the_first_checkpoint_leaves_a_resumable_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, _, stderr = (None, None, None)
    with file_size_limit(16_384):  # config.toml and run.json fit, the checkpoint does not
        code, _, stderr = run_cli("run", *SEARCH, "--out", str(out))
    line = _one_line(stderr)
    assert code == 1 and "last.pt" in line and "ulimit -f" in line
    assert "previous version" not in line and "free space" not in line
    assert f"nas resume {out}" in line
    assert not (out / "checkpoints" / "last.pt").exists()
    code, stdout, stderr = run_cli("resume", str(out), "--quiet")
    assert code == 0, stderr
    assert "starting it from the beginning" in stderr
    assert (out / "architecture.json").is_file() and os.path.getsize(out / "result.json")


# -- data ------------------------------------------------------------------------------------
def _images(folder: Path, count: int) -> None:
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(count):
        Image.new("RGB", (8, 8), (30 * i, 0, 0)).save(folder / f"{i}.png")


def test_garbage_cifar_files_name_the_folder_and_never_suggest_downloading(
    tmp_path: Path
) -> None:
    batches = tmp_path / "cifar-10-batches-py"
    batches.mkdir()
    for name in ("data_batch_1", "test_batch"):
        (batches / name).write_bytes(b"garbage")
    code, _, stderr = run_cli("run", *SEARCH, "--dataset", "cifar10", "--data-dir",
                              str(tmp_path), "--out", str(tmp_path / "run"))
    line = _one_line(stderr)
    assert code == 1 and "cifar-10-batches-py/" in line and "data_batch_5" in line
    assert "download=True" not in line and not (tmp_path / "run").exists()


def test_an_empty_class_and_a_corrupt_image_are_named_before_training(tmp_path: Path) -> None:
    from nascore.data import DataConfig, load_datasets

    data = tmp_path / "data"
    for split in ("train", "val"):
        _images(data / split / "a", 2)
        (data / split / "b").mkdir(parents=True)
    config = DataConfig(dataset="imagefolder", data_dir=str(data), image_size=8)
    with pytest.raises(DataError, match=r"class folder\(s\) b hold no images"):
        load_datasets(config)
    for split in ("train", "val"):
        _images(data / split / "b" / "more", 2)
    (data / "train" / "b" / "broken.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    code, _, stderr = run_cli("run", *SEARCH, "--dataset", "imagefolder", "--data-dir",
                              str(data), "--set", "data.image_size=8", "--out",
                              str(tmp_path / "run"))
    line = _one_line(stderr)
    assert code == 1 and str(data / "train" / "b" / "broken.jpg") in line
    assert not (tmp_path / "run").exists()
    (data / "train" / "b" / "broken.jpg").unlink()
    train, _test, info = load_datasets(config)
    assert len(train) == 4 and info.num_classes == 2


# -- constraints -------------------------------------------------------------------------------
DISCRETE = ["--strategy", "random", "--space", "darts", "--estimator", "train", "--channels", "4",
            "--layers", "3", "--set", "data.subset=32", "--quiet"]


def test_a_discrete_search_checks_every_bound_before_it_writes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, _, stderr = run_cli("run", *DISCRETE, "--constraint", "params:..10", "--out",
                              str(out))
    line = _one_line(stderr)
    assert code == 1 and "params:..10 is outside what space darts reaches" in line
    code, _, stderr = run_cli("run", *DISCRETE, "--constraint", "params:..3000",
                              "--constraint", "params:5000..", "--out", str(out))
    assert code == 1 and "contradict each other" in _one_line(stderr)
    assert not out.exists()


def test_a_hand_edit_of_config_toml_is_refused_by_resume(searched: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(searched, run)
    (run / "result.json").unlink()
    config = run / "config.toml"
    config.write_text(config.read_text().replace("lr = 0.025", "lr = 0.5", 1))
    before = _files(run)
    code, _, stderr = run_cli("resume", str(run), "--quiet")
    line = _one_line(stderr)
    assert code == 2 and "config.toml was edited (strategy.lr)" in line and "--set" in line
    assert _files(run) == before


# -- threads -----------------------------------------------------------------------------------
def test_a_run_chooses_its_threads_from_the_work_or_takes_threads() -> None:
    from nascore.threads import ACTIVATIONS_PER_THREAD, activations, use_run_threads

    before = torch.get_num_threads()
    try:
        tiny = activations({"data": {"dataset": "digits", "image_size": 0},
                            "strategy": {"batch_size": 16}, "space": {"channels": 4}},
                           "strategy", "space")
        assert tiny == 16 * 4 * 8 * 8 < ACTIVATIONS_PER_THREAD
        assert use_run_threads(0, tiny) == 1 == torch.get_num_threads()
        assert use_run_threads(3, tiny) == 3 == torch.get_num_threads()
        assert 1 <= use_run_threads(0, 10**9) <= os.cpu_count()
    finally:
        torch.set_num_threads(before)


# -- the architecture's one file ------------------------------------------------------------------
def test_a_hand_edited_architecture_is_refused_by_every_command(searched: Path, trained: Path,
                                                                tmp_path: Path) -> None:
    search, train = tmp_path / "search", tmp_path / "train"
    shutil.copytree(searched, search)
    shutil.copytree(trained, train)
    for run in (search, train):
        path = run / "architecture.json"
        arch = json.loads(path.read_text())
        op, node = arch["spec"]["normal"][0]  # [operation, input]
        arch["spec"]["normal"][0] = ["avg_pool_3x3" if op == "max_pool_3x3" else "max_pool_3x3",
                                     node]
        path.write_text(json.dumps(arch))
    commands = [("show", str(search)), ("show", str(train)),
                ("train", str(search), "--epochs", "1", "--out", str(tmp_path / "t")),
                ("export", str(train), "--format", "pt2", "--out", str(tmp_path / "m.pt2"))]
    for command in commands:
        code, _, stderr = run_cli(*command)
        line = _one_line(stderr)
        assert code == 2 and "differs from the architecture the run recorded" in line, command
    assert not (tmp_path / "t").exists() and not (tmp_path / "m.pt2").exists()


def test_an_image_that_fails_to_decode_stops_the_run_resumably(tmp_path: Path) -> None:
    from PIL import Image

    data = tmp_path / "data"
    for split in ("train", "val"):
        for label in ("a", "b"):
            folder = data / split / label
            folder.mkdir(parents=True)
            for i in range(4):
                noise = torch.randint(0, 256, (64, 64, 3), dtype=torch.uint8,
                                      generator=torch.Generator().manual_seed(i)).numpy()
                Image.fromarray(noise).save(folder / f"{i}.jpg", quality=95)
    broken = data / "train" / "b" / "3.jpg"
    intact = broken.read_bytes()
    broken.write_bytes(intact[: len(intact) // 2])  # its header reads, its body does not
    out = tmp_path / "run"
    args = ["--dataset", "imagefolder", "--data-dir", str(data), "--set", "data.image_size=8",
            "--batch-size", "2", "--out", str(out)]
    code, _, stderr = run_cli("run", *SEARCH, *args)
    line = _one_line(stderr)
    assert code == 1 and str(broken) in line and "nas resume" in line
    assert (out / "checkpoints" / "last.pt").is_file()
    broken.write_bytes(intact)
    code, _, stderr = run_cli("resume", str(out), "--quiet")
    assert code == 0, stderr


def test_an_event_that_cannot_be_appended_is_a_runtime_error(tmp_path: Path) -> None:
    from nascore.events import EventLog

    log = EventLog(tmp_path, tensorboard=False)
    log.log({"type": "note", "text": "fits"})
    with file_size_limit(len((tmp_path / "events.jsonl").read_bytes()) + 8), \
            pytest.raises(StorageError) as failed:
        log.log({"type": "note", "text": "does not fit under the limit"})
    assert failed.value.exit_code == 1 and "ulimit -f" in str(failed.value)
    assert "nas resume" in str(failed.value)
