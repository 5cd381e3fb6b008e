"""Export of trained networks: safetensors weights, timm folders (local-dir, offline hf-hub, via
save_for_hf and push_to_hf_hub), ONNX, torch.export (pt2) and plugin-provided formats."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import timm
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

import nascore.plugins
import nascore.timm  # noqa: F401  (registers nascore's timm models)
from nascore.cli.export import export_command
from nascore.data import normalization
from nascore.errors import CheckpointError, RunDirError
from nascore.exporters.formats import export
from nascore.exporters.onnx_export import onnx_max_difference
from nascore.exporters.trained import load_trained
from nascore.exporters.weights import load_state_checked, load_weights, save_weights
from nascore.plugins import ENTRY_POINT_GROUP, discover, make_space, registry
from nascore.space import DataInfo
from nascore.training.source import from_zoo, resolve_tree
from nascore.training.trainer import start_training


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A darts_v2 network trained for 2 tiny epochs on digits (with an auxiliary head)."""
    tree = resolve_tree({}, "darts", flags={"epochs": 2, "batch_size": 32, "channels": 4,
                                            "layers": 3}, overrides=["data.subset=96"])
    run, _ = start_training(tree, from_zoo("darts_v2"), tmp_path_factory.mktemp("t") / "run",
                            progress=False)
    return run.path


