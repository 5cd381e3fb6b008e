"""RC-DARTS (Jin et al.): first-order DARTS whose architecture is kept inside resource bounds by
the iterative projection (the ``projection`` constraint handler).

A declaration on the core's one-shot loop: the softmax policy, the paper's step order (weights,
then architecture: Algorithm 1, Steps 1-2) and ``projection`` as the default constraint handler
(its e_u = 150 and e_p = 500 are the handler's defaults). The default is the paper's headline
method, "w/ (MLS+CC)" of Table 3: multi-level search with three levels (``strategy.levels = 3``,
Sec. 3.3 and Fig. 2) and a searched connection cell (the space setting ``connection_cell = true``,
declared as a space default of this strategy). The search network of the paper (8 cells, C = 16)
is the ``darts`` space's default size. Presets (``--set strategy.preset=NAME``) give Table 3's
ablations: ``wo_mls_cc`` (one level, fixed 1x1 preprocessing), ``w_mls`` and ``w_cc``. Without
``--constraint`` the search is first-order DARTS with the weights step first. ``nas train`` of
an ``rcdarts`` run uses the DARTS CIFAR recipe with the paper's drop path 0.3 (Sec. 4.3.1).
"""

from __future__ import annotations

from nascore.oneshot import Default, one_shot_strategy

_PAPER = "RC-DARTS, Sec. 4.1"
_HEADLINE = "RC-DARTS, Table 3 w/ (MLS+CC)"

#: Table 3's ablations: strategy settings (the space settings are in :data:`SPACE_PRESETS`).
PRESETS = {
    "wo_mls_cc": {"levels": 1},
    "w_mls": {"levels": 3},
    "w_cc": {"levels": 1},
}
#: The space settings of the presets.
SPACE_PRESETS = {
    "wo_mls_cc": {"connection_cell": False},
    "w_mls": {"connection_cell": False},
    "w_cc": {"connection_cell": True},
}

RCDartsStrategy = one_shot_strategy(
    "rcdarts",
    defaults={
        "constraint_handler": Default("projection", "RC-DARTS, Algorithm 1"),
        "epochs": Default(50, _PAPER),
        "batch_size": Default(64, f"{_PAPER}, for the weights and the architecture batches"),
        "second_order": Default(False, "RC-DARTS, Sec. 3.2.1: first-order approximation"),
        "arch_step_first": Default(
            False, "RC-DARTS, Algorithm 1: w first (Step 1), then theta (Step 2)"
        ),
        "levels": Default(
            3, f"{_HEADLINE}; Sec. 3.3 and Fig. 2: low/mid/high-level normal cells; preset "
            "wo_mls_cc: 1",
        ),
    },
    presets=PRESETS,
    doc="RC-DARTS: first-order DARTS with resource constraints enforced by iterative projection.",
    class_name="RCDarts",
)
RCDartsStrategy.space_defaults = {
    "connection_cell": Default(
        True, f"strategy rcdarts: true, {_HEADLINE}; Sec. 3.3 and 4.1; preset wo_mls_cc: false"
    ),
}
RCDartsStrategy.space_presets = SPACE_PRESETS
RCDartsStrategy.retrain_defaults = {
    "drop_path": Default(
        0.3, "RC-DARTS, Sec. 4.3.1: path dropout of probability 0.3 (CIFAR-10 evaluation)"
    ),
}
