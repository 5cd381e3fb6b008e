"""Plugin discovery (entry points, group ``nascore.plugins``), the component registry and
building registered components by name."""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from nascore import hookspecs
from nascore.errors import UnknownNameError, UsageError

if TYPE_CHECKING:
    from nascore.space import DataInfo, SearchSpace

ENTRY_POINT_GROUP = "nascore.plugins"
#: Entry-point name of the core's own components (:mod:`nascore.builtins`).
BUILTIN = "builtin"
#: Entry-point group of plugin commands (``NAME = "module:command"``): ``nas --help`` lists them
#: without importing the plugins' modules (see :mod:`nascore.cli.lazy`).
COMMAND_ENTRY_POINT_GROUP = "nascore.commands"
#: Version of the plugin contract (:mod:`nascore.hookspecs`). Plugins set ``NASCORE_PLUGIN_API``.
PLUGIN_API_VERSION = 1
#: Plugin API versions that still load (older ones with a note in ``nas plugins``).
SUPPORTED_PLUGIN_APIS: tuple[int, ...] = (1,)

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
    #: The plugin API version the module declares (``NASCORE_PLUGIN_API``).
    api: Any = None
    #: Shown by ``nas plugins`` for a plugin that loaded, e.g. an older but supported API.
    note: str | None = None


