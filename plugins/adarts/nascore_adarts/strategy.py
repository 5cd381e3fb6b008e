"""The A-DARTS search recipe as a strategy: DARTS's loop (first order, the softmax policy) with
the paper's settings (Wang et al., Sec. 4.1): 25 epochs, SGD 0.05 cosine to 0.001, alpha and beta
each with an Adam of lr 6e-4, betas (0.5, 0.999), weight decay 1e-3 (the space gives them their
own stages), weights then alpha then beta (Algorithm 1). Unstated values follow DARTS, as the
paper says. On the ``adarts`` space this is the tri-level search; ``--strategy pcdarts`` gives
A-PC-DARTS.
"""

from __future__ import annotations

from nascore.oneshot import Default, Softmax, one_shot_strategy

_PAPER = "A-DARTS, Sec. 4.1"

ADartsStrategy = one_shot_strategy(
    "adarts",
    policy=Softmax,
    defaults={
        "epochs": Default(25, _PAPER),
        "lr": Default(0.05, _PAPER),
        "arch_lr": Default(6e-4, _PAPER),
        "arch_step_first": Default(False, "A-DARTS, Algorithm 1: w, then alpha, then beta"),
    },
    doc="The A-DARTS search recipe (tri-level on the adarts space).",
    class_name="ADarts",
)
