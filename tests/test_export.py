"""Export of trained networks: safetensors weights, timm folders, timm zoo models, ONNX."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from nascore.cli.export import export_command
from nascore.errors import CheckpointError, RunDirError, UsageError
from nascore.export.onnx_export import export_onnx, onnx_max_difference
from nascore.export.timm_export import export_timm
from nascore.export.trained import load_trained
from nascore.export.weights import load_state_checked, load_weights, save_weights
from nascore.plugins import make_space, registry
from nascore.space import DataInfo
from nascore.train.source import from_zoo, resolve_tree
from nascore.train.trainer import start_training


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """A darts_v2 network trained for 2 tiny epochs on digits (with an auxiliary head)."""
    tree = resolve_tree({}, "darts", flags={"epochs": 2, "batch_size": 32, "channels": 4,
                                            "layers": 3}, overrides=["data.subset=96"])
    run, _ = start_training(tree, from_zoo("darts_v2"), tmp_path_factory.mktemp("t") / "run",
                            progress=False)
    return run.path


def _python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=300)


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
    for name in ("run.json", "results.json"):
        (copy / name).write_text((trained_run / name).read_text())
    (copy / "best.safetensors").write_bytes((trained_run / "best.safetensors").read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_trained(copy)
    tensors = load_file(trained_run / "best.safetensors")
    tensors["classifier.weight"] = torch.zeros(3, 3)
    save_file(tensors, copy / "best.safetensors")
    with pytest.raises(CheckpointError, match="classifier.weight"):
        load_trained(copy)


# -- timm ----------------------------------------------------------------------------------------
def test_timm_export_loads_in_a_fresh_process_with_the_same_predictions(
    trained_run: Path, tmp_path: Path
):
    trained = load_trained(trained_run)
    out = export_timm(trained, tmp_path / "timm")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    config = json.loads((out / "config.json").read_text())
    assert config["architecture"] == "nascore_network"
    assert config["pretrained_cfg"]["classifier"] == "classifier"
    assert config["pretrained_cfg"]["input_size"] == [1, 8, 8]
    assert config["model_args"]["arch"] == trained.arch.to_dict()
    assert not any(k.startswith("auxiliary") for k in load_file(out / "model.safetensors"))
    x = torch.randn(5, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    save_file({"x": x}, tmp_path / "x.safetensors")
    proc = _python(f"""
        import sys
        import nascore
        assert "timm" not in sys.modules  # importing nascore stays cheap
        import timm, torch
        from safetensors.torch import load_file, save_file
        model = timm.create_model("local-dir:{out}", pretrained=True).eval()
        with torch.no_grad():
            y = model(load_file("{tmp_path / 'x.safetensors'}")["x"])
        save_file({{"y": y}}, "{tmp_path / 'y.safetensors'}")
        print(sorted(timm.list_models("nascore*")))
    """)
    assert proc.returncode == 0, proc.stderr
    assert "nascore_darts_v2" in proc.stdout and "nascore_network" in proc.stdout
    with torch.no_grad():
        expected = trained.network(x)
    assert torch.allclose(load_file(tmp_path / "y.safetensors")["y"], expected, atol=1e-6)


def test_timm_reinitialises_only_the_classifier_for_other_class_counts(
    trained_run: Path, tmp_path: Path
):
    import timm

    trained = load_trained(trained_run, "last")
    out = export_timm(trained, tmp_path / "timm")
    same = timm.create_model(f"local-dir:{out}", pretrained=True)
    five = timm.create_model(f"local-dir:{out}", pretrained=True, num_classes=5)
    assert five.classifier.out_features == 5 and same.classifier.out_features == 10
    reference = trained.network.state_dict()
    for key, value in five.state_dict().items():
        if key.startswith("classifier."):
            assert value.shape[0] == 5
        else:
            assert torch.equal(value, reference[key]), key
    assert torch.equal(same.classifier.weight, reference["classifier.weight"])


def test_published_architectures_are_timm_models():
    import timm

    assert {"nascore_darts_v1", "nascore_darts_v2", "nascore_pcdarts",
            "nascore_pcdarts_imagenet"} <= set(timm.list_models("nascore*"))
    model = timm.create_model("nascore_darts_v2", num_classes=10, channels=4, layers=3)
    space = make_space("darts", {}, DataInfo(3, 32, 10))
    reference = space.build_network(registry().get("architecture", "darts_v2"), channels=4,
                                    layers=3, num_classes=10, in_channels=3)
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()}
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    # the published size: the DARTS (second order) CIFAR-10 network has 3.3M parameters
    full = timm.create_model("nascore_darts_v2")
    assert 3.2e6 < sum(p.numel() for p in full.parameters()) < 3.4e6


def test_timm_imported_first_still_sees_the_nascore_models():
    proc = _python("""
        import timm, nascore
        m = timm.create_model("nascore_pcdarts", num_classes=3, channels=4, layers=3)
        print(m.classifier.out_features)
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["3"]


# -- ONNX ----------------------------------------------------------------------------------------
def test_onnx_export_matches_pytorch_with_a_dynamic_batch(trained_run: Path, tmp_path: Path):
    import onnxruntime

    trained = load_trained(trained_run)
    path = export_onnx(trained, tmp_path / "m.onnx")
    assert onnx_max_difference(trained, path, batch=5) < 1e-4
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.run(None, {"input": torch.zeros(1, 1, 8, 8).numpy()})[0].shape == (1, 10)
    with pytest.raises(UsageError, match="already exists"):
        export_onnx(trained, path)


# -- the command ---------------------------------------------------------------------------------
def test_export_command(trained_run: Path, tmp_path: Path):
    runner = CliRunner()
    result = runner.invoke(export_command, [str(trained_run), "--format", "timm", "--out",
                                            str(tmp_path / "x")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "x" / "model.safetensors").is_file()
    again = runner.invoke(export_command, [str(trained_run), "--out", str(tmp_path / "x")])
    assert isinstance(again.exception, RunDirError)
    search = tmp_path / "search"
    search.mkdir()
    (search / "run.json").write_text(json.dumps({"kind": "search", "config": {}}))
    untrained = runner.invoke(export_command, [str(search)])
    assert isinstance(untrained.exception, RunDirError) and "nas train" in str(untrained.exception)
