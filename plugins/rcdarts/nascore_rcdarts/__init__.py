"""RC-DARTS for nascore: the ``projection`` constraint handler and the ``rcdarts`` strategy."""

from nascore_rcdarts.projection import (
    Projection,
    ProjectionConfig,
    ProjectionResult,
    lambda_at,
    project,
)
from nascore_rcdarts.strategy import RCDartsStrategy

__version__ = "0.1.0"

__all__ = [
    "Projection",
    "ProjectionConfig",
    "ProjectionResult",
    "RCDartsStrategy",
    "__version__",
    "lambda_at",
    "project",
]