class _Kinds(Mapping[str, dict[str, Any]]):
    """``registry.components[kind]``: each kind's hooks are called the first time it is read."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def __getitem__(self, kind: str) -> dict[str, Any]:
        return self._registry.kind(kind)

    def __iter__(self) -> Iterator[str]:
        return iter(HOOKS)

    def __len__(self) -> int:
        return len(HOOKS)


class Registry:
    """Name -> component for every kind, filled from the plugins' hooks.

    Plugin modules are loaded (and checked) when the registry is made; a kind's hooks are
    called the first time that kind is asked for, so listing commands does not import the
    modules behind strategies and spaces (plugin modules import their components inside their
    hook functions). A plugin whose hook fails, or that claims a name another plugin holds, is
    recorded with its error and its components are withdrawn; the others keep working. A
    plugin may claim a name of the core's own (``builtin``) components: its component replaces
    the core's, noted under ``builtin`` in ``nas plugins`` (a plugin written before the core
    had that name keeps working as it did).
    """

    def __init__(self, pm: pluggy.PluginManager | None = None) -> None:
        self.pm = pm or _plugin_manager()
        self.plugins: list[PluginRecord] = []
        self.owners: dict[tuple[str, str], str] = {}
        #: The core's components that plugins replaced, by ``(kind, name)``.
        self.replaced: dict[tuple[str, str], Any] = {}
        self._kinds: dict[str, dict[str, Any]] = {}
        self.components: Mapping[str, dict[str, Any]] = _Kinds(self)

    def kind(self, kind: str) -> dict[str, Any]:
        """Name -> component of one kind (calling that kind's hooks on first use)."""
        if kind not in self._kinds:
            self._kinds[kind] = {}
            for record in self.plugins:
                if record.error is None:
                    self._collect(kind, record)
        return self._kinds[kind]

    def collect_all(self) -> None:
        """Call every kind's hooks (for ``nas plugins``)."""
        for kind in HOOKS:
            self.kind(kind)

    def _collect(self, kind: str, record: PluginRecord) -> None:
        hook_name, as_dict = HOOKS[kind]
        try:
            staged: list[tuple[str, Any]] = []
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                if impl.plugin_name != record.name:
                    continue
                provided = impl.function()
                staged += list(provided.items()) if as_dict else [(c.name, c) for c in provided]
            for name, _component in staged:
                if name in self._kinds[kind] and self.owners[(kind, name)] != BUILTIN:
                    raise UsageError(
                        f"{kind} '{name}' is provided by both plugin "
                        f"'{self.owners[(kind, name)]}' and plugin '{record.name}'; "
                        "uninstall one of them"
                    )
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a broken plugin (even sys.exit()) must not stop the others
            self._withdraw(record, exc)
            return
        for name, component in staged:
            if self.owners.get((kind, name)) == BUILTIN:
                self._replace_builtin(kind, name, record.name)
            self._kinds[kind][name] = component
            self.owners[(kind, name)] = record.name
            record.provides.setdefault(kind, []).append(name)

    def _builtin(self) -> PluginRecord | None:
        return next((r for r in self.plugins if r.name == BUILTIN), None)

    def _replace_builtin(self, kind: str, name: str, plugin: str) -> None:
        """Let ``plugin``'s ``name`` replace the core's (kept to restore, noted in ``nas
        plugins``)."""
        self.replaced[(kind, name)] = self._kinds[kind][name]
        builtin = self._builtin()
        if builtin is not None:
            builtin.provides[kind].remove(name)
            note = f"{kind} {name} is plugin {plugin}'s (it replaces the core's)"
            builtin.note = f"{builtin.note}; {note}" if builtin.note else note

    def _withdraw(self, record: PluginRecord, exc: BaseException | str) -> None:
        record.error = exc if isinstance(exc, str) else _describe(exc)
        for kind, names in record.provides.items():
            for name in names:
                self._kinds[kind].pop(name, None)
                self.owners.pop((kind, name), None)
                if (kind, name) in self.replaced:  # the core's component is back
                    self._kinds[kind][name] = self.replaced.pop((kind, name))
                    self.owners[(kind, name)] = BUILTIN
                    builtin = self._builtin()
                    if builtin is not None:
                        builtin.provides[kind].append(name)
                        notes = [n for n in (builtin.note or "").split("; ")
                                 if n and not n.startswith(f"{kind} {name} is plugin ")]
                        builtin.note = "; ".join(notes) or None
        record.provides.clear()
        if self.pm.has_plugin(record.name):
            self.pm.unregister(name=record.name)

    def add(self, kind: str, name: str, component: Any, owner: str) -> None:
        """Register ``component`` under ``name`` directly (tests, embedding applications)."""
        if name in self.kind(kind):
            raise UsageError(
                f"{kind} '{name}' is provided by both plugin '{self.owners[(kind, name)]}' and "
                f"plugin '{owner}'; uninstall one of them"
            )
        self._kinds[kind][name] = component
        self.owners[(kind, name)] = owner

    def get(self, kind: str, name: str) -> Any:
        """The component, or :class:`UnknownNameError` listing the available names. A space
        named by a module spec (``module:path/to/file.py:factory``) is read from that model
        (:mod:`nascore.model_space`)."""
        if kind == "space" and name.startswith("module:"):
            from nascore.model_space import space_class

            return space_class(name)
        try:
            return self.kind(kind)[name]
        except KeyError:
            raise UnknownNameError(kind, name, list(self.kind(kind))) from None

    def names(self, kind: str) -> list[str]:
        """Sorted registered names of one kind."""
        return sorted(self.kind(kind))


def _plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def _describe(exc: BaseException) -> str:
    """One line naming an exception (``SystemExit: 3``, ``ImportError: ...``)."""
    text = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    return text.splitlines()[0]


def check_api(api: Any) -> tuple[str | None, str | None]:
    """``(refusal, note)`` for a plugin declaring ``NASCORE_PLUGIN_API = api``: a refusal when
    nascore does not support that version, a note when it is older but still supported."""
    supported = ", ".join(map(str, SUPPORTED_PLUGIN_APIS))
    if api not in SUPPORTED_PLUGIN_APIS:
        newer = isinstance(api, int) and api > PLUGIN_API_VERSION
        fix = "upgrade nascore" if newer else "upgrade the plugin (or install an older nascore)"
        declared = "no NASCORE_PLUGIN_API" if api is None else f"plugin API {api!r}"
        return (f"refused: it declares {declared}, but nascore supports plugin API {supported} "
                f"only; {fix}"), None
    if api != PLUGIN_API_VERSION:
        return None, (f"written for plugin API {api}; nascore speaks {PLUGIN_API_VERSION} and "
                      f"still supports {api}")
    return None, None


def discover(entry_points: list[md.EntryPoint] | None = None) -> Registry:
    """Load every ``nascore.plugins`` entry point into one plugin manager; a plugin that fails
    to import (whatever it raises, ``SystemExit`` included) or declares an unsupported plugin
    API is recorded with its error and skipped."""
    registry = Registry()
    eps = entry_points if entry_points is not None else md.entry_points(group=ENTRY_POINT_GROUP)
    for ep in sorted(eps, key=lambda e: (e.name != BUILTIN, e.name)):
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
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a broken plugin (even sys.exit()) must not stop the others
            registry._withdraw(record, exc)
            continue
        record.api = getattr(module, "NASCORE_PLUGIN_API", None)
        refusal, record.note = check_api(record.api)
        if refusal is not None:
            registry._withdraw(record, refusal)
            continue
        try:
            registry.pm.register(module, name=record.name)
        except Exception as exc:  # e.g. a hook pluggy does not know
            registry._withdraw(record, exc)
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
