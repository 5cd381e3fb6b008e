"""Batch augmentation applied on tensors inside the training loop."""

from __future__ import annotations

import torch


def cutout(images: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """Zero one ``length`` x ``length`` square per image (DeVries & Taylor, 2017).

    The square's centre is drawn uniformly over the image from ``generator``; the square is
    clipped at the borders, and ``length`` is clamped to the image's shorter side. Returns a new
    tensor of the shape of ``images`` (``[N, C, H, W]``).
    """
    if length <= 0:
        return images
    n, _, h, w = images.shape
    length = min(length, h, w)
    cy = torch.randint(h, (n, 1), generator=generator)
    cx = torch.randint(w, (n, 1), generator=generator)
    rows, cols = torch.arange(h).unsqueeze(0), torch.arange(w).unsqueeze(0)
    half = length // 2
    in_rows = (rows >= cy - half) & (rows < cy - half + length)
    in_cols = (cols >= cx - half) & (cols < cx - half + length)
    hole = in_rows.unsqueeze(2) & in_cols.unsqueeze(1)  # [N, H, W]
    return images.masked_fill(hole.unsqueeze(1).to(images.device), 0.0)
