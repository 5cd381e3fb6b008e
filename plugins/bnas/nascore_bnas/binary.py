"""Binarized convolutions: weights ``A * sign(W)`` with straight-through gradients (BNAS, Sec.
"Optimization for BNAS"), as drop-ins for :class:`torch.nn.Conv2d`.

* :func:`sign_ste` -- ``sign`` with the *clipped* straight-through estimator of XNOR-Net
  (Rastegari et al. 2016, Sec. 3.2, after Hubara/Courbariaux et al.): the forward pass gives
  exactly +-1 (``sign(0) = +1``), the backward pass passes the gradient where ``|x| <= 1`` and
  cancels it elsewhere. Clipping rather than identity because that is the estimator XNOR-Net
  states, and PCNN's gradient through its projection carries the same indicator
  ``1_{-1 <= x <= 1}`` (Gu et al. 2019); for latent weights, which stay well inside [-1, 1], the
  two agree, while for binarized activations clipping stops the gradient of saturated inputs.
* :class:`XNORConv2d` -- ``A = mean |W|`` per output channel (XNOR-Net's ``alpha``, the default)
  or per tensor. Autograd runs through ``A`` as well, so
  ``dL/dW_i = sum_j g_j sign(W_j) sign(W_i) / n + g_i A 1_{|W_i|<=1}`` (``n`` weights per
  output channel): the two terms of XNOR-Net's weight gradient. With ``binarize_input=True`` the
  input is binarized too and, with ``input_scaling`` (default), the output is multiplied by
  XNOR-Net's ``K``: the mean of ``|input|`` over the input channels (of each group), convolved
  with a ``1/(kh*kw)`` box filter of the kernel's size, stride, padding and dilation (XNOR-Net,
  Sec. 3.2: ``I * W ~ (sign(I) (*) sign(W)) o K alpha``).
* :class:`PCNNConv2d` -- a learned amplitude matrix ``A`` of the kernel's spatial size, shared by
  all kernels of the layer (BNAS: "the shared amplitude ``A^l``"; PCNN duplicates its projection
  matrix along the channels).

Both have the amplitude loss of BNAS Eq. 6, ``L_A = theta / 2 * ||W - A o sign(W)||^2``
(:meth:`BinaryConv2d.amplitude_loss`); with ``amplitude_theta`` set, each training forward pass
records it as an extra loss (Eq. 7, "the complete loss function for BNAS"). For XNOR ``A`` is the
least-squares amplitude of ``W``, so ``L_A`` only pulls the weights towards ``+-A``.

Each class keeps ``nn.Conv2d``'s constructor and parameter names (``weight`` holds the latent
full-precision weights, ``bias`` the bias; PCNN adds ``amplitude``), and its forward pass has no
Python control flow on tensor values, so it traces with ``torch.export`` and exports to ONNX.
With ``binarize_input=True`` the input is binarized by :func:`sign_ste` too; by default
activations stay full precision.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nascore.extra_loss import record_extra_loss

#: Default ``theta`` of the amplitude loss (Eq. 6). BNAS gives no value; this is the weight
#: ``lambda = 1e-4`` of PCNN's projection loss (Gu et al. 2019, the kernel-variance figure), the
#: loss Eq. 6 restates.
AMPLITUDE_THETA = 1e-4

#: XNOR scaling granularities: one ``A`` per output channel (XNOR-Net) or one per tensor.
XNOR_SCALINGS = ("channel", "tensor")


def hard_sign(x: torch.Tensor) -> torch.Tensor:
    """``+1`` where ``x >= 0``, ``-1`` elsewhere (no gradient)."""
    return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


def sign_ste(x: torch.Tensor) -> torch.Tensor:
    """:func:`hard_sign` forward, clipped straight-through gradient ``1_{|x| <= 1}`` backward.

    Written as ``sign + (x - x.detach()) * 1_{|x| <= 1}``, which is exactly ``sign(x)`` in the
    forward pass and needs no custom autograd function (so it exports).
    """
    inside = (x.abs() <= 1.0).to(x.dtype)
    return hard_sign(x).detach() + (x - x.detach()) * inside


class BinaryConv2d(nn.Conv2d):
    """A :class:`~torch.nn.Conv2d` that convolves with :meth:`binary_weight` instead of ``weight``.

    ``weight`` stays the latent full-precision tensor the optimiser updates. With
    ``amplitude_theta`` set, every training forward pass with gradients records
    :meth:`amplitude_loss` at that ``theta`` through :func:`nascore.extra_loss.record_extra_loss`,
    so search steps and ``nas train`` add ``L_A`` of exactly the layers that ran (Eq. 7).
    """

    #: Name of the binarization (``"xnor"``, ``"pcnn"``).
    mode: str

    def __init__(
        self,
        *args: Any,
        binarize_input: bool = False,
        amplitude_theta: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.binarize_input = binarize_input
        self.amplitude_theta = amplitude_theta

    def weight_scale(self) -> torch.Tensor:
        """The amplitude ``A`` that multiplies ``sign(W)`` (broadcastable to ``weight``)."""
        raise NotImplementedError

    def binary_weight(self) -> torch.Tensor:
        """The weights the convolution uses: ``A o sign_ste(weight)``."""
        return self.weight_scale() * sign_ste(self.weight)

    def amplitude_loss(self, theta: float = AMPLITUDE_THETA) -> torch.Tensor:
        """BNAS Eq. 6 for this layer: ``theta / 2 * sum (W - A o sign(W))^2``.

        ``sign(W)`` is treated as a constant here (its derivative is 0 almost everywhere), so the
        loss pulls ``W`` towards ``A o sign(W)`` and a learned ``A`` towards ``|W|``.
        """
        direction = hard_sign(self.weight).detach()
        return 0.5 * theta * (self.weight - self.weight_scale() * direction).pow(2).sum()

    @property
    def scale_count(self) -> int:
        """Floating-point scaling factors an inference model stores besides the parameters
        (derived from the weights, so not parameters themselves)."""
        return 0

    def convolve(self, x: torch.Tensor) -> torch.Tensor:
        """The binarized convolution of ``x`` (inputs binarized if configured), with bias."""
        if self.binarize_input:
            x = sign_ste(x)
        return self._conv_forward(x, self.binary_weight(), self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.amplitude_theta is not None:
            record_extra_loss(self, self.amplitude_loss(self.amplitude_theta))
        return self.convolve(x)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, binarize_input={self.binarize_input}, "
                f"amplitude_theta={self.amplitude_theta}")


class XNORConv2d(BinaryConv2d):
    """XNOR-Net weights ``A * sign(W)``, ``A = mean |W|`` per output channel (``scaling="channel"``)
    or over the whole tensor (``scaling="tensor"``); with binarized inputs and ``input_scaling``,
    the output times XNOR-Net's input scale ``K`` (:meth:`input_scale`)."""

    mode = "xnor"

    def __init__(
        self,
        *args: Any,
        scaling: str = "channel",
        input_scaling: bool = True,
        binarize_input: bool = False,
        amplitude_theta: float | None = None,
        **kwargs: Any,
    ) -> None:
        if scaling not in XNOR_SCALINGS:
            raise ValueError(f"XNOR scaling must be one of {XNOR_SCALINGS}, got {scaling!r}")
        super().__init__(
            *args, binarize_input=binarize_input, amplitude_theta=amplitude_theta, **kwargs
        )
        self.scaling = scaling
        self.input_scaling = input_scaling

    def scale(self) -> torch.Tensor:
        """``A``: ``[out, 1, 1, 1]`` per channel or a scalar per tensor."""
        if self.scaling == "channel":
            return self.weight.abs().mean(dim=(1, 2, 3), keepdim=True)
        return self.weight.abs().mean()

    def weight_scale(self) -> torch.Tensor:
        return self.scale()

    def input_scale(self, x: torch.Tensor) -> torch.Tensor:
        """XNOR-Net's ``K`` for input ``x``: ``mean |x|`` over the input channels of each group
        (``A`` in XNOR-Net), convolved with a box filter ``1/(kh*kw)`` of the kernel's size at the
        convolution's stride, padding and dilation; ``[batch, out, H', W']``, each output channel
        taking its group's map."""
        n, c, h, w = x.shape
        groups = self.groups
        mean_abs = x.abs().reshape(n, groups, c // groups, h, w).mean(dim=2)
        kh, kw = self.kernel_size
        box = torch.full((groups, 1, kh, kw), 1.0 / (kh * kw), dtype=x.dtype, device=x.device)
        k = F.conv2d(mean_abs, box, None, self.stride, self.padding, self.dilation, groups)
        per_group = self.out_channels // groups
        return k if per_group == 1 else k.repeat_interleave(per_group, dim=1)

    def convolve(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.binarize_input and self.input_scaling):
            return super().convolve(x)
        out = self._conv_forward(sign_ste(x), self.binary_weight(), None) * self.input_scale(x)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)

    @property
    def scale_count(self) -> int:
        return self.out_channels if self.scaling == "channel" else 1

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, scaling={self.scaling}, input_scaling={self.input_scaling}"


class PCNNConv2d(BinaryConv2d):
    """PCNN-style weights ``A o sign(W)`` with a learned amplitude ``A`` of shape
    ``kernel_size``, broadcast over output and input channels.

    ``A`` starts at ``mean |W|`` over the channels at each kernel position (the minimiser of
    :meth:`amplitude_loss` for the initial weights; :meth:`reset_amplitude` recomputes it) and is
    then learned from the task loss and the amplitude loss.
    """

    mode = "pcnn"

    def __init__(
        self,
        *args: Any,
        binarize_input: bool = False,
        amplitude_theta: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            *args, binarize_input=binarize_input, amplitude_theta=amplitude_theta, **kwargs
        )
        self.amplitude = nn.Parameter(
            torch.empty(self.kernel_size, device=self.weight.device, dtype=self.weight.dtype)
        )
        self.reset_amplitude()

    @torch.no_grad()
    def reset_amplitude(self) -> None:
        """Set ``A`` to ``mean |W|`` over output and input channels."""
        self.amplitude.copy_(self.weight.abs().mean(dim=(0, 1)))

    def weight_scale(self) -> torch.Tensor:
        return self.amplitude
