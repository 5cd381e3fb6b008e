"""Settings of the ``eoinas`` strategy: the paper's defaults and the released code's variant."""

from __future__ import annotations

import attrs

from nascore.config import field, non_negative, one_of, positive
from nascore.strategies.gdas import GDASConfig
from nascore.strategies.schedules import TAU_SCHEDULES

VARIANTS = ("paper", "code")


@attrs.frozen
class Behaviour:
    """Where the paper and the authors' released code differ (see the README).

    * ``soft_sampling``: soft Gumbel-softmax weights, every unpruned op computed (code) instead
      of one hard straight-through sample per edge, only that op computed (paper).
    * ``latest_accuracy``: ``Ca`` is the latest validation batch's top-1 (code) instead of the
      accumulated validation accuracy (paper).
    * ``reset_after_prune``: ``Ca`` and ``Ce`` restart from 0 after each pruning stage (code).
    * ``drop_zero_first``: the last pruning stage removes ``none`` wherever it remains, instead
      of the lowest-indicator op (code).
    """

    soft_sampling: bool
    latest_accuracy: bool
    reset_after_prune: bool
    drop_zero_first: bool

    @classmethod
    def of_variant(cls, variant: str) -> Behaviour:
        """All four switches as in the paper (``"paper"``) or the released code (``"code"``)."""
        code = variant == "code"
        return cls(code, code, code, code)


@attrs.frozen
class EoiNASConfig(GDASConfig):
    """EoiNAS settings (defaults: the paper's, Sec. 4.2) on top of the GDAS ones."""

    epochs: int = field(160, "search epochs", validator=positive)
    warmup_epochs: int | None = field(
        None, "first epochs without architecture steps (None: epochs // 8, the paper's 20 of "
        "160, at least 1)", validator=non_negative,
    )
    tau_max: float = field(5.0, "Gumbel temperature of the first epoch", validator=positive)
    tau_min: float = field(
        0.05, "Gumbel temperature of the last epoch (the paper anneals to 0; tau = 0 is "
        "undefined, so the schedule stops at this small value)", validator=positive,
    )
    tau_schedule: str = field("exponential", "linear | exponential decay of the temperature",
                              validator=one_of(*TAU_SCHEDULES))
    indicator_lambda: float = field(
        0.5, "lambda of the indicator I = softmax(alpha) + lambda * Ca / Ce", validator=non_negative
    )
    prune_every: int | None = field(
        None, "epochs between pruning stages after the warm-up (None: spread the stages evenly "
        "so that one op per edge remains at the end; the paper's 20 for 160 epochs)",
        validator=positive,
    )
    variant: str = field(
        "paper", "paper | code: the paper's behaviour or the authors' released code's (soft "
        "Gumbel, latest accuracy, counters reset after each prune, none dropped first)",
        validator=one_of(*VARIANTS),
    )
    soft_sampling: bool | None = field(
        None, "soft Gumbel weights with every unpruned op computed (None: as the variant)"
    )
    latest_accuracy: bool | None = field(
        None, "Ca = latest validation batch top-1 instead of accumulated (None: as the variant)"
    )
    reset_after_prune: bool | None = field(
        None, "zero Ca and Ce after each pruning stage (None: as the variant)"
    )
    drop_zero_first: bool | None = field(
        None, "the last pruning stage removes none where it remains (None: as the variant)"
    )

    def __attrs_post_init__(self) -> None:
        if self.warmup_epochs is None:
            # the inherited checks (learning rates, temperatures) on a copy with a valid warm-up;
            # the strategy scales the warm-up to the run's epochs
            attrs.evolve(self, warmup_epochs=0)
        else:
            super().__attrs_post_init__()

    def behaviour(self) -> Behaviour:
        """The variant's switches with the explicitly set ones overriding them."""
        base = Behaviour.of_variant(self.variant)
        overrides = {
            f.name: getattr(self, f.name)
            for f in attrs.fields(Behaviour)
            if getattr(self, f.name) is not None
        }
        return attrs.evolve(base, **overrides)
