"""Zero-cost proxies for nascore: training-free estimators (``synflow``, ``grad_norm``, ``snip``,
``grasp``, ``fisher``, ``jacob_cov``, ``naswot``) with the ``params`` and ``flops`` baselines, and
``nas bench zerocost``.

This module is what the entry point loads: it imports no torch; the components are imported
inside the hooks."""

from __future__ import annotations

from typing import Any

from nascore import hookimpl
from nascore.cli.lazy import LazyCommand

__version__ = "0.1.0"
NASCORE_PLUGIN_API = 1

#: ``nas bench zerocost``, declared as a ``nascore.commands`` entry point too.
BENCH = LazyCommand("zerocost", "nascore_zerocost.cli:zerocost_command",
                    "Rank correlation of zero-cost proxies with NAS-Bench-201 accuracy.", "bench")


@hookimpl
def nascore_estimators() -> list[type]:
    from nascore_zerocost.estimators import PROXIES

    return list(PROXIES.values())


@hookimpl
def nascore_commands() -> list[Any]:
    return [BENCH]
