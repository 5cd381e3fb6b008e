"""Derived A-DARTS networks save and export: one set of parameters per op's activation, and an
evaluation-mode RReLU that ONNX runtimes know."""

from __future__ import annotations

import pytest
import torch
from nascore_adarts.activations import RReLU, SharedActivation, single_instance
from safetensors.torch import load_file, save_file

from .test_adarts_space import ARCH


def test_an_ops_activation_sites_share_one_registered_module() -> None:
    factory = single_instance("prelu")
    first, second = factory(), factory()
    assert isinstance(first, torch.nn.PReLU) and isinstance(second, SharedActivation)
    assert list(second.parameters()) == []  # registered once, at the first site
    x = torch.randn(2, 3)
    assert torch.equal(second(x), first(x))


def test_networks_with_learnable_activations_save_as_safetensors(make_space, tmp_path) -> None:
    network = make_space().build_network(ARCH)  # prelu, swish and rrelu in parameterized ops
    state = network.state_dict()
    path = tmp_path / "w.safetensors"
    save_file(state, str(path))  # refuses tensors shared between two keys
    loaded = load_file(str(path))
    assert loaded.keys() == state.keys()
    rebuilt = make_space().build_network(ARCH)
    rebuilt.load_state_dict(loaded)
    x = torch.randn(2, 1, 8, 8)
    assert torch.allclose(rebuilt.eval()(x), network.eval()(x))


def test_rrelu_evaluates_as_a_leaky_relu_and_trains_with_random_slopes() -> None:
    act = RReLU()
    x = torch.linspace(-2, 2, 9)
    expected = torch.where(x >= 0, x, x * (act.lower + act.upper) / 2)
    assert torch.allclose(act.eval()(x), expected)
    torch.manual_seed(0)
    assert not torch.allclose(act.train()(x), expected)


@pytest.mark.slow
def test_onnx_export_of_a_network_with_every_activation(make_space, tmp_path) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    network = make_space().build_network(ARCH).eval()
    x = torch.randn(3, 1, 8, 8)
    program = torch.onnx.export(network, (x,), dynamic_shapes=({0: torch.export.Dim("b")},),
                                dynamo=True, verbose=False)  # as `nas export --format onnx`
    program.save(tmp_path / "m.onnx", external_data=False)
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    (y,) = session.run(None, {"x": x.numpy()})
    assert torch.allclose(torch.from_numpy(y), network(x), atol=1e-4)
