"""Binarized convolutions: sign STE, XNOR and PCNN forward passes, gradients, amplitude loss."""

from __future__ import annotations

import pytest
import torch
from nascore_bnas.binary import PCNNConv2d, XNORConv2d, sign_ste


def test_sign_is_exactly_plus_minus_one_with_a_clipped_straight_through_gradient():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.7, 1.0, 1.5], requires_grad=True)
    y = sign_ste(x)
    assert y.tolist() == [-1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0]
    y.backward(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]))
    # the gradient passes where |x| <= 1 and is cancelled outside
    assert x.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0]


def _xnor_3x3(scaling: str = "channel", **kwargs) -> XNORConv2d:
    conv = XNORConv2d(1, 2, 3, bias=True, scaling=scaling, **kwargs)
    with torch.no_grad():
        # channel 0: |W| sums to 4.5, so A = 0.5; signs form a checkerboard
        conv.weight[0, 0] = torch.tensor([[0.9, -0.3, 0.6], [-0.3, 0.6, -0.3], [0.6, -0.3, 0.6]])
        # channel 1: |W| = 0.2 everywhere, so A = 0.2; only the centre is positive
        conv.weight[1, 0] = torch.full((3, 3), -0.2)
        conv.weight[1, 0, 1, 1] = 0.2
        conv.bias.copy_(torch.tensor([0.1, -0.1]))
    return conv


X = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]).view(1, 1, 3, 3)


def test_xnor_3x3_convolution_equals_the_hand_result():
    # channel 0: 0.5 * (1 - 2 + 3 - 4 + 5 - 6 + 7 - 8 + 9) + 0.1 = 0.5 * 5 + 0.1
    # channel 1: 0.2 * (5 - (45 - 5)) - 0.1 = 0.2 * -35 - 0.1
    out = _xnor_3x3()(X)
    torch.testing.assert_close(out.flatten(), torch.tensor([2.6, -7.1]))


def test_xnor_per_tensor_scale_is_the_mean_over_all_weights():
    # A = (4.5 + 1.8) / 18 = 0.35 for both channels
    out = _xnor_3x3("tensor")(X)
    torch.testing.assert_close(out.flatten(), torch.tensor([0.35 * 5 + 0.1, 0.35 * -35 - 0.1]))


def test_xnor_padding_reads_zeros_at_the_border():
    conv = _xnor_3x3()
    conv.padding = (1, 1)
    out = conv(X)
    # top-left output sees x[0:2, 0:2] = (1, 2, 4, 5) under the kernel's lower-right signs
    # channel 0: (+1, -1, -1, +1) -> 1 - 2 - 4 + 5 = 0;  channel 1: (+1, -1, -1, -1) -> -10
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([0.0 + 0.1, 0.2 * -10 - 0.1]))
    torch.testing.assert_close(out[0, :, 1, 1], torch.tensor([2.6, -7.1]))


XB = torch.tensor([[0.5, -2.0, 3.0], [-0.1, 0.0, 1.0], [2.0, -3.0, 0.2]]).view(1, 1, 3, 3)


def test_binarized_inputs_without_input_scaling_convolve_their_signs():
    # sign(x) = [[1, -1, 1], [-1, 1, 1], [1, -1, 1]]; against channel 0's checkerboard the
    # products are all +1 except at (1, 2): sum 7
    out = _xnor_3x3(binarize_input=True, input_scaling=False)(XB)
    torch.testing.assert_close(out[0, 0, 0, 0], torch.tensor(0.5 * 7 + 0.1))


def test_xnor_net_binarized_inputs_are_scaled_by_k():
    # K = mean |x| over the 3x3 window (one channel): (0.5+2+3+0.1+0+1+2+3+0.2) / 9 = 11.8 / 9;
    # channel 0: sign conv 7, alpha 0.5; channel 1: alpha 0.2, sign(x)[1,1] - sum of the others
    # = 1 - (1 - 1 + 1 - 1 + 1 + 1 - 1 + 1) = 1 - 2 = -1
    out = _xnor_3x3(binarize_input=True)(XB).flatten()
    k = 11.8 / 9
    torch.testing.assert_close(out, torch.tensor([0.5 * 7 * k + 0.1, 0.2 * -1 * k - 0.1]))


