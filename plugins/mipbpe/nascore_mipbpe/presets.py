"""The budgets of the MIP-BPE paper (Zheng et al., *Rethinking Performance Estimation in Neural
Architecture Search*, CVPR 2020) as :class:`nascore.Budget` values.

* ``bpe1`` -- Table 1, column BPE-1: 10 epochs, batch 128, lr 0.03, 6 cells of 8 initial
  channels, 16x16 images, fp32, no cutout (released budget ``task5``, r_s 0.497, 0.085 GPU hours
  per architecture on CIFAR-10). Precision and cutout are not in Table 1; they come from the
  authors' ``param_setting.py`` and the released ``task5`` row.
* ``bpe2`` -- Table 1, column BPE-2: as BPE-1 with 30 epochs, 16 cells and 16 initial channels
  (released budget ``task32``, r_s 0.625, 0.55 GPU hours).
* :data:`FULL` -- the full training setting *f* the budgets are ranked against (Sec. 3.1 and
  5.1.1: 20 cells of 36 channels, 600 epochs, batch 96, lr 0.025, cutout 16, native image size;
  "similar to [28, 52, 31]", i.e. the DARTS retraining recipe, whose auxiliary head (loss weight
  0.4) and drop path (0.2, ramped linearly) it also takes -- DARTS, Liu et al. 2019, Sec. A.2).

Momentum (0.9), weight decay (3e-4) and the gradient clip (5) are the Budget defaults (the DARTS
recipe); the paper does not list them.
"""

from __future__ import annotations

from nascore import Budget

BPE1 = Budget(
    epochs=10, batch_size=128, lr=0.03, layers=6, channels=8, image_size=16, cutout=0,
    precision=32,
)
BPE2 = BPE1.evolve(epochs=30, layers=16, channels=16)
FULL = Budget(
    epochs=600, batch_size=96, lr=0.025, layers=20, channels=36, image_size=None, cutout=16,
    precision=32, auxiliary_weight=0.4, drop_path=0.2,
)

#: The presets the plugin registers (``--budget bpe1``).
PRESETS: dict[str, Budget] = {"bpe1": BPE1, "bpe2": BPE2}
