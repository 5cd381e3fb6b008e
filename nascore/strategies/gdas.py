"""GDAS (Dong & Yang, 2019): one Gumbel-sampled candidate per edge, straight-through gradients."""

from nascore.oneshot import Default, Gumbel, one_shot_strategy

_CODE = "GDAS reference code, D-X-Y/AutoDL-Projects"

GDASStrategy = one_shot_strategy(
    "gdas",
    policy=Gumbel,
    defaults={"arch_step_first": Default(False, _CODE)},
    doc="GDAS: each forward pass runs only the Gumbel-sampled candidate of every edge.",
    class_name="GDAS",
)
