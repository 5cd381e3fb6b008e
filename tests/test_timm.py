"""nascore networks as timm models: explicit registration, the timm model interface
(forward_features/forward_head/reset_classifier/feature_info/features_only), the zoo models."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import timm
import torch

import nascore.timm  # noqa: F401  (the explicit registration under test)
from nascore.errors import ConfigError, UsageError
from nascore.plugins import make_space, registry
from nascore.space import DataInfo

NB201_CELL = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+"
              "|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")


def _python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=300)


def _nb201_arch() -> dict:
    return make_space("nb201", {}, DataInfo(1, 8, 10)).parse(NB201_CELL).to_dict()


# name -> (timm model, create_model arguments, input size); 4 channels, 3 cells, 8x8 (the ImageNet
# stem reduces by 8, so it gets 32x32)
NETWORKS = {
    "darts-cifar": ("nascore_network", lambda: {
        "arch": registry().get("architecture", "darts_v2").to_dict(), "channels": 4,
        "layers": 3, "in_chans": 1, "image_size": 8}, (1, 8, 8)),
    "darts-imagenet": ("nascore_pcdarts_imagenet", lambda: {"channels": 4, "layers": 3,
                                                            "image_size": 32}, (3, 32, 32)),
    "nb201": ("nascore_network", lambda: {"arch": _nb201_arch(), "channels": 4, "layers": 3,
                                          "in_chans": 1, "image_size": 8}, (1, 8, 8)),
}


def _create(name: str, **extra):
    model_name, args, _ = NETWORKS[name]
    return timm.create_model(model_name, num_classes=10, **args(), **extra)


def _input(name: str, batch: int = 3) -> torch.Tensor:
    return torch.randn(batch, *NETWORKS[name][2], generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_forward_features_and_head_compose_to_forward(name: str):
    model = _create(name).eval()
    x = _input(name)
    with torch.no_grad():
        features = model.forward_features(x)
        pooled = model.forward_head(features, pre_logits=True)
        assert features.ndim == 4 and features.shape[1] == model.num_features
        assert pooled.shape == (3, model.num_features)
        assert torch.allclose(model.forward_head(features), model(x), atol=1e-6)
        assert torch.allclose(model.get_classifier()(pooled), model(x), atol=1e-6)


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_reset_classifier(name: str):
    model = _create(name).eval()
    x = _input(name)
    with torch.no_grad():
        pooled = model.forward_head(model.forward_features(x), pre_logits=True)
    model.reset_classifier(5)
    assert model.num_classes == 5 and model(x).shape == (3, 5)
    model.reset_classifier(0, "avg")
    with torch.no_grad():
        assert torch.equal(model(x), pooled)  # no classifier: the pooled features
    with pytest.raises(UsageError, match="global_pool 'max' is not supported"):
        model.reset_classifier(5, "max")


def test_reset_classifier_also_resets_the_auxiliary_head():
    space = make_space("darts", {}, DataInfo(1, 8, 10))
    network = space.build_network(registry().get("architecture", "darts_v2"), channels=4,
                                  layers=3, auxiliary=True).train()
    network.reset_classifier(7)
    logits, aux = network(torch.randn(2, 1, 8, 8))
    assert logits.shape == aux.shape == (2, 7)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # CIFAR stem keeps 8x8; cell 1 and 2 reduce: the last state at each size
        ("darts-cifar", [(16, 1, "cells.0"), (32, 2, "cells.1"), (64, 4, "cells.2")]),
        # ImageNet stems: /4 and /8; then cells at /8 (cell 0), /16, /32
        ("darts-imagenet", [(4, 4, "stem0"), (16, 8, "cells.0"), (32, 16, "cells.1"),
                            (64, 32, "cells.2")]),
        # NB201: one cell per stage, reductions between stages, the last after BN-ReLU
        ("nb201", [(4, 1, "layers.0"), (8, 2, "layers.2"), (16, 4, "head.1")]),
    ],
)
def test_features_only_returns_the_feature_info_maps(name: str, expected: list):
    model = _create(name)
    info = [(f["num_chs"], f["reduction"], f["module"]) for f in model.feature_info]
    assert info == expected
    backbone = _create(name, features_only=True).eval()
    x = _input(name, batch=2)
    maps = backbone(x)
    size = x.shape[-1]
    assert [(m.shape[1], size // m.shape[-1]) for m in maps] == [(c, r) for c, r, _ in expected]
    assert backbone.feature_info.channels() == [c for c, _, _ in expected]
    picked = _create(name, features_only=True, out_indices=(1, 2))(x)
    assert [m.shape for m in picked] == [m.shape for m in maps[1:3]]


def test_features_match_the_network_states():
    """The hooked map of the last cell is what forward_features computes."""
    model = _create("darts-cifar").eval()
    backbone = _create("darts-cifar", features_only=True).eval()
    backbone.load_state_dict({f"body.{k}": v for k, v in model.state_dict().items()
                              if not k.startswith("classifier")})
    x = _input("darts-cifar")
    with torch.no_grad():
        assert torch.equal(backbone(x)[-1], model.forward_features(x))


def test_pretrained_cfg_names_classifier_and_stem():
    cifar = _create("darts-cifar")
    imagenet = _create("darts-imagenet")
    nb201 = _create("nb201")
    assert (cifar.pretrained_cfg["classifier"], cifar.pretrained_cfg["first_conv"]) == (
        "classifier", "stem.0")
    assert imagenet.pretrained_cfg["first_conv"] == "stem0.0"
    assert (nb201.pretrained_cfg["classifier"], nb201.pretrained_cfg["first_conv"]) == (
        "head.4", "stem.0")
    config = timm.data.resolve_data_config({}, model=imagenet)
    assert config["mean"] == (0.485, 0.456, 0.406) and config["input_size"] == (3, 224, 224)


def test_timm_training_arguments():
    model = _create("darts-cifar", drop_rate=0.0, drop_path_rate=0.1)
    assert model.drop_path_prob == 0.1
    with pytest.raises(ConfigError, match="no classifier dropout"):
        _create("darts-cifar", drop_rate=0.2)
    with pytest.raises(ConfigError, match="no drop path"):
        _create("nb201", drop_path_rate=0.1)


def test_published_architectures_are_timm_models():
    assert {"nascore_darts_v1", "nascore_darts_v2", "nascore_pcdarts",
            "nascore_pcdarts_imagenet"} <= set(timm.list_models("nascore*"))
    model = timm.create_model("nascore_darts_v2", num_classes=10, channels=4, layers=3)
    space = make_space("darts", {}, DataInfo(3, 32, 10))
    reference = space.build_network(registry().get("architecture", "darts_v2"), channels=4,
                                    layers=3, num_classes=10, in_channels=3)
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()}
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    # the published sizes: DARTS (second order) on CIFAR-10 3.3M parameters, PC-DARTS on
    # ImageNet 5.3M (the ImageNet stem, 48 channels, 14 cells, 1000 classes)
    full = timm.create_model("nascore_darts_v2")
    assert round(sum(p.numel() for p in full.parameters()) / 1e6, 1) == 3.3
    imagenet = timm.create_model("nascore_pcdarts_imagenet")
    assert round(sum(p.numel() for p in imagenet.parameters()) / 1e6, 1) == 5.3
    assert hasattr(imagenet, "stem0") and imagenet.num_classes == 1000


def test_nascore_network_without_arch_says_what_to_pass():
    with pytest.raises(Exception, match="needs arch=Architecture.to_dict"):
        timm.create_model("nascore_network")


def test_registration_is_explicit_and_import_order_free():
    proc = _python("""
        import sys
        import nascore
        assert "timm" not in sys.modules  # importing nascore stays cheap
        import timm
        assert not timm.list_models("nascore*")  # no import hook
        try:
            timm.create_model("nascore_pcdarts")
        except RuntimeError as exc:
            print("before:", exc)
        import nascore.timm
        m = timm.create_model("nascore_pcdarts", num_classes=3, channels=4, layers=3)
        print("after:", m.num_classes)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "before: Unknown model (nascore_pcdarts)" in proc.stdout
    assert "after: 3" in proc.stdout