def _python(code: str, *flags: str, **env: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    return subprocess.run([sys.executable, *flags, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, env=env, timeout=300)


def _inputs(tmp_path: Path, batch: int = 5) -> tuple[torch.Tensor, Path]:
    """Random digits-shaped inputs, also saved for a subprocess."""
    x = torch.randn(batch, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    save_file({"x": x}, tmp_path / "x.safetensors")
    return x, tmp_path / "x.safetensors"


def _hub_snapshot(cache: Path, repo: str) -> Path:
    """The folder a download of ``repo``'s main revision fills in a Hugging Face hub cache."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    commit = "5c2b1f0e" * 5
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    return folder / "snapshots" / commit


#: Loads ``{source}`` in a fresh process with nothing but the one documented line, and saves
#: its predictions on ``{x}`` to ``{y}``.
LOAD_WITH_TIMM = """
    import nascore.timm
    import timm, torch
    from safetensors.torch import load_file, save_file
    model = timm.create_model("{source}", pretrained=True).eval()
    with torch.no_grad():
        save_file({{"y": model(load_file("{x}")["x"])}}, "{y}")
"""


# -- weights -------------------------------------------------------------------------------------
def _tiny_network(channels: int = 4):
    space = make_space("darts", {}, DataInfo(1, 8, 10))
    arch = registry().get("architecture", "darts_v1")
    return space.build_network(arch, channels=channels, layers=3)


def test_weights_round_trip_exactly(tmp_path: Path):
    network = _tiny_network()
    save_weights(network.state_dict(), tmp_path / "w.safetensors", {"note": "x"})
    other = _tiny_network()
    load_state_checked(other, load_weights(tmp_path / "w.safetensors"), "w")
    for key, value in network.state_dict().items():
        assert torch.equal(other.state_dict()[key], value)


def test_corrupt_or_missing_weights_raise_checkpoint_error(tmp_path: Path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointError, match="corrupt") as info:
        load_weights(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(CheckpointError, match="no weights file"):
        load_weights(tmp_path / "missing.safetensors")


def test_mismatched_weights_raise_checkpoint_error(tmp_path: Path):
    save_weights(_tiny_network(channels=6).state_dict(), tmp_path / "w6.safetensors")
    with pytest.raises(CheckpointError, match="has shape .* in the file but") as info:
        load_state_checked(_tiny_network(4), load_weights(tmp_path / "w6.safetensors"), "w6")
    assert "\n" not in str(info.value)
    partial = {k: v for k, v in _tiny_network().state_dict().items() if "classifier" not in k}
    with pytest.raises(CheckpointError, match="2 tensors are missing"):
        load_state_checked(_tiny_network(), partial, "partial")


def test_export_reports_a_damaged_weights_file(trained_run: Path, tmp_path: Path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("run.json", "result.json"):
        (copy / name).write_text((trained_run / name).read_text())
    (copy / "last.safetensors").write_bytes((trained_run / "last.safetensors").read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_trained(copy)
    tensors = load_file(trained_run / "last.safetensors")
    tensors["classifier.weight"] = torch.zeros(3, 3)
    save_file(tensors, copy / "last.safetensors")
    with pytest.raises(CheckpointError, match="classifier.weight"):
        load_trained(copy)


# -- timm ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def timm_folder(trained_run: Path, tmp_path_factory) -> Path:
    return export(load_trained(trained_run), "timm",
                  tmp_path_factory.mktemp("timm") / "folder").files[0].parent


def test_timm_export_loads_in_a_fresh_process_with_the_same_predictions(
    trained_run: Path, timm_folder: Path, tmp_path: Path
):
    trained = load_trained(trained_run)
    assert sorted(p.name for p in timm_folder.iterdir()) == [
        "README.md", "config.json", "model.safetensors"]
    config = json.loads((timm_folder / "config.json").read_text())
    assert config["architecture"] == "nascore_network"
    assert config["num_features"] == trained.network.num_features
    cfg = config["pretrained_cfg"]
    assert (cfg["classifier"], cfg["first_conv"]) == ("classifier", "stem.0")
    assert cfg["input_size"] == [1, 8, 8]
    assert (tuple(cfg["mean"]), tuple(cfg["std"])) == normalization("digits")
    assert config["model_args"]["arch"] == trained.arch.to_dict()
    assert config["nascore"]["load"].startswith("import nascore.timm")
    assert "import nascore.timm" in (timm_folder / "README.md").read_text()
    assert not any(k.startswith("auxiliary") for k in load_file(timm_folder / "model.safetensors"))
    x, x_file = _inputs(tmp_path)
    y_file = tmp_path / "y.safetensors"
    proc = _python(LOAD_WITH_TIMM.format(source=f"local-dir:{timm_folder}", x=x_file, y=y_file))
    assert proc.returncode == 0, proc.stderr
    with torch.no_grad():
        expected = trained.network(x)
    assert torch.allclose(load_file(y_file)["y"], expected, atol=1e-6)


def test_timm_reinitialises_only_the_classifier_for_other_class_counts(
    trained_run: Path, timm_folder: Path
):
    same = timm.create_model(f"local-dir:{timm_folder}", pretrained=True)
    five = timm.create_model(f"local-dir:{timm_folder}", pretrained=True, num_classes=5)
    assert five.classifier.out_features == 5 and same.classifier.out_features == 10
    reference = load_trained(trained_run).network.state_dict()
    for key, value in five.state_dict().items():
        if key.startswith("classifier."):
            assert value.shape[0] == 5
        else:
            assert torch.equal(value, reference[key]), key
    assert torch.equal(same.classifier.weight, reference["classifier.weight"])
    rgb = timm.create_model(f"local-dir:{timm_folder}", pretrained=True, in_chans=3)
    assert rgb.stem[0].weight.shape[1] == 3  # the stem adapted from the 1-channel weights
    assert torch.allclose(rgb.stem[0].weight.sum(1), reference["stem.0.weight"].sum(1), atol=1e-6)


def test_exported_timm_model_is_a_backbone(trained_run: Path, timm_folder: Path):
    network = load_trained(trained_run).network
    backbone = timm.create_model(f"local-dir:{timm_folder}", pretrained=True,
                                 features_only=True).eval()
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        maps = backbone(x)
        assert torch.allclose(maps[-1], network.forward_features(x), atol=1e-6)
    assert [m.shape[1] for m in maps] == backbone.feature_info.channels() == [16, 32, 64]


def test_save_for_hf_round_trips_through_an_offline_hub_cache(
    trained_run: Path, timm_folder: Path, tmp_path: Path
):
    """A loaded export, re-saved by timm with 5 new classes, loads from a local Hugging Face hub
    cache with HF_HUB_OFFLINE=1 (and from the saved folder) with the same predictions."""
    from timm.models import save_for_hf

    model = timm.create_model(f"local-dir:{timm_folder}", pretrained=True, num_classes=5).eval()
    cache = tmp_path / "hub"
    save_for_hf(model, str(_hub_snapshot(cache, "nascore-test/digits5")), safe_serialization=True)
    save_for_hf(model, str(tmp_path / "saved"), safe_serialization=True)
    x, x_file = _inputs(tmp_path)
    with torch.no_grad():
        expected = model(x)
    y_file = tmp_path / "y.safetensors"
    proc = _python(LOAD_WITH_TIMM.format(source="hf-hub:nascore-test/digits5", x=x_file, y=y_file),
                   HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(cache))
    assert proc.returncode == 0, proc.stderr
    assert torch.allclose(load_file(y_file)["y"], expected, atol=1e-6)
    saved = timm.create_model(f"local-dir:{tmp_path / 'saved'}", pretrained=True).eval()
    with torch.no_grad():
        assert torch.allclose(saved(x), expected, atol=1e-6)


def test_push_to_hf_hub_writes_a_repo_that_loads(
    timm_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """push_to_hf_hub's upload is replaced by a copy into a local hub cache (no network); what
    it uploads loads offline."""
    import timm.models._hub as timm_hub

    cache = tmp_path / "hub"

    class HubCopy:
        def __init__(self, **_: object) -> None:
            pass

        def create_repo(self, repo_id: str, **_: object) -> SimpleNamespace:
            return SimpleNamespace(repo_id=repo_id)

        def file_exists(self, **_: object) -> bool:
            return False

        def upload_folder(self, repo_id: str, folder_path: str, **_: object) -> None:
            shutil.copytree(folder_path, _hub_snapshot(cache, repo_id))

    monkeypatch.setattr(timm_hub, "HfApi", HubCopy)
    model = timm.create_model(f"local-dir:{timm_folder}", pretrained=True).eval()
    timm.models.push_to_hf_hub(model, "nascore-test/pushed")
    x, x_file = _inputs(tmp_path)
    y_file = tmp_path / "y.safetensors"
    proc = _python(LOAD_WITH_TIMM.format(source="hf-hub:nascore-test/pushed", x=x_file, y=y_file),
                   HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(cache))
    assert proc.returncode == 0, proc.stderr
    with torch.no_grad():
        assert torch.allclose(load_file(y_file)["y"], model(x), atol=1e-6)


# -- ONNX ----------------------------------------------------------------------------------------
def test_onnx_export_is_one_file_with_metadata_and_a_dynamic_batch(
    trained_run: Path, tmp_path: Path
):
    import onnxruntime

    trained = load_trained(trained_run)
    out = tmp_path / "onnx"
    report = export(trained, "onnx", out / "m.onnx")
    assert report.files == [out / "m.onnx"]
    assert [p.name for p in out.iterdir()] == ["m.onnx"]  # no .onnx.data sidecar
    assert any(n.startswith("ONNX Runtime vs PyTorch") for n in report.notes)
    assert onnx_max_difference(trained, out / "m.onnx", batch=5) < 1e-4
    session = onnxruntime.InferenceSession(str(out / "m.onnx"), providers=["CPUExecutionProvider"])
    assert session.run(None, {"input": torch.zeros(1, 1, 8, 8).numpy()})[0].shape == (1, 10)
    meta = session.get_modelmeta().custom_metadata_map
    assert (tuple(json.loads(meta["mean"])), tuple(json.loads(meta["std"]))) == (
        normalization("digits"))
    assert json.loads(meta["input_size"]) == [1, 8, 8] and meta["space"] == "darts"
    with pytest.raises(RunDirError, match="already exists"):
        export(trained, "onnx", out / "m.onnx")


# -- torch.export --------------------------------------------------------------------------------
#: Loads a pt2 file where nascore (and timm) cannot be imported, runs it on ``{x}``, saves ``{y}``.
LOAD_PT2_WITHOUT_NASCORE = """
    import importlib.abc, json, sys

    HIDDEN = {{"nascore", "nascore_adarts", "nascore_eoinas", "timm"}}

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in HIDDEN:
                raise ImportError(f"{{name}} is hidden")

    sys.meta_path.insert(0, Hide())
    try:
        import nascore
        raise SystemExit("nascore is not hidden")
    except ImportError:
        pass
    import torch
    from safetensors.torch import load_file, save_file
    extra = {{"nascore.json": ""}}
    program = torch.export.load("{path}", extra_files=extra)
    with torch.no_grad():
        save_file({{"y": program.module()(load_file("{x}")["x"])}}, "{y}")
    print(json.loads(extra["nascore.json"])["mean"])
    assert not HIDDEN & {{name.split(".")[0] for name in sys.modules}}
"""


def test_pt2_loads_and_matches_without_nascore(trained_run: Path, tmp_path: Path):
    trained = load_trained(trained_run)
    report = export(trained, "pt2", tmp_path / "m.pt2")
    assert report.files == [tmp_path / "m.pt2"]
    x, x_file = _inputs(tmp_path, batch=5)  # exported with batch 2: the batch is dynamic
    y_file = tmp_path / "y.safetensors"
    proc = _python(LOAD_PT2_WITHOUT_NASCORE.format(path=report.files[0], x=x_file, y=y_file),
                   "-I")  # isolated: no PYTHONPATH, no current directory on the path
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == list(normalization("digits")[0])
    with torch.no_grad():
        assert torch.allclose(load_file(y_file)["y"], trained.network(x), atol=1e-6)


# -- formats and the command ---------------------------------------------------------------------
PLUGIN_FORMAT = """
from pathlib import Path

from safetensors.torch import save_file

from nascore import Exporter, ExportReport, hookimpl

NASCORE_PLUGIN_API = 1


def write_half(trained, out: Path) -> ExportReport:
    save_file({k: v.half() for k, v in trained.network.state_dict().items()
               if v.is_floating_point()}, out)
    return ExportReport([out], ["half precision"])


@hookimpl
def nascore_export_formats():
    return {"half": Exporter(write_half, "half.safetensors", "fp16 weights")}
"""


def test_a_plugin_adds_an_export_format(
    trained_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "nas_plugin_half.py").write_text(PLUGIN_FORMAT)
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins = [md.EntryPoint("builtin", "nascore.builtins", ENTRY_POINT_GROUP),
               md.EntryPoint("half", "nas_plugin_half", ENTRY_POINT_GROUP)]
    monkeypatch.setattr(nascore.plugins, "_REGISTRY", discover(plugins))
    assert registry().names("export_format") == ["half", "onnx", "pt2", "timm"]
    runner = CliRunner()
    help_text = runner.invoke(export_command, ["--help"]).output
    assert "[half|onnx|pt2|timm]" in help_text and "fp16 weights" in help_text
    out = tmp_path / "w.safetensors"
    result = runner.invoke(export_command, [str(trained_run), "--format", "half", "--out",
                                            str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    assert load_file(out)["classifier.weight"].dtype == torch.float16


def test_export_command(trained_run: Path, tmp_path: Path):
    runner = CliRunner()
    result = runner.invoke(export_command, [str(trained_run), "--format", "timm", "--out",
                                            str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    for name in ("config.json", "model.safetensors", "README.md"):
        assert f"wrote {tmp_path / 'x' / name}" in result.output
    assert 'import nascore.timm, timm; timm.create_model("local-dir:' in result.output
    again = runner.invoke(export_command, [str(trained_run), "--out", str(tmp_path / "x")])
    assert isinstance(again.exception, RunDirError)
    unknown = runner.invoke(export_command, [str(trained_run), "--format", "tflite"])
    assert unknown.exit_code == 2 and "'tflite' is not one of 'onnx', 'pt2', 'timm'" in (
        unknown.output)
    search = tmp_path / "search"
    search.mkdir()
    (search / "run.json").write_text(json.dumps({"kind": "search", "config": {}}))
    untrained = runner.invoke(export_command, [str(search)])
    assert isinstance(untrained.exception, RunDirError) and "nas train" in str(untrained.exception)
