"""Exceptions with one-line, actionable messages.

Every error a user can cause derives from :class:`NascoreError`; the CLI prints its message on one
line and exits with :attr:`NascoreError.exit_code`: 2 for usage errors (:class:`UsageError` and
its subclasses: options, config values, names, combinations, unusable run directories), 1 for
failures at run time (I/O, a busy run, data, checkpoints, training), 130 for a run stopped by a
signal after writing its checkpoint.
"""

from __future__ import annotations


class NascoreError(Exception):
    """Base class of user-facing errors (exit code 1).

    ``resumable`` errors are raised where the job's state is whole (e.g. a discrete search
    between asking for a batch of candidates and observing their results): the run engine
    writes a checkpoint before stopping, so ``nas resume`` continues from there.
    """

    exit_code = 1
    resumable = False


class UsageError(NascoreError):
    """Bad command-line usage: unknown names, impossible combinations (exit code 2)."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration value is missing, unknown or invalid."""


class UnknownNameError(UsageError):
    """A component name (space, strategy, dataset, ...) is not registered."""

    def __init__(self, kind: str, name: str, available: list[str]) -> None:
        listing = ", ".join(sorted(available)) or "none installed"
        super().__init__(f"unknown {kind} '{name}'; available: {listing}")
        self.kind, self.name, self.available = kind, name, available

    def __reduce__(self) -> tuple[type, tuple[str, str, list[str]]]:
        """Rebuild from the constructor's arguments (errors cross process boundaries)."""
        return type(self), (self.kind, self.name, self.available)


class IncompatibleError(UsageError):
    """A strategy and a space (or other components) cannot be combined."""


class MalformedArchitecture(NascoreError):
    """An architecture or genotype string does not describe a valid member of its space."""


class DataError(NascoreError):
    """A dataset is missing or unreadable."""


class CheckpointError(NascoreError):
    """A checkpoint or weights file is missing, corrupt or does not match."""


class RunDirError(UsageError):
    """A run directory cannot be used (exists and is not empty, or is not a run)."""


class StorageError(NascoreError):
    """A file cannot be written: a full disk, a file-size limit, a read-only or forbidden
    directory (exit code 1: a failure of the machine, not of the command line)."""


class RunBusyError(NascoreError):
    """Another process holds a run directory's lock (exit code 1)."""


class NonFiniteLossError(NascoreError):
    """Training produced a NaN or infinite loss."""


class InfeasibleError(NascoreError):
    """No architecture of the space can satisfy the constraints."""


class CandidateError(NascoreError):
    """Evaluating a candidate architecture failed (e.g. on an executor's worker); the search
    keeps the candidate's batch and evaluates it again when resumed."""

    resumable = True
