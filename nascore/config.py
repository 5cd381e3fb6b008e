"""Declarative component configs (attrs), resolved from TOML files and ``--set`` overrides.

Each component class names an attrs class as ``config_cls``; :func:`build_config` turns a plain
mapping into a validated instance, converting strings and ints where the field type asks for it and
rejecting unknown keys with the list of valid ones. A config class may keep renamed keys
working for a release as deprecated aliases: ``renamed_keys = {"old": "new"}`` (or
:class:`Renamed` for a value that changes meaning) as a class attribute.
"""

from __future__ import annotations

import contextlib
import math
import tomllib
import types
import typing
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs

from nascore.errors import ConfigError

T = TypeVar("T")


def field(default: Any, help: str = "", **kwargs: Any) -> Any:
    """An attrs field with a help text shown by ``nas config``."""
    return attrs.field(default=default, metadata={"help": help}, **kwargs)


def positive(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    """Validator: value > 0."""
    if value is not None and not value > 0:
        raise ConfigError(f"{attribute.name} must be positive, got {value!r}")


def non_negative(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
    """Validator: value >= 0."""
    if value is not None and not value >= 0:
        raise ConfigError(f"{attribute.name} must be >= 0, got {value!r}")


def one_of(*choices: Any):
    """Validator: value is one of ``choices``."""

    def check(_inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value not in choices:
            raise ConfigError(
                f"{attribute.name} must be one of {', '.join(map(str, choices))}; got {value!r}"
            )

    return check


#: The largest magnitude of a float setting: torch's float32 range, into which settings such
#: as learning rates are converted (``1e308`` would overflow there).
FLOAT_LIMIT = 3.4028234663852886e38


def _finite(number: float, key: str) -> float:
    """``number`` if it is finite and within :data:`FLOAT_LIMIT`; a one-line error otherwise."""
    if math.isnan(number):
        raise ConfigError(f"{key} must be a number, got nan")
    if not abs(number) <= FLOAT_LIMIT:
        raise ConfigError(
            f"{key} must be a finite number within +-3.4e38 (torch's float32 range), "
            f"got {number!r}"
        )
    return number


def _coerce(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: invalid value {value!r}")
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_coerce(v, inner, key) for v in value]
        return tuple(items) if origin is tuple else items
    if tp is Any or tp is None:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(float(value)) if float(value).is_integer() else int(value)
            except ValueError:
                pass
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if tp is float:
        number = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                number = float(value)
        if number is None:
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return _finite(number, key)
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key} must be a string, got {value!r}")
    return value


@attrs.frozen
class Renamed:
    """A config key renamed to ``new``, still accepted for one release (a DeprecationWarning).

    ``convert`` maps an old value to the new key's meaning (e.g. ``operator.not_`` for an
    inverted switch); ``since`` names the release that renamed it.
    """

    new: str
    since: str = ""
    convert: Callable[[Any], Any] | None = None


def renamed_keys(cls: type) -> dict[str, Renamed]:
    """The deprecated aliases of a config class: ``{old: Renamed}`` (from ``cls.renamed_keys``,
    whose values may be plain new names)."""
    return _as_renamed(getattr(cls, "renamed_keys", None))


def _as_renamed(declared: Mapping[str, str | Renamed] | None) -> dict[str, Renamed]:
    return {old: r if isinstance(r, Renamed) else Renamed(str(r))
            for old, r in (declared or {}).items()}


def apply_renamed(cls: type, data: Mapping[str, Any], section: str = "") -> dict[str, Any]:
    """``data`` with every deprecated key of ``cls`` replaced by its new name (a
    DeprecationWarning each); giving both the old and the new key is a :class:`ConfigError`."""
    out = dict(data)
    prefix = f"{section}." if section else ""
    for old, renamed in renamed_keys(cls).items():
        if old not in out:
            continue
        if renamed.new in out:
            raise ConfigError(f"{prefix}{old} is the deprecated name of {prefix}{renamed.new}; "
                              f"give only {prefix}{renamed.new}")
        value = out.pop(old)
        if renamed.convert is not None:
            value = renamed.convert(_coerce(value, _field_type(cls, renamed.new), prefix + old)
                                    if isinstance(value, str) else value)
        out[renamed.new] = value
        since = f" since {renamed.since}" if renamed.since else ""
        warnings.warn(f"config key {prefix}{old} is deprecated{since}: use {prefix}{renamed.new}"
                      f"{' (converted)' if renamed.convert else ''}", DeprecationWarning,
                      stacklevel=3)
    return out


def _field_type(cls: type, name: str) -> Any:
    attrs.resolve_types(cls)
    fields = {f.name: f for f in attrs.fields(cls)}
    return fields[name].type if name in fields else Any


def build_config(cls: type[T], data: Mapping[str, Any] | None = None, section: str = "") -> T:
    """Build and validate an attrs config of type ``cls`` from ``data``.

    Deprecated keys (``cls.renamed_keys``) are renamed with a DeprecationWarning. Raises
    :class:`ConfigError` naming the key for unknown keys and invalid values.
    """
    data = apply_renamed(cls, data or {}, section)
    attrs.resolve_types(cls)
    fields = {f.name: f for f in attrs.fields(cls)}
    prefix = f"{section}." if section else ""
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]}; valid keys: "
            + ", ".join(f"{prefix}{k}" for k in fields)
        )
    kwargs = {k: _coerce(v, fields[k].type, prefix + k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{prefix}{exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid {section or 'config'}: {exc}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """A plain dict of an attrs config (tuples become lists)."""
    return _plain(attrs.asdict(config))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def parse_value(text: str) -> Any:
    """Parse a ``--set`` value as a TOML value, falling back to the raw string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(tree: dict[str, dict[str, Any]], overrides: list[str]) -> None:
    """Apply ``section.key=value`` overrides to a two-level config tree in place."""
    for item in overrides:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise ConfigError(f"--set expects section.key=value, got {item!r}")
        if section not in tree:
            raise ConfigError(
                f"unknown config section '{section}' in --set {item!r}; sections: "
                + ", ".join(tree)
            )
        tree[section][name] = parse_value(value.strip())


def layer_tree(
    tree: dict[str, dict[str, Any]],
    file_tree: Mapping[str, Any] | None,
    flags: Mapping[str, Any] | None,
    targets: Mapping[str, tuple[str, str]],
    overrides: list[str] | None,
) -> None:
    """Layer a config file's sections, CLI flags and ``--set`` overrides onto ``tree`` in place.

    ``targets`` maps a flag name to its ``(section, key)``; flags set to ``None`` (or an empty
    tuple) are not given. Later layers win: file < flags < overrides.
    """
    for section, values in (file_tree or {}).items():
        if section not in tree or not isinstance(values, Mapping):
            raise ConfigError(f"unknown config section [{section}]; sections: {', '.join(tree)}")
        tree[section].update(values)
    for flag, value in (flags or {}).items():
        if value is not None and value != ():
            section, key = targets[flag]
            tree[section][key] = value
    apply_overrides(tree, overrides or [])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {value!r} as TOML")


def dump_toml(tree: Mapping[str, Mapping[str, Any]], helps: Mapping[str, str] | None = None) -> str:
    """Write a two-level config tree as TOML; ``None`` values become commented-out keys."""
    helps = helps or {}
    lines: list[str] = []
    for section, values in tree.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            text = helps.get(f"{section}.{key}")
            comment = f"  # {text}" if text else ""
            if value is None:
                lines.append(f"# {key} = (unset){comment}")
            else:
                lines.append(f"{key} = {_toml_value(value)}{comment}")
        lines.append("")
    return "\n".join(lines)


def load_toml(path: str) -> dict[str, Any]:
    """Read a TOML config file with a one-line error on failure."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def dotted_keys(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A section's nested tables as dotted keys: TOML reads ``latency.batch = 1`` as
    ``{"latency": {"batch": 1}}``; this gives back ``{"latency.batch": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(dotted_keys(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def help_texts(cls: type, section: str) -> dict[str, str]:
    """Help texts of the fields of an attrs config, keyed ``section.name`` (with the deprecated
    names that still set a field)."""
    helps = {f"{section}.{f.name}": f.metadata.get("help", "") for f in attrs.fields(cls)}
    for old, renamed in renamed_keys(cls).items():
        key = f"{section}.{renamed.new}"
        note = f"deprecated alias: {old}{' (converted)' if renamed.convert else ''}"
        helps[key] = f"{helps[key]} [{note}]" if helps.get(key) else f"[{note}]"
    return {key: text for key, text in helps.items() if text}


# -- composed configs (one-shot strategies: loop + policy + parts) ---------------------------
@attrs.frozen
class Default:
    """A declared default: ``value``, and where it comes from (shown in the help text)."""

    value: Any
    source: str = ""


def _help(attribute: attrs.Attribute, default: Default | None) -> str:
    text = attribute.metadata.get("help", "")
    if default is not None and default.source:
        text = f"{text} [{default.source}]" if text else f"[{default.source}]"
    return text


def compose_config(
    name: str,
    sources: Sequence[type],
    defaults: Mapping[str, Default] | None = None,
    doc: str | None = None,
    renamed: Mapping[str, str | Renamed] | None = None,
) -> type:
    """One frozen attrs class with the fields of every class in ``sources`` (in order).

    ``defaults`` replace field defaults (their ``source`` is appended to the help text). The
    result's ``renamed_keys`` are the sources' and ``renamed``. Two sources defining the same
    field, a default for an unknown field, or an alias of an unknown field raise ``TypeError``
    (a programming error of the declaration, not a user error).
    """
    defaults = dict(defaults or {})
    fields: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for source in sources:
        attrs.resolve_types(source)
        for attribute in attrs.fields(source):
            if attribute.name in fields:
                raise TypeError(
                    f"config field {attribute.name!r} of {source.__name__} is also defined by "
                    f"{owners[attribute.name]}; rename one of them"
                )
            owners[attribute.name] = source.__name__
            declared = defaults.pop(attribute.name, None)
            fields[attribute.name] = attrs.field(
                default=attribute.default if declared is None else declared.value,
                validator=attribute.validator,
                converter=attribute.converter,
                metadata={**attribute.metadata, "help": _help(attribute, declared)},
                type=attribute.type,
            )
    if defaults:
        raise TypeError(f"defaults for unknown config fields: {', '.join(sorted(defaults))}")
    aliases = {old: r for source in sources for old, r in renamed_keys(source).items()}
    aliases.update(_as_renamed(renamed))
    wrong = sorted(old for old, r in aliases.items() if r.new not in fields or old in fields)
    if wrong:
        raise TypeError(f"renamed config keys that are fields or rename no field: {wrong}")
    cls = attrs.make_class(name, fields, frozen=True)
    cls.__doc__ = doc or f"Settings of {name}."
    cls.renamed_keys = aliases
    return cls
