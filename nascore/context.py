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
    ``cuda:N``), refused with a one-line error when there is no such GPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(
                f"device {name!r}: torch finds no CUDA GPU on this machine; use --device cpu or "
                "auto (resuming: --set run.device=cpu, or train.device=cpu for a train run)"
            )
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device {name!r}: this machine has {count} CUDA GPU(s), "
                              f"cuda:0..cuda:{count - 1}")
    return device