def test_xnor_input_scale_is_the_channel_mean_box_filtered_with_padding_and_stride():
    conv = XNORConv2d(2, 3, 2, padding=1, stride=2, bias=False)
    x = torch.tensor([[[1.0, -2.0], [3.0, -4.0]], [[-3.0, 0.0], [1.0, 2.0]]]).unsqueeze(0)
    # A = mean over the 2 channels of |x| = [[2, 1], [2, 3]]; zero padding 1 gives a 4x4 map,
    # the 2x2 box at stride 2 reads windows whose only real pixel is one entry of A: K = A / 4
    k = conv.input_scale(x)
    assert k.shape == (1, 3, 2, 2)
    for channel in range(3):
        torch.testing.assert_close(k[0, channel], torch.tensor([[0.5, 0.25], [0.5, 0.75]]))


def test_xnor_input_scale_of_a_depthwise_convolution_is_per_channel():
    conv = XNORConv2d(2, 2, (1, 2), groups=2, bias=False)
    x = torch.tensor([[[1.0, -3.0]], [[0.5, 0.5]]]).unsqueeze(0)
    # each group has one channel: K = (|1| + |-3|) / 2 = 2 and (0.5 + 0.5) / 2 = 0.5
    torch.testing.assert_close(conv.input_scale(x).flatten(), torch.tensor([2.0, 0.5]))


@pytest.mark.parametrize("input_scaling", [False, True])
def test_straight_through_gradient_of_a_binarized_input(input_scaling):
    conv = XNORConv2d(1, 1, (1, 2), bias=False, binarize_input=True, input_scaling=input_scaling)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([0.4, -0.2]).view(1, 1, 1, 2))  # alpha = 0.3
    x = torch.tensor([0.5, -3.0]).view(1, 1, 1, 2).requires_grad_()
    out = conv(x)
    out.sum().backward()
    # sign conv: 0.3 * 1 - 0.3 * -1 = 0.6; the STE passes 0.3 * 1{|x0| <= 1} to x0, nothing to x1
    if not input_scaling:
        torch.testing.assert_close(out.flatten(), torch.tensor([0.6]))
        torch.testing.assert_close(x.grad.flatten(), torch.tensor([0.3, 0.0]))
    else:
        # K = (0.5 + 3) / 2 = 1.75, out = 0.6 * 1.75; dK/dx = sign(x) / 2, so
        # dx0 = 0.3 * 1.75 + 0.6 * 0.5 = 0.825, dx1 = 0 + 0.6 * -0.5 = -0.3
        torch.testing.assert_close(out.flatten(), torch.tensor([1.05]))
        torch.testing.assert_close(x.grad.flatten(), torch.tensor([0.825, -0.3]))


def test_xnor_amplitude_loss_pulls_the_weights_towards_plus_minus_alpha():
    conv = XNORConv2d(1, 1, (1, 2), bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([0.5, -2.0]).view(1, 1, 1, 2))
    # alpha = 1.25: W - alpha sign(W) = [-0.75, -0.75]; L_A = theta / 2 * 2 * 0.5625
    loss = conv.amplitude_loss(theta=2.0)
    torch.testing.assert_close(loss, torch.tensor(1.125))
    loss.backward()
    # alpha is the least-squares amplitude, so its own term cancels: dL/dW = theta (W - alpha D)
    torch.testing.assert_close(conv.weight.grad.flatten(), torch.tensor([-1.5, -1.5]))


def test_xnor_records_the_amplitude_loss_in_training_forward_passes():
    from nascore.extra_loss import pop_extra_loss

    conv = XNORConv2d(1, 1, (1, 2), bias=False, amplitude_theta=2.0)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([0.5, -2.0]).view(1, 1, 1, 2))
    conv(torch.ones(1, 1, 1, 2))
    torch.testing.assert_close(pop_extra_loss(conv), torch.tensor(1.125))
    conv.eval()
    conv(torch.ones(1, 1, 1, 2))
    assert pop_extra_loss(conv) is None


