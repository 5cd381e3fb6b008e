"""The core's named budget presets (``--budget NAME``; change single values with
``--set budget.KEY=VALUE``).

* ``tiny``: 1 epoch, batch 64, lr 0.05, 3 cells of 4 initial channels, native image size, no
  cutout, fp32 -- for smoke tests and the digits demos (an estimate takes about a second).
* ``small``: 5 epochs, batch 64, lr 0.05, 5 cells of 8 initial channels, otherwise as ``tiny`` --
  a quick but less noisy proxy on small datasets.

The MIP-BPE budgets (``bpe1``, ``bpe2``) come with the ``mipbpe`` plugin.
"""

from __future__ import annotations

from nascore.budget import Budget

TINY = Budget(
    epochs=1, batch_size=64, lr=0.05, layers=3, channels=4, image_size=None, cutout=0, precision=32
)
SMALL = TINY.evolve(epochs=5, layers=5, channels=8)

#: Presets by name, as registered by :mod:`nascore.builtins`.
PRESETS: dict[str, Budget] = {"tiny": TINY, "small": SMALL}
