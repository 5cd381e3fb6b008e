"""RC-DARTS for nascore: the ``projection`` constraint handler and the ``rcdarts`` strategy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nascore.lazy import lazy_exports

__version__ = "0.1.0"

__getattr__, __dir__ = lazy_exports(__name__, {
    "Projection": ".projection",
    "ProjectionConfig": ".projection",
    "ProjectionResult": ".projection",
    "RCDartsStrategy": ".strategy",
    "lambda_at": ".projection",
    "project": ".projection",
})

__all__ = [
    "__version__",
    "Projection",
    "ProjectionConfig",
    "ProjectionResult",
    "RCDartsStrategy",
    "lambda_at",
    "project",
]

if TYPE_CHECKING:
    from nascore_rcdarts.projection import (
        Projection,
        ProjectionConfig,
        ProjectionResult,
        lambda_at,
        project,
    )
    from nascore_rcdarts.strategy import RCDartsStrategy
