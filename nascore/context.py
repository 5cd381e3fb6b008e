"""The run context: everything the run engine hands to a strategy and its estimator."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import torch

from nascore.errors import ConfigError
from nascore.space import SearchSpace

if TYPE_CHECKING:
    from nascore.budget import Budget
    from nascore.constraint import Constraint
    from nascore.data import SearchData
    from nascore.estimator import Estimator
    from nascore.events import EventLog
    from nascore.executors import Executor


@attrs.define
class SearchContext:
    """Everything a strategy may use, assembled by the run engine.

    ``executor`` (``None``: this process) is where ``Estimator.estimate_many`` evaluates
    candidates (see :mod:`nascore.executors`).
    """

    space: SearchSpace
    seed: int
    device: torch.device
    events: EventLog
    data: SearchData | None = None
    estimator: Estimator | None = None
    constraints: list[Constraint] = attrs.field(factory=list)
    budget: Budget | None = None
    executor: Executor | None = None


def device_of(name: str) -> torch.device:
    """``auto``: a GPU when there is one, else the CPU; otherwise ``name`` (``cpu``, ``cuda``,
    ``cuda:N``)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
