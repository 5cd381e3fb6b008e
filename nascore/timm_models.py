"""timm models of nascore networks.

``nascore_network`` builds the network of any architecture of any space with the ``network``
capability; folders written by ``nas export --format timm`` name it in their ``config.json``, so
``timm.create_model("local-dir:FOLDER", pretrained=True)`` rebuilds the network and loads its
weights. Every published architecture registered by a plugin is also a timm model,
``nascore_<name>`` (e.g. ``nascore_darts_v2``), sized by the CIFAR retraining recipe (the ImageNet
recipe for names ending in ``_imagenet``).

``import nascore`` does not import timm (it is slow to import): the models are registered the
moment timm is imported, or at once if it already was.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import re
import sys
import warnings
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from torch import nn

NETWORK_MODEL = "nascore_network"
#: Pretrained configs of the registered models, read by ``timm.models.register_model``.
default_cfgs: dict[str, dict[str, Any]] = {}
_registered = False


def create_network(
    arch: Mapping[str, Any],
    num_classes: int = 10,
    in_chans: int = 3,
    image_size: int = 32,
    space_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> nn.Module:
    """The network of ``arch`` (an ``Architecture.to_dict()``) built by its space.

    ``options`` go to ``build_network`` (``channels``, ``layers``, ``variant``, ...);
    ``space_options`` configure the space as in its search run.
    """
    from nascore.architecture import Architecture
    from nascore.plugins import make_space
    from nascore.space import DataInfo
    from nascore.train.network import build_network

    architecture = Architecture.from_dict(arch)
    info = DataInfo(in_chans, image_size, num_classes)
    space = make_space(architecture.space, space_options, info)
    request = {**options, "num_classes": num_classes, "in_channels": in_chans}
    network, _ = build_network(space, space.validate(architecture), request, quiet=True)
    network.num_classes = num_classes
    network.in_chans = in_chans
    return network


def _entry(model_name: str, defaults: Mapping[str, Any]) -> Any:
    def entry(pretrained: bool = False, **kwargs: Any) -> nn.Module:
        from timm.models import build_model_with_cfg

        from nascore.errors import MalformedArchitecture

        args = {**defaults, **kwargs}
        if "arch" not in args:
            raise MalformedArchitecture(
                f"{model_name} needs arch=Architecture.to_dict(); load an exported folder with "
                "timm.create_model('local-dir:FOLDER', pretrained=True)"
            )
        return build_model_with_cfg(create_network, model_name, pretrained, **args)

    entry.__name__ = entry.__qualname__ = model_name
    entry.__module__ = __name__
    entry.__doc__ = f"timm entry point of the nascore model {model_name}."
    return entry


def _zoo_model(name: str, arch: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    from nascore.architecture import Architecture
    from nascore.data import normalization
    from nascore.train.recipe import TrainConfig, recipe_defaults

    imagenet = name.endswith("_imagenet")
    dataset = "imagefolder" if imagenet else "cifar10"
    recipe = TrainConfig(**recipe_defaults(dataset))
    size = 224 if imagenet else 32
    arch = arch if isinstance(arch, Architecture) else Architecture.from_dict(arch)
    defaults: dict[str, Any] = {
        "arch": arch.to_dict(), "channels": recipe.channels, "layers": recipe.layers,
        "image_size": size,
    }
    if imagenet:
        defaults["variant"] = recipe.variant
    mean, std = normalization(dataset)
    cfg = {
        "input_size": (3, size, size), "mean": mean, "std": std,
        "num_classes": 1000 if imagenet else 10, "crop_pct": 0.875 if imagenet else 1.0,
        "description": f"nascore published architecture {name} (space {arch.space}), untrained",
    }
    return "nascore_" + re.sub(r"\W", "_", name), defaults, cfg


def register() -> None:
    """Register ``nascore_network`` and the published architectures with timm (idempotent)."""
    global _registered
    if _registered:
        return
    _registered = True
    from timm.models import register_model

    from nascore.plugins import registry

    models = [(NETWORK_MODEL, {}, {"input_size": (3, 32, 32), "num_classes": 10,
                                   "description": "any nascore architecture (pass arch=...)"})]
    reg = registry()
    models += [_zoo_model(name, reg.get("architecture", name))
               for name in reg.names("architecture")]
    for model_name, defaults, cfg in models:
        default_cfgs[model_name] = cfg
        register_model(_entry(model_name, defaults))


def _register_safely() -> None:
    try:
        register()
    except Exception as exc:  # never break `import timm` for its other users
        warnings.warn(f"nascore could not register its timm models: {exc}", stacklevel=2)


class _RegisteringLoader(importlib.abc.Loader):
    """Loads ``timm`` with its own loader, then registers the nascore models."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: Any) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        _register_safely()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _TimmImportHook(importlib.abc.MetaPathFinder):
    """Finds ``timm`` once (through the other finders) and wraps its loader."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != "timm":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("timm")
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


def install() -> None:
    """Register now if timm is imported, else as soon as it is."""
    if "timm" in sys.modules:
        _register_safely()
    elif not any(isinstance(f, _TimmImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _TimmImportHook())


install()
