"""GDAS (Dong & Yang, 2019): one Gumbel-sampled candidate per edge, straight-through gradients.

The defaults are those of the authors' search code (D-X-Y/AutoDL-Projects, the NASNet-space
GDAS config; the paper's own values could not be checked): 250 epochs, batch 256, SGD 0.025
cosine to 0.001 with Nesterov momentum and weight decay 5e-4, tau 10 -> 0.1 linear, the weights
step before the architecture step. The reference searches a 6-cell network (``--layers 6``).
"""

from nascore.deprecated import Replacement, moved
from nascore.oneshot import Default, Gumbel, one_shot_strategy

_CODE = "GDAS reference code, AutoDL-Projects GDAS-NASNet-CIFAR.config"

GDASStrategy = one_shot_strategy(
    "gdas",
    policy=Gumbel,
    defaults={
        "epochs": Default(250, _CODE),
        "batch_size": Default(256, _CODE),
        "weight_decay": Default(5e-4, _CODE),
        "nesterov": Default(True, _CODE),
        "arch_step_first": Default(False, "GDAS reference code, search loop"),
    },
    doc="GDAS: each forward pass runs only the Gumbel-sampled candidate of every edge.",
    class_name="GDAS",
)

#: The config class of plugin API 1 (now composed from the loop's, the policy's and the parts').
__getattr__ = moved(__name__, {
    "GDASConfig": Replacement(
        lambda: GDASStrategy.config_class({}),
        "nascore.strategies.gdas.GDASStrategy.config_class({})",
    ),
})
