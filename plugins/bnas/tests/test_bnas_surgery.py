"""Module surgery on real DARTS ops: same outputs as hand-binarized weights, gradients, state dicts,
export, amplitude loss over a network and model size in bits."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from nascore_bnas.binary import BinaryConv2d, PCNNConv2d, XNORConv2d
from nascore_bnas.bits import BitsConstraint, model_bits
from nascore_bnas.surgery import amplitude_loss, binarize
from torch import nn

from nascore import ConfigError, count_params, registry
from nascore.extra_loss import pop_extra_loss
from nascore.spaces.darts.ops import OPS

C = 4


def _op(name: str, stride: int = 1) -> nn.Module:
    torch.manual_seed(0)
    return OPS[name](C, stride, True, nn.ReLU)


def _hand_binarized(op: nn.Module, mode: str) -> nn.Module:
    """A float copy of ``op`` whose conv weights are replaced by A * sign(W), computed directly."""
    reference = copy.deepcopy(op)
    with torch.no_grad():
        for conv in reference.modules():
            if isinstance(conv, nn.Conv2d):
                w = conv.weight
                if mode == "xnor":
                    scale = w.abs().flatten(1).mean(dim=1).view(-1, 1, 1, 1)
                else:  # pcnn: amplitude starts at mean |W| over the channels per kernel position
                    scale = w.abs().mean(dim=(0, 1))
                conv.weight.copy_(scale * torch.sign(w))
    return reference


OP_CASES = [("sep_conv_3x3", 1), ("dil_conv_5x5", 2), ("skip_connect", 2)]


@pytest.mark.parametrize("mode", ["xnor", "pcnn"])
@pytest.mark.parametrize(("name", "stride"), OP_CASES)
def test_binarized_op_equals_its_hand_binarized_reference(mode, name, stride):
    op = _op(name, stride)
    reference = _hand_binarized(op, mode)
    binary = binarize(op, mode)
    convs = [m for m in binary.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(isinstance(m, BinaryConv2d) and m.mode == mode for m in convs)
    x = torch.randn(2, C, 8, 8)
    for train in (True, False):  # batch statistics, then running statistics
        binary.train(train)
        reference.train(train)
        torch.testing.assert_close(binary(x), reference(x), rtol=1e-5, atol=1e-5)


def test_surgery_keeps_conv_hyper_parameters_and_latent_weights():
    op = _op("dil_conv_3x3", 2)
    dw_before = op[1].weight.detach().clone()
    binary = binarize(op, "xnor", scaling="tensor")
    dw = binary[1]
    assert isinstance(dw, XNORConv2d) and dw.scaling == "tensor"
    assert (dw.stride, dw.padding, dw.dilation, dw.groups) == ((2, 2), (2, 2), (2, 2), C)
    assert torch.equal(dw.weight, dw_before)
    assert binarize(binary, "pcnn") is binary and isinstance(binary[1], XNORConv2d)


@pytest.mark.parametrize("mode", ["xnor", "pcnn"])
def test_gradients_reach_the_latent_weights_and_amplitudes(mode):
    binary = binarize(_op("sep_conv_5x5"), mode).train()
    binary(torch.randn(2, C, 8, 8)).square().mean().backward()
    convs = [m for m in binary.modules() if isinstance(m, BinaryConv2d)]
    assert len(convs) == 4
    for conv in convs:
        assert conv.weight.grad is not None and float(conv.weight.grad.abs().sum()) > 0
        if mode == "pcnn":
            assert float(conv.amplitude.grad.abs().sum()) > 0


def test_state_dict_round_trip_restores_outputs():
    trained = binarize(_op("sep_conv_3x3"), "pcnn").train()
    optimizer = torch.optim.SGD(trained.parameters(), lr=0.1)
    x = torch.randn(2, C, 8, 8)
    for _ in range(2):
        optimizer.zero_grad()
        (trained(x).square().mean() + amplitude_loss(trained, theta=1.0)).backward()
        optimizer.step()
    buffer = io.BytesIO()
    torch.save(trained.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert "0.1.amplitude" in state and "0.1.weight" in state
    fresh = binarize(OPS["sep_conv_3x3"](C, 1, True, nn.ReLU), "pcnn")
    assert not torch.equal(fresh[0][1].amplitude, trained[0][1].amplitude)
    fresh.load_state_dict(state)
    trained.eval()
    fresh.eval()
    torch.testing.assert_close(fresh(x), trained(x), rtol=0, atol=0)


@pytest.mark.parametrize("mode", ["xnor", "pcnn"])
def test_binarized_op_exports_with_torch_export(mode):
    binary = binarize(_op("dil_conv_3x3"), mode, binarize_input=True).eval()
    x = torch.randn(2, C, 8, 8)
    exported = torch.export.export(binary, (x,))
    torch.testing.assert_close(exported.module()(x), binary(x))


@pytest.mark.slow
def test_binarized_op_exports_to_onnx(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    binary = binarize(_op("sep_conv_3x3"), "pcnn").eval()
    x = torch.randn(2, C, 8, 8)
    path = tmp_path / "op.onnx"
    torch.onnx.export(binary, (x,), str(path), input_names=["x"], dynamo=True, verbose=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"x": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(out), binary(x), rtol=1e-4, atol=1e-4)


def test_amplitude_loss_sums_over_the_binarized_convolutions_of_a_network():
    network = nn.Sequential(binarize(_op("sep_conv_3x3"), "pcnn"), nn.Conv2d(C, C, 1))
    convs = [m for m in network.modules() if isinstance(m, PCNNConv2d)]
    with torch.no_grad():
        for conv in convs:
            conv.amplitude.mul_(2.0)  # away from the minimiser, so every term is positive
    expected = sum(float(m.amplitude_loss(0.5).detach()) for m in convs)
    total = float(amplitude_loss(network, theta=0.5).detach())
    assert total == pytest.approx(expected, rel=1e-6)
    assert expected > 0
    xnor = nn.Sequential(binarize(_op("sep_conv_3x3"), "xnor"), nn.Conv2d(C, C, 1))
    expected = sum(float(m.amplitude_loss(0.5).detach()) for m in xnor.modules()
                   if isinstance(m, XNORConv2d))
    assert float(amplitude_loss(xnor, theta=0.5).detach()) == pytest.approx(expected, rel=1e-6)
    assert expected > 0
    assert float(amplitude_loss(nn.Conv2d(C, C, 1)).detach()) == 0.0


def test_pcnn_records_its_amplitude_loss_in_training_forwards_only_when_given_theta():
    x = torch.randn(2, C, 6, 6)
    silent = binarize(_op("sep_conv_3x3"), "pcnn")
    silent(x)
    assert pop_extra_loss(silent) is None
    op = binarize(_op("sep_conv_3x3"), "pcnn", amplitude_theta=2.0)
    op(x)
    assert torch.allclose(pop_extra_loss(op), amplitude_loss(op, theta=2.0))
    op(x)
    op(x)  # two passes record twice
    assert torch.allclose(pop_extra_loss(op), 2 * amplitude_loss(op, theta=2.0))
    with torch.no_grad():
        op(x)
    op.eval()(x)
    assert pop_extra_loss(op) is None


def test_model_bits_of_a_binarized_op_and_its_float_twin():
    # sep_conv_3x3 at C=4: two blocks of depthwise 4*9 + pointwise 4*4 = 52 conv weights and a
    # BatchNorm with 8 affine parameters: 104 conv weights, 16 other parameters
    float_op = _op("sep_conv_3x3")
    assert count_params(float_op) == 120
    assert model_bits(float_op) == 120 * 32
    # XNOR per channel: 104 one-bit weights, 16 * 32 BN bits, 4 convs * 4 channels * 32 scale bits
    assert model_bits(binarize(_op("sep_conv_3x3"), "xnor")) == 104 + 512 + 512
    assert model_bits(binarize(_op("sep_conv_3x3"), "xnor", scaling="tensor")) == 104 + 512 + 128
    # PCNN: amplitudes are parameters: 2 * 3x3 + 2 * 1x1 = 20 of them at 32 bits
    assert model_bits(binarize(_op("sep_conv_3x3"), "pcnn")) == 104 + 512 + 20 * 32


def test_bits_constraint_skips_the_auxiliary_head_and_is_registered():
    network = nn.Module()
    network.cells = binarize(_op("sep_conv_3x3"), "xnor")
    network.auxiliary = nn.Conv2d(C, 10, 1)
    constraint = BitsConstraint(high=2000)
    value = constraint.measure(network, torch.zeros(1, C, 8, 8))
    assert value == 1128.0 and constraint.satisfied(value)
    assert model_bits(network) == 1128 + (4 * 10 + 10) * 32
    assert registry().get("constraint", "bits") is BitsConstraint


def test_unknown_modes_are_refused_with_the_choices():
    with pytest.raises(ConfigError, match="xnor, pcnn"):
        binarize(_op("sep_conv_3x3"), "ternary")
    with pytest.raises(ConfigError, match="channel, tensor"):
        binarize(_op("sep_conv_3x3"), "xnor", scaling="row")
