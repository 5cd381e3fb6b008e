"""EoiNAS (Zhou et al.): GDAS sampling + the operation importance indicator + gradual pruning.

A declaration on the core's one-shot loop: the :class:`~nascore.oneshot.Gumbel` policy, the
:class:`~nascore_eoinas.indicator.ImportanceIndicator` and
:class:`~nascore_eoinas.pruning.GradualPruning` parts, and the paper's settings. The preset
``code`` switches to the authors' released code's behaviour (soft Gumbel weights, latest-batch
``Ca``, ``Ce`` restarted after each prune, ``none`` dropped first at the last prune, arch lr
6e-4); see the plugin README. The settings' earlier names ``variant``, ``soft_sampling`` (the
inverse of ``hard_sampling``) and ``reset_after_prune`` still work, as deprecated aliases.
"""

from __future__ import annotations

from nascore.oneshot import Default, Gumbel, one_shot_strategy
from nascore_eoinas.aliases import RENAMED_SETTINGS
from nascore_eoinas.indicator import ImportanceIndicator
from nascore_eoinas.pruning import GradualPruning

_PAPER = "EoiNAS, Sec. 4.2"


EoiNASStrategy = one_shot_strategy(
    "eoinas",
    policy=Gumbel,
    parts=(ImportanceIndicator, GradualPruning),
    defaults={
        "epochs": Default(160, _PAPER),
        "warmup_epochs": Default(None, f"{_PAPER}: 20 of 160"),
        "tau_max": Default(5.0, _PAPER),
        "tau_min": Default(0.05, "the paper anneals to 0, undefined for tau; this small value"),
        "tau_schedule": Default("exponential", _PAPER),
        "arch_step_first": Default(False, "the authors' code, built on GDAS's"),
    },
    presets={"code": {"hard_sampling": False, "latest_accuracy": True,
                      "reset_counts_after_prune": True, "drop_zero_first": True, "arch_lr": 6e-4}},
    doc="EoiNAS: GDAS sampling, the operation importance indicator and gradual pruning.",
    class_name="EoiNAS",
    renamed=RENAMED_SETTINGS,
)