def test_xnor_weight_gradient_has_the_scale_term_and_the_clipped_sign_term():
    conv = XNORConv2d(1, 1, (1, 2), bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([0.5, -2.0]).view(1, 1, 1, 2))
    weight = conv.binary_weight()
    torch.testing.assert_close(weight.flatten(), torch.tensor([1.25, -1.25]))  # A = 2.5 / 2
    weight.backward(torch.tensor([1.0, 0.0]).view(1, 1, 1, 2))
    # dL/dW_i = sum_j g_j sign(W_j) sign(W_i) / n + g_i A 1{|W_i| <= 1}
    #         = [1 * 1 / 2 + 1.25, 1 * -1 / 2 + 0] = [1.75, -0.5]
    torch.testing.assert_close(conv.weight.grad.flatten(), torch.tensor([1.75, -0.5]))


def test_pcnn_uses_its_amplitude_matrix_on_every_kernel():
    conv = PCNNConv2d(1, 2, 2, bias=False)
    with torch.no_grad():
        conv.weight[0, 0] = torch.tensor([[0.3, -0.1], [-0.5, 0.2]])
        conv.weight[1, 0] = torch.tensor([[-1.0, 2.0], [3.0, -4.0]])
        conv.amplitude.copy_(torch.tensor([[0.2, 0.2], [0.4, 0.1]]))
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    out = conv(x).flatten()
    # channel 0: 0.2*1 - 0.2*2 - 0.4*3 + 0.1*4 = -1.0;  channel 1: -0.2 + 0.4 + 1.2 - 0.4 = 1.0
    torch.testing.assert_close(out, torch.tensor([-1.0, 1.0]))


def test_amplitude_loss_on_a_2x2_kernel_with_its_gradients():
    conv = PCNNConv2d(1, 1, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[0.3, -0.1], [-0.5, 0.2]]).view(1, 1, 2, 2))
        conv.amplitude.copy_(torch.tensor([[0.2, 0.2], [0.4, 0.1]]))
    # D = [[1, -1], [-1, 1]], A o D = [[0.2, -0.2], [-0.4, 0.1]], X - A o D = [[.1, .1], [-.1, .1]]
    loss = conv.amplitude_loss(theta=1.0)
    torch.testing.assert_close(loss, torch.tensor(0.5 * 0.04))
    torch.testing.assert_close(conv.amplitude_loss(theta=1e-4), torch.tensor(1e-4 * 0.02))
    loss.backward()
    # dL/dX = theta (X - A o D); dL/dA = -theta (X - A o D) o D
    torch.testing.assert_close(conv.weight.grad.view(2, 2), torch.tensor([[0.1, 0.1], [-0.1, 0.1]]))
    torch.testing.assert_close(conv.amplitude.grad, torch.tensor([[-0.1, 0.1], [-0.1, -0.1]]))


def test_pcnn_amplitude_starts_at_the_minimiser_of_the_amplitude_loss():
    torch.manual_seed(0)
    conv = PCNNConv2d(3, 5, 3)
    torch.testing.assert_close(conv.amplitude, conv.weight.abs().mean(dim=(0, 1)))
    conv.amplitude_loss(theta=1.0).backward()
    assert float(conv.amplitude.grad.abs().max()) < 1e-6


@pytest.mark.parametrize("cls", [XNORConv2d, PCNNConv2d])
def test_binary_convs_keep_the_conv2d_constructor_and_parameter_names(cls):
    conv = cls(4, 6, 3, stride=2, padding=1, dilation=1, groups=2, bias=True)
    reference = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=True)
    assert conv.weight.shape == reference.weight.shape
    assert {"weight", "bias"} <= set(conv.state_dict())
    assert conv(torch.randn(2, 4, 8, 8)).shape == reference(torch.randn(2, 4, 8, 8)).shape


def test_unknown_xnor_scaling_is_refused():
    with pytest.raises(ValueError, match="scaling"):
        XNORConv2d(1, 1, 3, scaling="row")
