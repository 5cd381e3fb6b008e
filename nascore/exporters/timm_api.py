"""timm's model API for networks that lack it: what can be derived from a plain classifier.

A space's network becomes a timm model through :mod:`nascore.timm`. The DARTS and NAS-Bench-201
networks implement timm's model API themselves (see :mod:`nascore.nn.head`); a plugin's network
that is a plain ``nn.Module`` classifier, ending in an ``nn.Linear`` with ``num_classes``
outputs, gets the parts derived from that layer: ``num_features`` (its inputs),
``get_classifier``, ``reset_classifier``, ``forward_features`` (the classifier's input: pooled
features) and ``forward_head``. Only the missing parts are added, by giving the network a
subclass of its own class (its parameters and their names do not change). A network without such
a layer is refused with one line naming what is missing.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from torch import nn

from nascore.errors import UsageError
from nascore.nn.head import check_global_pool, linear_classifier

#: What timm's model API needs of a network (``num_classes`` is set by the caller).
TIMM_API = ("num_features", "get_classifier", "reset_classifier", "forward_features",
            "forward_head")


class _DerivedTimmApi(nn.Module):
    """The derivable methods; :func:`with_timm_api` copies the missing ones into a subclass of
    the network's class. ``_timm_classifier`` names the classifier module."""

    _timm_classifier: str

    def get_classifier(self) -> nn.Module:
        return self.get_submodule(self._timm_classifier)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        check_global_pool(global_pool)
        parent, _, name = self._timm_classifier.rpartition(".")
        setattr(self.get_submodule(parent), name,
                linear_classifier(self.num_features, num_classes))
        self.num_classes = num_classes

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        captured: list[torch.Tensor] = []
        hook = self.get_classifier().register_forward_pre_hook(
            lambda _module, args: captured.append(args[0]))
        try:
            self(x)
        finally:
            hook.remove()
        if len(captured) != 1:
            raise UsageError(f"{type(self).__name__}'s forward called its classifier "
                             f"{self._timm_classifier} {len(captured)} times, so its features "
                             "cannot be told apart; use the network's forward instead")
        return captured[0]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.get_classifier()(x)


def final_linear(network: nn.Module, num_classes: int) -> str | None:
    """Name of the last ``nn.Linear`` with ``num_classes`` outputs (None if there is none)."""
    found = [name for name, module in network.named_modules()
             if isinstance(module, nn.Linear) and module.out_features == num_classes]
    return found[-1] if found and found[-1] else None


@functools.cache
def _derived_class(cls: type[nn.Module], methods: tuple[str, ...]) -> type[nn.Module]:
    namespace: dict[str, Any] = {name: vars(_DerivedTimmApi)[name] for name in methods}
    namespace.update(__module__=cls.__module__, __qualname__=cls.__qualname__,
                     __doc__=cls.__doc__)
    return type(cls.__name__, (cls,), namespace)


def with_timm_api(network: nn.Module, num_classes: int, space: str) -> nn.Module:
    """``network`` with the parts of timm's model API it lacks derived from its final linear
    classifier, or :class:`UsageError` naming what is missing."""
    missing = [name for name in TIMM_API if not hasattr(network, name)]
    if not missing:
        return network
    classifier = final_linear(network, num_classes)
    if classifier is None:
        raise UsageError(
            f"space '{space}' networks ({type(network).__name__}) lack timm's model API "
            f"({', '.join(missing)}) and end in no nn.Linear with {num_classes} outputs to derive "
            "it from; export with --format onnx or pt2, or give the network those methods")
    methods = tuple(name for name in missing if name != "num_features")
    network.__class__ = _derived_class(type(network), methods)
    network._timm_classifier = classifier
    if "num_features" in missing:
        network.num_features = network.get_submodule(classifier).in_features
    return network
