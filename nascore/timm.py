"""nascore networks as timm models. ``import nascore.timm`` registers them with timm.

The one line a user needs before loading an exported network (``import nascore`` alone does not
import timm, which is slow to import, and registers nothing)::

    import nascore.timm
    model = timm.create_model("local-dir:exported/e1", pretrained=True)   # or "hf-hub:user/repo"

Registered models:

* ``nascore_network``: the network of any architecture of any space with the ``network``
  capability (``arch=Architecture.to_dict()``, ``space_options``, ``channels``, ``layers``,
  ``variant``, ...). Exported folders name it and carry its arguments in ``config.json``.
* ``nascore_<name>`` for every published architecture a plugin registers (e.g.
  ``nascore_darts_v2``): untrained, sized by the CIFAR retraining recipe (the ImageNet recipe for
  names ending in ``_imagenet``).

The DARTS and NAS-Bench-201 networks are complete timm models: ``num_features``,
``forward_features``, ``forward_head``, ``reset_classifier``, ``feature_info`` and
``features_only=True`` (forward hooks on the modules ``feature_info`` names), a
``pretrained_cfg`` with input size, normalisation and the classifier and first-convolution
names, and ``timm.models.save_for_hf`` / ``push_to_hf_hub`` write folders that load again.
``drop_path_rate`` sets the network's drop path probability. Networks of spaces without timm's
model API (a plugin's plain ``nn.Module`` classifier) get the parts that can be derived from
their final linear classifier (:mod:`nascore.exporters.timm_api`; no ``feature_info``, so no
``features_only``), or are refused with one line naming what is missing.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any

import torch
from timm.models import (
    FeatureHookNet,
    build_model_with_cfg,
    register_model,
    resolve_pretrained_cfg,
)
from torch import nn

from nascore.architecture import Architecture
from nascore.errors import ConfigError, MalformedArchitecture, UsageError
from nascore.exporters.timm_api import with_timm_api
from nascore.nn.head import check_global_pool
from nascore.plugins import make_space, registry
from nascore.space import DataInfo
from nascore.training.network import AUXILIARY_PREFIX, build_network

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
    drop_rate: float = 0.0,
    drop_path_rate: float | None = None,
    global_pool: str | None = None,
    **options: Any,
) -> nn.Module:
    """The network of ``arch`` (an ``Architecture.to_dict()``) built by its space.

    ``options`` go to the space's ``build_network`` (``channels``, ``layers``, ``variant``, ...);
    ``space_options`` configure the space as in its search run. ``drop_rate`` (classifier dropout)
    must stay 0: the networks have none.
    """
    check_global_pool(global_pool)
    if drop_rate:
        raise ConfigError(f"drop_rate={drop_rate}: nascore networks have no classifier dropout; "
                          "leave it at 0 (drop_path_rate sets drop path)")
    architecture = Architecture.from_dict(arch)
    space = make_space(architecture.space, space_options, DataInfo(in_chans, image_size,
                                                                   num_classes))
    request = {**options, "num_classes": num_classes, "in_channels": in_chans}
    network, _ = build_network(space, space.validate(architecture), request, quiet=True)
    if drop_path_rate is not None:
        if not hasattr(network, "drop_path_prob"):
            raise ConfigError(f"space '{space.name}' networks have no drop path; "
                              "leave drop_path_rate unset")
        network.drop_path_prob = drop_path_rate
    for name, value in (("num_classes", num_classes), ("in_chans", in_chans)):
        if not hasattr(network, name):
            setattr(network, name, value)
    return with_timm_api(network, num_classes, space.name)


def modules_shaped_by(
    build: Callable[..., nn.Module], kwargs: Mapping[str, Any], **change: int
) -> list[str]:
    """Modules whose parameter shapes change with a build argument (e.g. ``num_classes``), found
    by building both networks on the meta device (no memory, no initialisation)."""
    with torch.device("meta"):
        reference = build(**kwargs).state_dict()
        other = build(**{**kwargs, **change}).state_dict()
    return sorted({
        key.rsplit(".", 1)[0]
        for key, value in other.items()
        if key in reference and reference[key].shape != value.shape
        and not key.startswith(AUXILIARY_PREFIX)
    })


def head_and_stem(
    build: Callable[..., nn.Module], kwargs: Mapping[str, Any]
) -> dict[str, str | list[str] | None]:
    """``pretrained_cfg``'s ``classifier`` and ``first_conv`` for the network ``build(**kwargs)``
    makes: the modules timm re-initialises for another ``num_classes`` and adapts for another
    ``in_chans``."""
    names = {
        "classifier": modules_shaped_by(build, kwargs, num_classes=kwargs["num_classes"] + 1),
        "first_conv": modules_shaped_by(build, kwargs, in_chans=kwargs["in_chans"] + 1),
    }
    return {key: value[0] if len(value) == 1 else (value or None) for key, value in names.items()}


class NascoreFeatures(FeatureHookNet):
    """timm's ``features_only`` wrapper for nascore networks: forward hooks on the modules listed
    in ``feature_info``; every listed feature map unless ``out_indices`` picks some."""

    def __init__(self, model: nn.Module, out_indices: Any = None, **kwargs: Any) -> None:
        if not hasattr(model, "feature_info"):
            raise UsageError(f"{type(model).__name__} has no feature_info, so features_only is "
                             "not available for this space's networks")
        if out_indices is None:
            out_indices = tuple(range(len(model.feature_info)))
        super().__init__(model, out_indices=out_indices, **kwargs)


#: Arguments of ``timm.create_model`` that are not the network's own.
_TIMM_ARGUMENTS = frozenset(inspect.signature(build_model_with_cfg).parameters) | {
    "features_only", "out_indices", "feature_cls", "pruned"}


def _missing_cfg_names(model_name: str, build: Callable[..., nn.Module], args: Mapping[str, Any],
                       overlay: Mapping[str, Any]) -> dict[str, Any]:
    """The classifier and first-conv names the resolved pretrained config lacks."""
    cfg = resolve_pretrained_cfg(model_name, args.get("pretrained_cfg"), dict(overlay))
    missing = [key for key in ("classifier", "first_conv") if getattr(cfg, key) is None]
    if not missing:
        return {}
    kwargs = {k: v for k, v in args.items() if k not in _TIMM_ARGUMENTS}
    kwargs.setdefault("num_classes", cfg.num_classes)
    kwargs.setdefault("in_chans", cfg.input_size[0])
    names = head_and_stem(build, kwargs)
    return {key: names[key] for key in missing}


def _entry(model_name: str, defaults: Mapping[str, Any]) -> Any:
    def entry(pretrained: bool = False, **kwargs: Any) -> nn.Module:
        args = {**defaults, **kwargs}
        if "arch" not in args:
            raise MalformedArchitecture(
                f"{model_name} needs arch=Architecture.to_dict(); load an exported folder with "
                "timm.create_model('local-dir:FOLDER', pretrained=True)"
            )
        # ``variant`` is also build_model_with_cfg's own argument (the timm model name)
        variant = args.pop("variant", None)
        build = create_network if variant is None else functools.partial(create_network,
                                                                          variant=variant)
        overlay = dict(args.pop("pretrained_cfg_overlay", None) or {})
        overlay.update(_missing_cfg_names(model_name, build, args, overlay))
        feature_cfg = {} if "feature_cls" in args else {"feature_cls": NascoreFeatures,
                                                        "out_indices": None}
        model = build_model_with_cfg(build, model_name, pretrained, pretrained_cfg_overlay=overlay,
                                     feature_cfg=feature_cfg, **args)
        # what a saved copy needs to rebuild it; timm.create_model adds the caller's arguments
        model._model_args = dict(defaults)
        return model

    entry.__name__ = entry.__qualname__ = model_name
    entry.__module__ = __name__
    entry.__doc__ = f"timm entry point of the nascore model {model_name}."
    return entry


def _zoo_model(name: str, arch: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    from nascore.data import normalization
    from nascore.training.recipe import TrainConfig, recipe_defaults

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
        "interpolation": "bilinear",
        "description": f"nascore published architecture {name} (space {arch.space}), untrained",
    }
    return "nascore_" + re.sub(r"\W", "_", name), defaults, cfg


def register() -> None:
    """Register ``nascore_network`` and the published architectures with timm (idempotent;
    importing this module calls it)."""
    global _registered
    if _registered:
        return
    from nascore.data import normalization

    mean, std = normalization("cifar10")
    models = [(NETWORK_MODEL, {}, {
        "input_size": (3, 32, 32), "num_classes": 10, "mean": mean, "std": std, "crop_pct": 1.0,
        "interpolation": "bilinear", "description": "any nascore architecture (pass arch=...)",
    })]
    reg = registry()
    models += [_zoo_model(name, reg.get("architecture", name))
               for name in reg.names("architecture")]
    for model_name, defaults, cfg in models:
        default_cfgs[model_name] = cfg
        register_model(_entry(model_name, defaults))
    _registered = True


register()
