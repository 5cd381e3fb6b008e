"""Budgets: the training hyper-parameters of a (proxy) evaluation, as searched by MIP-BPE, and
the core's named presets (``--budget NAME``; change single values with
``--set budget.KEY=VALUE``).

* ``tiny``: 1 epoch, batch 64, lr 0.05, 3 cells of 4 initial channels, native image size, no
  cutout, fp32 -- for smoke tests and the digits demos (an estimate takes about a second).
* ``small``: 5 epochs, batch 64, lr 0.05, 5 cells of 8 initial channels, otherwise as ``tiny`` --
  a quick but less noisy proxy on small datasets.

The MIP-BPE budgets (``bpe1``, ``bpe2``) come with the ``mipbpe`` plugin.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from nascore.config import (
    build_config,
    config_to_dict,
    dump_toml,
    field,
    help_texts,
    load_toml,
    non_negative,
    one_of,
    positive,
)
from nascore.errors import ConfigError


@attrs.frozen
class Budget:
    """How much training an estimate gets; also sizes the proxy supernet of one-shot strategies.

    ``image_size`` ``None`` keeps the dataset's size; ``precision`` 16 trains in float16
    autocast with loss scaling on CUDA and in bfloat16 autocast on the CPU (see
    :func:`nascore.training.fit.autocast_dtype`). ``auxiliary_weight`` and ``drop_path`` are
    the DARTS retraining regularisers (off in every proxy budget; the MIP-BPE full setting uses
    them); the ``train`` estimator applies them, one-shot supernets ignore them.
    """

    epochs: int = field(10, "training epochs", validator=positive)
    batch_size: int = field(128, "batch size", validator=positive)
    lr: float = field(0.03, "initial SGD learning rate (cosine schedule)", validator=positive)
    layers: int = field(6, "number of cells", validator=positive)
    channels: int = field(8, "initial channels", validator=positive)
    image_size: int | None = field(None, "training image size (None: dataset size)")
    cutout: int = field(0, "cutout length (0: off)")
    precision: int = field(
        32, "16 (float16 autocast on CUDA, bfloat16 on the CPU) or 32", validator=one_of(16, 32)
    )
    momentum: float = field(0.9, "SGD momentum")
    weight_decay: float = field(3e-4, "SGD weight decay")
    grad_clip: float = field(5.0, "gradient norm clip")
    auxiliary_weight: float = field(
        0.0, "weight of an auxiliary head's loss (0: no head; DARTS retraining: 0.4)",
        validator=non_negative,
    )
    drop_path: float = field(
        0.0, "final drop-path probability, ramped linearly from 0 (DARTS retraining: 0.2)",
        validator=non_negative,
    )

    def evolve(self, **changes: Any) -> Budget:
        """A copy with some values changed."""
        return attrs.evolve(self, **changes)


TINY = Budget(
    epochs=1, batch_size=64, lr=0.05, layers=3, channels=4, image_size=None, cutout=0, precision=32
)
SMALL = TINY.evolve(epochs=5, layers=5, channels=8)

#: Presets by name, as registered by :mod:`nascore.builtins`.
PRESETS: dict[str, Budget] = {"tiny": TINY, "small": SMALL}


def budget_toml(budget: Budget, header: Sequence[str] = ()) -> str:
    """A budget file: ``header`` lines as comments, then ``[budget]`` with every field (an unset
    ``image_size`` is a commented-out key, i.e. the dataset's size)."""
    comments = "".join(f"# {line}\n" for line in header)
    return comments + dump_toml({"budget": config_to_dict(budget)}, help_texts(Budget, "budget"))


def load_budget_file(path: str | Path) -> Budget:
    """The :class:`Budget` of a budget file (``--budget FILE.toml``; missing keys take the
    Budget defaults)."""
    data = load_toml(str(path))
    table = data.get("budget")
    if not isinstance(table, dict) or set(data) != {"budget"}:
        raise ConfigError(f"budget file {path} must hold exactly one [budget] table")
    return build_config(Budget, table, "budget")


def is_budget_file(name: str) -> bool:
    """Whether ``--budget NAME`` names a file rather than a preset."""
    return name.endswith(".toml")
