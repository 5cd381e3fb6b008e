"""The declared public API for plugins and its snapshot, ``nascore/public_api.json``.

The snapshot records, per documented module (:data:`MODULES`), every public name with the
signature of each public callable and of each public method of each public class, the moved
names that still work as deprecated aliases, and the instance attributes the base classes
document (:data:`DOCUMENTED_ATTRIBUTES`). ``tests/test_public_api.py`` compares it with the code.

    python -m nascore.public_api            # compare; one line per difference, exit 1 if any
    python -m nascore.public_api --write    # refresh the snapshot after adding names

A public name of a module is one in its ``__all__``, or, without ``__all__``, one it defines
(``def``, ``class`` or assignment, not an import) whose name does not start with ``_``.

Adding names or optional parameters only needs ``--write`` (an optional parameter of a method
of a class plugins subclass, :data:`BASES`, is reported with a reminder: overrides written
without it must keep working, so the core must not pass it to them). Removing or renaming a
name, or changing a signature otherwise, breaks plugins: keep a deprecated alias instead
(:mod:`nascore.deprecated`). If a break is meant, raise ``PLUGIN_API_VERSION``, name the removed
or changed names in CHANGELOG.md and run ``--write``: it refuses otherwise, and records the
break in the snapshot's ``"breaks"``.

This module imports only the standard library (it imports the documented modules when asked to
collect them).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import pkgutil
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

SNAPSHOT = Path(__file__).with_name("public_api.json")
REFRESH = "python -m nascore.public_api --write"

#: Documented modules (``docs/writing-a-plugin.md``); a trailing ``.*`` adds every submodule.
MODULES = (
    "nascore",
    "nascore.space",
    "nascore.strategy",
    "nascore.oneshot",
    "nascore.strategies.*",
    "nascore.spaces.*",
    "nascore.nn.*",
    "nascore.config",
    "nascore.costs",
    "nascore.extra_loss",
    "nascore.hookspecs",
    "nascore.exporters.formats",
    "nascore.exporters.trained",
    "nascore.compare",
)

#: Classes plugins subclass: any change to a signature of theirs breaks an override.
BASES = (
    "nascore.space.SearchSpace",
    "nascore.space.Supernet",
    "nascore.strategy.Strategy",
    "nascore.strategies.discrete.DiscreteStrategy",
    "nascore.oneshot.loop.OneShotStrategy",
    "nascore.oneshot.part.Part",
    "nascore.oneshot.constraints.ConstraintHandler",
    "nascore.oneshot.policy.SamplingPolicy",
    "nascore.estimator.Estimator",
    "nascore.constraint.Constraint",
    "nascore.exporters.formats.Exporter",
)

#: Instance attributes each base documents (everything else a base keeps on its instances is
#: named ``_nascore...`` so that a subclass cannot clobber it by choosing an ordinary name).
DOCUMENTED_ATTRIBUTES: Mapping[str, tuple[str, ...]] = {
    "nascore.space.SearchSpace": ("config", "data"),
    "nascore.strategy.Strategy": ("config", "context"),
    "nascore.strategies.discrete.DiscreteStrategy": (
        "best", "config", "context", "history", "rng", "space",
    ),
    "nascore.oneshot.loop.OneShotStrategy": (
        "augment_generator", "config", "context", "device", "edge_norm", "epoch", "forward_net",
        "generator", "groups", "hyper", "loop_epochs", "memory_format", "params", "parts",
        "policy", "replicas", "supernet", "weights_optimizer", "weights_scheduler",
    ),
    "nascore.oneshot.part.Part": ("search",),
    "nascore.oneshot.constraints.ConstraintHandler": ("costs", "repair", "search"),
    "nascore.oneshot.policy.SamplingPolicy": ("config", "epochs", "generator"),
    "nascore.estimator.Estimator": ("config", "context"),
    "nascore.constraint.Constraint": ("high", "low"),
    "nascore.exporters.formats.Exporter": (),
}


# -- collecting ---------------------------------------------------------------------------------
def module_names(patterns: Iterable[str] = MODULES) -> list[str]:
    """The documented modules, wildcards expanded to every non-private submodule."""
    found: list[str] = []
    for pattern in patterns:
        name = pattern.removesuffix(".*")
        found.append(name)
        if pattern.endswith(".*"):
            package = importlib.import_module(name)
            found += [m.name for m in pkgutil.walk_packages(package.__path__, f"{name}.")
                      if not any(part.startswith("_") for part in m.name.split("."))]
    return sorted(set(found))


def _defined_names(module: ModuleType) -> list[str]:
    """Names a module defines at top level (not imports), from its source."""
    source = inspect.getsource(module)
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def public_names(module: ModuleType) -> list[str]:
    """``__all__``, or the names the module defines that do not start with ``_``."""
    declared = getattr(module, "__all__", None)
    names = declared if declared is not None else _defined_names(module)
    return sorted({n for n in names if not n.startswith("_") or n == "__version__"})


def signature(obj: Any, by_keyword: bool = False) -> str | None:
    """Parameter names, kinds and which have defaults: ``(a, /, b, *args, c=..., **kw)``
    (``by_keyword``: every parameter as keyword-only, the promise for settings classes)."""
    try:
        params = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return None
    kinds = inspect.Parameter
    if by_keyword:
        params = [p.replace(kind=kinds.KEYWORD_ONLY) for p in params]
    out: list[str] = []
    for i, p in enumerate(params):
        if p.kind is kinds.KEYWORD_ONLY and (i == 0 or params[i - 1].kind not in (
                kinds.KEYWORD_ONLY, kinds.VAR_POSITIONAL)):
            out.append("*")
        text = {kinds.VAR_POSITIONAL: "*", kinds.VAR_KEYWORD: "**"}.get(p.kind, "") + p.name
        out.append(text + ("=..." if p.default is not p.empty else ""))
        if p.kind is kinds.POSITIONAL_ONLY and (
                i + 1 == len(params) or params[i + 1].kind is not kinds.POSITIONAL_ONLY):
            out.append("/")
    return f"({', '.join(out)})"


def qualified(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _members(cls: type) -> dict[str, str]:
    """The class's own public members: methods by signature, properties, attributes (an attrs
    class's generated ``__init__`` is the class's signature)."""
    members: dict[str, str] = {}
    special = ("__call__",) if _is_attrs(cls) else ("__init__", "__call__")
    for name, raw in vars(cls).items():
        if name.startswith("_") and name not in special:
            continue
        if isinstance(raw, property):
            members[name] = "property"
        elif isinstance(raw, (staticmethod, classmethod)) or inspect.isfunction(raw):
            kind = {staticmethod: "staticmethod ", classmethod: "classmethod "}.get(type(raw), "")
            members[name] = f"{kind}{signature(getattr(cls, name))}"
        elif not name.startswith("_"):
            members[name] = "attribute"
    return dict(sorted(members.items()))


def _is_attrs(cls: type) -> bool:
    return hasattr(cls, "__attrs_attrs__")


def _is_settings(cls: type) -> bool:
    """An attrs class every field of which has a default (a config): built by keyword."""
    import attrs

    return _is_attrs(cls) and all(f.default is not attrs.NOTHING
                                  for f in attrs.fields(cls) if f.init)


def _entry(obj: Any) -> tuple[str, dict[str, Any] | None]:
    """A name's descriptor and, for classes and functions, the record of the object. Settings
    classes (attrs classes with a default for every field, such as configs) are promised to be
    built by keyword, so their fields may be reordered."""
    if inspect.isclass(obj):
        bases = [qualified(b) for b in obj.__mro__[1:] if b.__module__.startswith("nascore")]
        return qualified(obj), {"kind": "class", "signature": signature(obj, _is_settings(obj)),
                                "bases": bases, "members": _members(obj)}
    if inspect.isfunction(obj) or inspect.isbuiltin(obj):
        return qualified(obj), {"kind": "function", "signature": signature(obj)}
    if isinstance(obj, ModuleType):
        return f"module {obj.__name__}", None
    if type(obj).__module__ in ("typing", "types", "collections.abc", "_collections_abc"):
        return "value: type alias", None
    return f"value: {type(obj).__name__}", None


def collect(modules: Iterable[str] | None = None) -> dict[str, Any]:
    """The public API of the code as it is now (snapshot without the version fields)."""
    from nascore.deprecated import Replacement

    names: dict[str, dict[str, str]] = {}
    objects: dict[str, dict[str, Any]] = {}
    deprecated: dict[str, dict[str, str]] = {}
    for module_name in module_names() if modules is None else modules:
        module = importlib.import_module(module_name)
        names[module_name] = {}
        for name in public_names(module):
            try:
                value = getattr(module, name)
            except AttributeError:  # declared (``__all__``, lazy exports) but gone: removed
                continue
            key, record = _entry(value)
            names[module_name][name] = key
            if record is not None:
                objects[key] = record
        moved = getattr(getattr(module, "__getattr__", None), "moved_names", {})
        if moved:
            deprecated[module_name] = {
                old: target.where if isinstance(target, Replacement) else target.replace(":", ".")
                for old, target in sorted(moved.items())
            }
    return {"modules": names, "objects": dict(sorted(objects.items())), "deprecated": deprecated,
            "documented_attributes": {k: list(v) for k, v in DOCUMENTED_ATTRIBUTES.items()}}


# -- comparing ----------------------------------------------------------------------------------
def _parse(text: str) -> list[tuple[str, str, bool]]:
    """``(name, kind, has_default)`` of a :func:`signature` string; kind is ``positional``,
    ``keyword``, ``*`` or ``**``."""
    params, kind = [], "positional"
    for token in filter(None, text.strip("()").split(", ")):
        if token == "/":
            continue
        if token == "*":
            kind = "keyword"
        elif token.startswith("**"):
            params.append((token[2:], "**", False))
        elif token.startswith("*"):
            params.append((token[1:], "*", False))
            kind = "keyword"
        else:
            params.append((token.removesuffix("=..."), kind, token.endswith("=...")))
    return params


def extends(old: str, new: str) -> bool:
    """Whether every call valid for signature ``old`` is valid for ``new`` (new parameters are
    optional, none renamed, reordered or made required)."""
    before, after = _parse(old), _parse(new)
    positional = [p for p in before if p[1] == "positional"]
    if [p[0] for p in after[: len(positional)]] != [p[0] for p in positional]:
        return False
    now = {p[0]: p for p in after}
    for name, kind, default in before:
        match = now.get(name)
        if match is None or (default and not match[2]):
            return False
        if (kind == "keyword" and match[1] not in ("keyword", "positional")) or (
                kind == "positional" and match[1] != "positional"):
            return False
        if kind in ("*", "**") and match[1] != kind:
            return False
    old_names = {p[0] for p in before}
    return all(p[2] or p[1] in ("*", "**") for p in after if p[0] not in old_names)


class _Comparison:
    """Differences between snapshot ``old`` and code ``new``, one line each."""

    def __init__(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        self.old, self.new = old, new
        self.breaks: list[str] = []
        self.additions: list[str] = []
        self.fix = (f"restore it or keep a deprecated alias (nascore.deprecated.moved); to break "
                    f"plugins on purpose raise PLUGIN_API_VERSION, say so in CHANGELOG.md and "
                    f"run `{REFRESH}`")

    def broke(self, where: str, what: str) -> None:
        self.breaks.append(f"{where}: {what}; {self.fix}")

    def added(self, where: str, what: str) -> None:
        self.additions.append(f"{where}: {what}; run `{REFRESH}`")

    def run(self) -> None:
        for module, names in self.old["modules"].items():
            current = self.new["modules"].get(module)
            if current is None:
                self.broke(module, "documented module removed")
                continue
            for name, key in names.items():
                self.name(f"{module}.{name}", key, current.get(name))
            for name in current.keys() - names.keys():
                self.added(f"{module}.{name}", "new public name")
        for module in self.new["modules"].keys() - self.old["modules"].keys():
            self.added(module, "new documented module")
        for key, record in self.old["objects"].items():
            if key in self.new["objects"]:
                self.record(key, key, record, self.new["objects"][key], report_additions=True)
        self.aliases()
        self.attributes()

    def name(self, where: str, key: str, now: str | None) -> None:
        if now is None:
            self.broke(where, "removed")
        elif now != key:
            old_record, new_record = self.old["objects"].get(key), self.new["objects"].get(now)
            if old_record is None or new_record is None:
                self.broke(where, f"was {key}, now {now}")
            else:  # the same kind of object, defined elsewhere now
                self.record(where, key, old_record, new_record, report_additions=False)
                self.added(where, f"now {now}")

    def record(self, where: str, key: str, old: Mapping[str, Any], new: Mapping[str, Any],
               report_additions: bool) -> None:
        if old["kind"] != new["kind"]:
            self.broke(where, f"was a {old['kind']}, now a {new['kind']}")
            return
        self.signature(f"{where}()", old["signature"], new["signature"], False, report_additions)
        if old["kind"] != "class":
            return
        for gone in sorted(set(old["bases"]) - set(new["bases"])):
            self.broke(where, f"no longer a subclass of {gone}")
        strict = key in BASES
        for name, text in old["members"].items():
            now = self.member(new, name)
            if now is None:
                self.broke(f"{where}.{name}", "removed")
            elif text.endswith(")"):
                self.signature(f"{where}.{name}", text, now, strict, report_additions)
            elif now != text:
                self.broke(f"{where}.{name}", f"was a {text}, now {now}")
        if report_additions:
            for name in new["members"].keys() - old["members"].keys():
                self.added(f"{where}.{name}", "new member")

    def member(self, record: Mapping[str, Any], name: str) -> str | None:
        """A member of a class in the code, its own or inherited from a recorded base."""
        for candidate in (record, *(self.new["objects"].get(b) for b in record["bases"])):
            if candidate is not None and name in candidate["members"]:
                return candidate["members"][name]
        return None

    def signature(self, where: str, old: str | None, new: str | None, strict: bool,
                  report_additions: bool) -> None:
        if old == new:
            return
        old_kind, _, old_params = (old or "").partition("(")
        new_kind, _, new_params = (new or "").partition("(")
        if (old is None or new is None or old_kind != new_kind
                or not extends(f"({old_params}", f"({new_params}")):
            self.broke(where, f"signature {old} changed to {new}")
        elif strict:
            self.added(where, f"signature {old} extended to {new}, a method plugins may "
                              "override: check the core never passes the new parameters to it")
        elif report_additions:
            self.added(where, f"signature {old} extended to {new}")

    def aliases(self) -> None:
        old, new = self.old.get("deprecated", {}), self.new["deprecated"]
        for module, aliases in old.items():
            for name, where in aliases.items():
                if new.get(module, {}).get(name) != where:
                    self.broke(f"{module}.{name}", f"deprecated alias of {where} removed")
        for module, aliases in new.items():
            for name in aliases.keys() - old.get(module, {}).keys():
                self.added(f"{module}.{name}", "new deprecated alias")

    def attributes(self) -> None:
        old, new = self.old.get("documented_attributes", {}), self.new["documented_attributes"]
        for cls, names in old.items():
            for name in names:
                if name not in new.get(cls, ()):
                    self.broke(f"{cls}.{name}", "documented attribute removed")
        for cls, names in new.items():
            for name in set(names) - set(old.get(cls, ())):
                self.added(f"{cls}.{name}", "new documented attribute")


def compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """``(breaks, additions)`` between snapshot ``old`` and the code's API ``new``: one line
    each, naming the name and the fix. Anything else that differs is one addition."""
    comparison = _Comparison(old, new)
    comparison.run()
    breaks, additions = sorted(comparison.breaks), sorted(comparison.additions)
    if not breaks and not additions and any(old.get(k) != new[k] for k in new):
        additions.append(f"{SNAPSHOT.name} is out of date; run `{REFRESH}`")
    return breaks, additions


# -- the snapshot -------------------------------------------------------------------------------
def load(path: Path = SNAPSHOT) -> dict[str, Any]:
    return json.loads(path.read_text())


def api_version() -> int:
    from nascore.plugins import PLUGIN_API_VERSION

    return PLUGIN_API_VERSION


def check(path: Path = SNAPSHOT) -> tuple[list[str], list[str]]:
    """``(breaks, additions)`` of the code against the snapshot at ``path``; a version
    mismatch counts as a break."""
    snapshot = load(path)
    breaks, additions = compare(snapshot, collect())
    version = api_version()
    if snapshot.get("plugin_api_version") != version:
        breaks.insert(0, f"{path.name} records plugin API {snapshot.get('plugin_api_version')} "
                         f"but PLUGIN_API_VERSION is {version}; run `{REFRESH}`")
    return breaks, additions


def write(path: Path = SNAPSHOT, changelog: Path | None = None) -> list[str]:
    """Refresh the snapshot; return the problems that stop it (then nothing is written).

    Breaks need ``PLUGIN_API_VERSION`` above the snapshot's and each broken name in
    ``changelog`` (default: CHANGELOG.md next to the package, when present)."""
    new = collect()
    version = api_version()
    old = load(path) if path.exists() else None
    breaks_log = list(old.get("breaks", [])) if old else []
    if old is not None:
        breaks, _ = compare(old, new)
        if breaks and version <= old["plugin_api_version"]:
            return breaks
        changelog = changelog or path.parent.parent / "CHANGELOG.md"
        text = changelog.read_text() if changelog.exists() else ""
        names = [line.split(":", 1)[0] for line in breaks]
        missing = [n for n in names if n.rpartition(".")[2] not in text]
        if missing:
            return [f"{n}: breaks plugin API {old['plugin_api_version']}; name it in "
                    f"{changelog.name} before `{REFRESH}`" for n in missing]
        breaks_log += [{"plugin_api_version": version, "name": n} for n in names]
    snapshot = {
        "plugin_api_version": version,
        "about": "The public API for plugins; compared with the code by tests/test_public_api.py. "
                 f"Refresh with `{REFRESH}` (see docs/writing-a-plugin.md, Compatibility).",
        **new,
        "breaks": breaks_log,
    }
    path.write_text(json.dumps(snapshot, indent=1, sort_keys=False) + "\n")
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nascore.public_api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="refresh the snapshot")
    args = parser.parse_args(argv)
    if args.write:
        problems = write()
        print("\n".join(problems) or f"wrote {SNAPSHOT}")
        return 1 if problems else 0
    breaks, additions = check()
    print("\n".join(breaks + additions) or f"{SNAPSHOT.name} matches the code")
    return 1 if breaks or additions else 0


if __name__ == "__main__":
    sys.exit(main())
