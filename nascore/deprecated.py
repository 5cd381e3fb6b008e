"""Deprecated aliases: public names that moved keep working from their old place, warning.

A module whose names moved gets a module-level ``__getattr__`` from :func:`moved`::

    __getattr__ = moved(__name__, {"SepConv": "nascore.spaces.darts.ops:SepConv"})

Each target is ``"module:attribute"`` (the attribute may be dotted) or a :class:`Replacement`
(a zero-argument function giving the object, and the text naming where it lives now). Reading
an old name issues a :class:`DeprecationWarning` naming the new place and returns the object
found there; the alias stays at least until plugin API :data:`REMOVED_IN`.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

#: The plugin API version that may drop the aliases declared under API 1.
REMOVED_IN = 3


class Replacement(NamedTuple):
    """An old name's object, computed on use, and the text naming its new place."""

    get: Callable[[], Any]
    where: str


def resolve(target: str) -> Any:
    """The object ``"module:attribute.path"`` names."""
    module, _, path = target.partition(":")
    value: Any = importlib.import_module(module)
    for part in path.split("."):
        value = getattr(value, part)
    return value


def moved(
    module: str,
    names: Mapping[str, str | Replacement],
    fallback: Callable[[str], Any] | None = None,
) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``module``'s moved ``names`` with a warning (other
    names go to ``fallback``, e.g. a lazy-export ``__getattr__``, or raise AttributeError)."""

    def __getattr__(name: str) -> Any:
        target = names.get(name)
        if target is None:
            if fallback is not None:
                return fallback(name)
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        where = target.where if isinstance(target, Replacement) else target.replace(":", ".")
        if sys._getframe(1).f_code.co_name != "_handle_fromlist":  # ``from m import x`` asks
            # ``hasattr`` first, then reads the name: warn once, on the read
            warnings.warn(
                f"{module}.{name} is deprecated: use {where} instead (the old name may go in "
                f"plugin API {REMOVED_IN})",
                DeprecationWarning,
                stacklevel=2,
            )
        return target.get() if isinstance(target, Replacement) else resolve(target)

    __getattr__.moved_names = dict(names)  # type: ignore[attr-defined]
    return __getattr__
