"""Budgets: the training hyper-parameters of a (proxy) evaluation, as searched by MIP-BPE."""

from __future__ import annotations

from typing import Any

import attrs

from nascore.config import field, one_of, positive


@attrs.frozen
class Budget:
    """How much training an estimate gets; also sizes the proxy supernet of one-shot strategies.

    ``image_size`` ``None`` keeps the dataset's size; ``precision`` 16 trains in bfloat16 autocast.
    """

    epochs: int = field(10, "training epochs", validator=positive)
    batch_size: int = field(128, "batch size", validator=positive)
    lr: float = field(0.03, "initial SGD learning rate (cosine schedule)", validator=positive)
    layers: int = field(6, "number of cells", validator=positive)
    channels: int = field(8, "initial channels", validator=positive)
    image_size: int | None = field(None, "training image size (None: dataset size)")
    cutout: int = field(0, "cutout length (0: off)")
    precision: int = field(32, "16 or 32", validator=one_of(16, 32))
    momentum: float = field(0.9, "SGD momentum")
    weight_decay: float = field(3e-4, "SGD weight decay")
    grad_clip: float = field(5.0, "gradient norm clip")

    def evolve(self, **changes: Any) -> Budget:
        """A copy with some values changed."""
        return attrs.evolve(self, **changes)
