"""Plugin discovery (entry points, group ``nascore.plugins``), the component registry and
building registered components by name."""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from nascore import hookspecs
from nascore.errors import UnknownNameError, UsageError

if TYPE_CHECKING:
    from nascore.space import DataInfo, SearchSpace

ENTRY_POINT_GROUP = "nascore.plugins"
#: Version of the plugin contract (:mod:`nascore.hookspecs`). Plugins set ``NASCORE_PLUGIN_API``.
PLUGIN_API_VERSION = 1



#: kind -> (hook name, whether the hook returns a ``{name: component}`` dict; else a list of
#: classes or commands named by their ``name`` attribute).
HOOKS: dict[str, tuple[str, bool]] = {
    "space": ("nascore_spaces", False),
    "strategy": ("nascore_strategies", False),
    "estimator": ("nascore_estimators", False),
    "constraint": ("nascore_constraints", False),
    "part": ("nascore_parts", False),
    "constraint_handler": ("nascore_constraint_handlers", False),
    "command": ("nascore_commands", False),
    "budget": ("nascore_budgets", True),
    "architecture": ("nascore_architectures", True),
    "export_format": ("nascore_export_formats", True),
}


@attrs.define
class PluginRecord:
    """One discovered plugin: where it came from, its version, what it provides or its error."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    provides: dict[str, list[str]] = attrs.field(factory=dict)
    error: str | None = None


@attrs.define
class Registry:
    """Name -> component for every kind, filled from all plugins' hooks."""

    components: dict[str, dict[str, Any]] = attrs.field(
        factory=lambda: {kind: {} for kind in HOOKS}
    )
    owners: dict[tuple[str, str], str] = attrs.field(factory=dict)
    plugins: list[PluginRecord] = attrs.field(factory=list)

    def add(self, kind: str, name: str, component: Any, owner: str) -> None:
        """Register ``component`` under ``name``; two plugins may not claim the same name."""
        if name in self.components[kind]:
            raise UsageError(
                f"{kind} '{name}' is provided by both plugin '{self.owners[(kind, name)]}' and "
                f"plugin '{owner}'; uninstall one of them"
            )
        self.components[kind][name] = component
        self.owners[(kind, name)] = owner

    def get(self, kind: str, name: str) -> Any:
        """The component, or :class:`UnknownNameError` listing the available names."""
        try:
            return self.components[kind][name]
        except KeyError:
            raise UnknownNameError(kind, name, list(self.components[kind])) from None

    def names(self, kind: str) -> list[str]:
        """Sorted registered names of one kind."""
        return sorted(self.components[kind])


def _provided(pm: pluggy.PluginManager, plugin: str) -> list[tuple[str, str, Any]]:
    """``(kind, name, component)`` of everything the registered plugin ``plugin`` provides."""
    staged: list[tuple[str, str, Any]] = []
    for kind, (hook_name, as_dict) in HOOKS.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name != plugin:
                continue
            provided = impl.function()
            if as_dict:
                staged.extend((kind, n, c) for n, c in provided.items())
            else:
                staged.extend((kind, c.name, c) for c in provided)
    return staged


def discover(entry_points: list[md.EntryPoint] | None = None) -> Registry:
    """Load every ``nascore.plugins`` entry point into one plugin manager; a plugin that fails
    to import or to register is recorded with its error and skipped, the others keep working."""
    registry = Registry()
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    eps = entry_points if entry_points is not None else md.entry_points(group=ENTRY_POINT_GROUP)
    for ep in sorted(eps, key=lambda e: (e.name != "builtin", e.name)):
        dist = getattr(ep, "dist", None)
        record = PluginRecord(
            name=ep.name,
            module=ep.value,
            distribution=dist.name if dist else None,
            version=dist.version if dist else None,
        )
        registry.plugins.append(record)
        try:
            module = ep.load()
            api = getattr(module, "NASCORE_PLUGIN_API", None)
            if api != PLUGIN_API_VERSION:
                raise UsageError(
                    f"plugin API {api!r} is not supported (nascore speaks {PLUGIN_API_VERSION}); "
                    "upgrade the plugin or nascore"
                )
            pm.register(module, name=record.name)
            staged = _provided(pm, record.name)
            for kind, name, _component in staged:
                if name in registry.components[kind]:
                    raise UsageError(
                        f"{kind} '{name}' is provided by both plugin "
                        f"'{registry.owners[(kind, name)]}' and plugin '{record.name}'; "
                        "uninstall one of them"
                    )
            for kind, name, component in staged:
                registry.add(kind, name, component, record.name)
                record.provides.setdefault(kind, []).append(name)
        except Exception as exc:  # a broken plugin must not take the others down
            record.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            record.provides.clear()
            if pm.has_plugin(record.name):
                pm.unregister(name=record.name)
    return registry


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """The process-wide registry (discovered on first use)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = discover()
    return _REGISTRY


def reset_registry() -> None:
    """Forget the cached registry (after installing a plugin in-process)."""
    global _REGISTRY
    _REGISTRY = None


def make_space(name: str, options: Mapping[str, Any] | None, info: DataInfo) -> SearchSpace:
    """Instantiate the registered space ``name`` with config ``options`` for data ``info``."""
    from nascore.config import build_config

    cls = registry().get("space", name)
    return cls(build_config(cls.config_cls, options or {}, "space"), info)
