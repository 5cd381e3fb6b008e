"""Packages whose public names are imported on first use (``import nascore`` and plugin
packages stay light, so the ``nas`` command starts fast)."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose names ``exports`` maps to the modules
    defining them (absolute, or relative to the package such as ``".strategy"``).

    A name that is also a submodule of the package cannot be lazy (importing the submodule
    sets the attribute to the module); import such a name eagerly instead.
    """
    clashes = [name for name in exports if importlib.util.find_spec(f"{package}.{name}")]
    if clashes:
        raise ValueError(f"{package}: {', '.join(clashes)} are also submodules; import them "
                         "eagerly instead of lazily")

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(importlib.import_module(package)), *exports})

    return __getattr__, __dir__
