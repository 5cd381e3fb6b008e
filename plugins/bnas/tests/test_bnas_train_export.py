"""``nas train`` of a binarized ``bnas`` network (L_A in the training loss, bits in the costs) and
its exports: a timm folder that rebuilds the binarized ops from the recorded space options and
gives the same outputs, and ONNX."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import timm
import torch
from nascore_bnas.binary import PCNNConv2d, XNORConv2d
from nascore_bnas.bits import model_bits
from nascore_bnas.surgery import amplitude_loss

import nascore.timm  # noqa: F401  (registers nascore's timm models)
from nascore import registry
from nascore.events import read_events
from nascore.exporters.formats import export
from nascore.exporters.onnx_export import onnx_max_difference
from nascore.exporters.trained import load_trained
from nascore.spaces.darts import format_genotype
from nascore.training.source import ArchSource, from_text, resolve_tree
from nascore.training.trainer import prepare, start_training

DARTS_V2 = registry().get("architecture", "darts_v2")
#: One epoch of one batch (96 digits images), a 4-channel 3-cell network with its auxiliary head.
FLAGS = {"epochs": 1, "batch_size": 96, "channels": 4, "layers": 3}


def _source() -> ArchSource:
    """The published DARTS (v2) cells as a ``bnas`` genotype."""
    return from_text(format_genotype(DARTS_V2.spec), "bnas", "genotype", "darts_v2")


def _train(out: Path, *overrides: str) -> Path:
    tree = resolve_tree({}, "bnas", flags=FLAGS, overrides=["data.subset=96", *overrides])
    run, _ = start_training(tree, _source(), out, progress=False)
    return run.path


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("t") / "run", "space.amplitude_theta=5.0")


def test_nas_train_adds_the_amplitude_loss_and_reports_bits(trained_run: Path, tmp_path: Path):
    plain = _train(tmp_path / "plain", "space.amplitude_theta=0.0")
    loss = {
        path: [e for e in read_events(path / "events.jsonl") if e["type"] == "epoch"][0][
            "train_loss"]
        for path in (trained_run, plain)
    }
    meta = json.loads((trained_run / "run.json").read_text())
    session = prepare(meta["config"], _source())  # the same seeded network, before training
    expected = float(amplitude_loss(session.network, theta=5.0).detach())
    assert expected > 0
    assert loss[trained_run] - loss[plain] == pytest.approx(expected, rel=1e-4)  # Eq. 7
    assert meta["costs"]["bits"] == model_bits(session.network, exclude=("auxiliary",))


def test_timm_export_rebuilds_the_binarized_network_with_the_same_outputs(
    trained_run: Path, tmp_path: Path
):
    trained = load_trained(trained_run)
    folder = export(trained, "timm", tmp_path / "timm").files[0].parent
    config = json.loads((folder / "config.json").read_text())
    assert config["model_args"]["space_options"]["binarize"] == "pcnn"
    assert config["nascore"]["costs"]["bits"] == model_bits(trained.network)
    assert f"{config['nascore']['costs']['bits']:,} bits" in (folder / "README.md").read_text()
    model = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    convs = [m for m in model.modules() if isinstance(m, PCNNConv2d)]
    assert convs and len(convs) == sum(isinstance(m, PCNNConv2d) for m in trained.network.modules())
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(model(x), trained.network(x), atol=1e-6)


def test_timm_export_of_an_xnor_network_keeps_xnor(tmp_path: Path):
    run = _train(tmp_path / "xnor", "space.binarize=xnor", "space.scaling=channel")
    trained = load_trained(run)
    folder = export(trained, "timm", tmp_path / "timm").files[0].parent
    model = timm.create_model(f"local-dir:{folder}", pretrained=True).eval()
    scalings = {m.scaling for m in model.modules() if isinstance(m, XNORConv2d)}
    assert scalings == {"channel"}
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(model(x), trained.network(x), atol=1e-6)


@pytest.mark.slow
def test_onnx_export_of_a_binarized_network_matches_pytorch(trained_run: Path, tmp_path: Path):
    pytest.importorskip("onnxruntime")
    trained = load_trained(trained_run)
    report = export(trained, "onnx", tmp_path / "m.onnx")
    assert onnx_max_difference(trained, report.files[0], batch=4) < 1e-4
    import onnx

    props = {p.key: p.value for p in onnx.load(str(report.files[0])).metadata_props}
    assert json.loads(props["costs"])["bits"] == model_bits(trained.network)
