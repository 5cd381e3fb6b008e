"""Build registered components by name from config mappings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nascore.config import build_config, config_to_dict
from nascore.plugins import registry
from nascore.space import DataInfo, SearchSpace


def component_class(kind: str, name: str) -> type:
    """The registered class of ``kind`` named ``name`` (clear error listing the others)."""
    return registry().get(kind, name)


def make_space(name: str, options: Mapping[str, Any] | None, info: DataInfo) -> SearchSpace:
    """Instantiate the space ``name`` with config ``options`` for data described by ``info``."""
    cls = component_class("space", name)
    return cls(build_config(cls.config_cls, options or {}, "space"), info)


def default_config(kind: str, name: str) -> dict[str, Any]:
    """The default config of a component as a plain dict."""
    cls = component_class(kind, name)
    return config_to_dict(build_config(cls.config_cls, {}))
