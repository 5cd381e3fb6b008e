"""RC-DARTS (Jin et al.): first-order DARTS whose architecture is kept inside resource bounds by
the iterative projection (the ``projection`` constraint handler).

A declaration on the core's one-shot loop: the softmax policy, the paper's step order (weights,
then architecture: Algorithm 1, Steps 1-2) and ``projection`` as the default constraint handler
(its e_u = 150 and e_p = 500 are the handler's defaults). The search network of the paper (8
cells, C = 16) is the ``darts`` space's default size. Multi-level search (``strategy.levels``)
and connection cells (``space.connection_cell``) are options; without ``--constraint`` the
search is first-order DARTS with the weights step first.
"""

from __future__ import annotations

from nascore.oneshot import Default, one_shot_strategy

_PAPER = "RC-DARTS, Sec. 4.1"

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
    },
    doc="RC-DARTS: first-order DARTS with resource constraints enforced by iterative projection.",
    class_name="RCDarts",
)
