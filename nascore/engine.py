"""The run lifecycle shared by search runs (``nas run``) and train runs (``nas train``).

Both drive a :class:`Job` -- a strategy, or a retraining -- epoch by epoch::

    for epoch in range(start, job.num_epochs):
        for metrics in job.run_epoch(epoch, start_step):   # one item per step
            ...   # progress, SIGINT/SIGTERM: checkpoint mid-epoch and stop (exit 130)
        record = job.end_epoch(epoch)                      # logged to events.jsonl
        checkpoint                                         # atomically, every epoch

:func:`start` makes the run directory only once the job is built (every check that can fail
before training has passed), takes the run's lock and writes a first checkpoint;
:func:`resume` takes the lock, loads and checks the checkpoint before touching anything,
applies ``--set`` overrides, restores the job and continues. A resumed run ends exactly as an
uninterrupted one would: the job's state, the global RNGs and the running sums of the epoch's
step metrics are all in the checkpoint.

In a data-parallel search (:mod:`nascore.distributed`) only the main process (rank 0) reads
and writes the run directory: it creates and locks it, writes events and checkpoints, and on
resume reads the checkpoint and hands it to the other processes. A stop signal received by any
process stops all of them after the same step.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar

import attrs
from tqdm import tqdm

from nascore import distributed
from nascore.config import dotted_keys
from nascore.errors import (
    CheckpointError,
    ConfigError,
    NascoreError,
    NonFiniteLossError,
    RunDirError,
    StorageError,
    UsageError,
)
from nascore.events import EventLog, read_events
from nascore.rundir import RunDir, rng_state, set_rng_state

#: The logger of every console line nascore prints (``logging.getLogger("nascore")``); the CLI
#: sends it to stderr, library users configure or silence it.
log = logging.getLogger("nascore")

T = TypeVar("T")


class Interrupted(NascoreError):
    """The run was stopped by SIGINT/SIGTERM after writing a checkpoint (exit code 130)."""

    exit_code = 130


class Job(Protocol):
    """What the engine drives (a :class:`~nascore.strategy.Strategy` is one)."""

    @property
    def num_epochs(self) -> int: ...

    def steps_per_epoch(self, epoch: int) -> int: ...

    def run_epoch(self, epoch: int, start_step: int = 0) -> Iterator[Mapping[str, float]]: ...

    def end_epoch(self, epoch: int) -> dict[str, Any]: ...

    def finished(self) -> bool: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


class _StopFlag:
    """Turns SIGINT/SIGTERM into a flag checked between steps."""

    def __init__(self) -> None:
        self.signal: int | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[_StopFlag]:
        def handler(signum: int, _frame: Any) -> None:
            self.signal = signum

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


def progress_bar(total: int, initial: int, description: str, enabled: bool) -> tqdm:
    """A progress bar on an interactive terminal only: piped logs get the epoch lines."""
    return tqdm(total=total, initial=initial, desc=description, leave=False, file=sys.stderr,
                disable=not (enabled and sys.stderr.isatty()))


def epoch_line(epoch: int, total: int, record: Mapping[str, Any]) -> str:
    """``epoch 3/50  train_loss 1.2  valid_acc 0.51  (12.3s)``: the record's float values."""
    parts = [f"epoch {epoch + 1}/{total}"]
    for key, value in record.items():
        if isinstance(value, float) and key not in ("seconds", "cpu_seconds"):
            parts.append(f"{key} {value:.4g}")
    parts.append(f"({record['seconds']:.1f}s)")
    return "  ".join(parts)


def step_line(epoch: int, total: int, step: int, steps: int,
              sums: Mapping[str, list[float]]) -> str:
    """``epoch 3/50  step 100/390  loss 1.2  acc 0.51``: the running means of the epoch's step
    metrics so far (the lines of ``log_every``)."""
    parts = [f"epoch {epoch + 1}/{total}", f"step {step}/{steps}"]
    parts += [f"{key} {value / count:.4g}" for key, (value, count) in sums.items() if count]
    return "  ".join(parts)


class Engine:
    """Drives a :class:`Job` in a run directory (see the module docstring).

    ``extra_state()`` adds to every checkpoint (e.g. an estimator's cache); ``callbacks`` are
    called with ``(epoch, record)`` after each epoch's checkpoint; ``log_every`` > 0 logs a
    :func:`step_line` every that many steps of an epoch (besides the epoch lines). Only the main
    process of a data-parallel search writes checkpoints (``writes``).
    """

    def __init__(
        self,
        run: RunDir,
        job: Job,
        events: EventLog,
        progress: bool = True,
        extra_state: Callable[[], dict[str, Any]] | None = None,
        callbacks: tuple[Callable[[int, Mapping[str, Any]], None], ...] = (),
        log_every: int = 0,
    ) -> None:
        self.run = run
        self.job = job
        self.events = events
        self.writes = distributed.is_main()
        self.progress = progress and self.writes
        self.extra_state = extra_state or dict
        self.callbacks = callbacks
        self.log_every = log_every

    def checkpoint(self, epoch: int, step: int, sums: Mapping[str, list[float]]) -> None:
        """Atomically save everything needed to continue at ``(epoch, step)`` (main process)."""
        if not self.writes:
            return
        try:
            self._save(epoch, step, sums)
        except StorageError as exc:
            raise StorageError(f"{exc}; then continue with `nas resume {self.run.path}`") from None

    def _save(self, epoch: int, step: int, sums: Mapping[str, list[float]]) -> None:
        self.run.save_checkpoint({
            "run_id": self.run.run_id,
            "epoch": epoch,
            "step": step,
            "job": self.job.state_dict(),
            "extra": self.extra_state(),
            "rng": rng_state(),
            "events": len(self.events.records),
            "sums": {k: list(v) for k, v in sums.items()},
        })

    def drive(self, start_epoch: int = 0, start_step: int = 0,
              sums: Mapping[str, list[float]] | None = None) -> None:
        """Run the epochs from ``(start_epoch, start_step)`` to the end; ``sums`` holds the
        ``[total, count]`` of each step metric of the interrupted epoch so far."""
        job, stop = self.job, _StopFlag()
        total = job.num_epochs
        sums = {k: list(v) for k, v in (sums or {}).items()}
        if start_epoch == 0 and start_step == 0:
            self.checkpoint(0, 0, sums)  # a NaN in epoch 1 still leaves a start point
        with stop.installed():
            epoch = start_epoch
            while epoch < total and not job.finished():
                began, began_cpu = time.time(), time.process_time()
                self._epoch_steps(epoch, start_step, sums, stop)
                record = {f"train_{k}": total / count for k, (total, count) in sums.items()}
                record.update(job.end_epoch(epoch))
                record["seconds"] = round(time.time() - began, 3)
                record["cpu_seconds"] = round(time.process_time() - began_cpu, 3)
                self.events.log({"type": "epoch", "epoch": epoch, **record}, step=epoch)
                log.info(epoch_line(epoch, total, record))
                start_step, sums = 0, {}
                epoch += 1
                self.checkpoint(epoch, 0, sums)
                for callback in self.callbacks:
                    callback(epoch - 1, record)

    def _epoch_steps(self, epoch: int, start_step: int, sums: dict[str, list[float]],
                     stop: _StopFlag) -> None:
        """The steps of ``epoch`` from ``start_step``; ``sums`` accumulates ``[total, count]``
        of every step metric of the whole epoch (resumed steps included)."""
        total, steps = self.job.num_epochs, self.job.steps_per_epoch(epoch)
        bar = progress_bar(steps, start_step, f"epoch {epoch + 1}/{total}", self.progress)
        offset = sum(self.job.steps_per_epoch(e) for e in range(epoch))  # TensorBoard's x
        step = start_step
        try:
            for metrics in self.job.run_epoch(epoch, start_step):
                step += 1
                bar.update(1)
                for key, value in metrics.items():
                    entry = sums.setdefault(key, [0.0, 0])
                    entry[0] += float(value)
                    entry[1] += 1
                if "loss" in metrics:
                    bar.set_postfix(loss=f"{float(metrics['loss']):.3f}")
                self.events.log_step(metrics, offset + step - 1)
                if self.log_every and step % self.log_every == 0 and self.writes:
                    with tqdm.external_write_mode(file=sys.stderr):  # above a terminal's bar
                        log.info(step_line(epoch, total, step, steps, sums))
                if distributed.any_rank(stop.signal is not None):
                    self.checkpoint(epoch, step, sums)
                    cause = f"signal {stop.signal}" if stop.signal else "another process's signal"
                    raise Interrupted(
                        f"stopped by {cause} in epoch {epoch + 1}/{total} after "
                        f"step {step}; checkpoint written, continue with "
                        f"`nas resume {self.run.path}`"
                    )
        except NonFiniteLossError as exc:
            raise NonFiniteLossError(
                f"{exc}; the checkpoint from before this epoch's last update is kept: "
                f"continue with `nas resume {self.run.path} --set SECTION.KEY=VALUE`"
            ) from None
        except NascoreError as exc:
            if not exc.resumable:
                raise
            self.checkpoint(epoch, step, sums)
            exc.args = (f"{exc}; the run's state is saved: remove the cause and continue with "
                        f"`nas resume {self.run.path}`",)
            raise
        finally:
            bar.close()


def start(
    target: str | Path,
    meta: Mapping[str, Any],
    config_toml: str,
    job: Job,
    events: EventLog,
    progress: bool = True,
    extra_state: Callable[[], dict[str, Any]] | None = None,
    callbacks: tuple[Callable[[int, Mapping[str, Any]], None], ...] = (),
    prepare: Callable[[RunDir], None] | None = None,
    finish: Callable[[RunDir], T] | None = None,
    log_every: int = 0,
) -> tuple[RunDir, T | None]:
    """Create the run directory of an already built ``job``, lock it, drive the job and
    return ``(run, finish(run))``.

    ``prepare(run)`` writes files the run needs before training (e.g. its architecture);
    ``finish(run)`` writes the results (the events are still open); then the config and final
    metrics go to TensorBoard's hparams. In a data-parallel search only the main process creates
    the directory, prepares and finishes (``finish`` returns ``None`` on the others).
    """
    main = distributed.is_main()
    with contextlib.ExitStack() as stack:

        def create() -> RunDir:
            made = RunDir.create(target, meta, config_toml)
            stack.enter_context(made.locked())
            events.attach(made.path)
            stack.callback(events.close)
            return made

        run = distributed.main_first(create) or RunDir(target)
        if main:
            log.info(f"run directory: {run.path}")
            if prepare is not None:
                prepare(run)
        Engine(run, job, events, progress, extra_state, callbacks, log_every).drive()
        if not main:
            return run, None
        result = None if finish is None else finish(run)
        events.log_hparams(meta.get("config", {}))
        return run, result


#: The file a finished run (search or train) writes last.
RESULT = "result.json"


def unstarted(run: RunDir) -> bool:
    """Whether ``run`` never wrote a checkpoint, an epoch record or a result (e.g. its first
    checkpoint hit a full disk): starting it from the beginning loses nothing."""
    if run.checkpoint_path.exists() or (run.path / RESULT).exists():
        return False
    path = run.path / "events.jsonl"
    return not path.exists() or all(r.get("type") != "epoch" for r in read_events(path))


def check_config_file(run: RunDir, meta: Mapping[str, Any]) -> None:
    """Refuse (one line) a ``config.toml`` edited by hand: a resume takes the run's settings
    from ``run.json`` and changes them only through ``--set``, which rewrites both files."""
    path = run.path / "config.toml"
    if not path.is_file() or "config" not in meta:
        return
    try:
        on_disk = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} was edited and is no longer valid TOML ({exc}); undo the "
                          f"edit (settings change with `nas resume {run.path} --set ...`)"
                          ) from None
    on_disk = {section: dotted_keys(values) for section, values in on_disk.items()}
    recorded = {section: {k: v for k, v in dotted_keys(values).items() if v is not None}
                for section, values in meta["config"].items()}
    edited = sorted({f"{section}.{key}" for tree, other in ((on_disk, recorded),
                                                            (recorded, on_disk))
                     for section, values in tree.items() for key, value in values.items()
                     if other.get(section, {}).get(key, _ABSENT) != value})
    if edited:
        raise ConfigError(
            f"{path} was edited ({', '.join(edited)}), but a resume takes the settings from "
            f"run.json: undo the edit and pass it as `nas resume {run.path} --set "
            "SECTION.KEY=VALUE` (checked, then written to both files)"
        )


_ABSENT = object()


def load_resume_state(run: RunDir) -> dict[str, Any] | None:
    """The run's checkpoint, checked to belong to this run (before anything is changed);
    ``None`` for a run that never wrote one (see :func:`unstarted`)."""
    if unstarted(run):
        return None
    state = run.load_checkpoint()
    owner = state.get("run_id")
    if owner != run.run_id:
        raise CheckpointError(
            f"checkpoint {run.checkpoint_path} belongs to another run ({owner}), not {run.path} "
            f"({run.run_id}); restore this run's own checkpoint or start a new run"
        )
    return state


def restore(job: Job, state: Mapping[str, Any], run: RunDir) -> None:
    """Load ``state["job"]`` into ``job``, turning mismatches into one-line errors."""
    try:
        job.load_state_dict(state["job"])
    except (KeyError, RuntimeError, ValueError, TypeError, IndexError) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"checkpoint {run.checkpoint_path} does not match this run's components "
            f"({detail[:200]}); restore the run's own checkpoint or start a new run"
        ) from None
    set_rng_state(state["rng"])


def _changed_settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """``section.key=value`` of every setting ``new`` changes from ``old`` (config trees)."""
    return [f"{section}.{key}={value!r}" for section, values in new.items()
            for key, value in values.items() if old.get(section, {}).get(key) != value]


def _restore_checked(resumed: Resumed, state: Mapping[str, Any], run: RunDir,
                     meta: Mapping[str, Any]) -> None:
    """Restore the job (and its extra state) from ``state``; a checkpoint that no longer fits
    after ``--set`` blames the changed settings, and a finished run is refused."""
    try:
        restore(resumed.job, state, run)
    except CheckpointError:
        changed = _changed_settings(meta.get("config", {}), (resumed.new_meta or {}).get(
            "config", meta.get("config", {})))
        if not changed:
            raise
        raise ConfigError(
            f"--set {', '.join(changed)} changes what the checkpoint of {run.path} was made "
            "with (e.g. the network's shape): drop it to resume, or start a new run with it"
        ) from None
    if resumed.restore_extra is not None:
        resumed.restore_extra(state.get("extra", {}))
    epoch, total = int(state["epoch"]), resumed.job.num_epochs
    if (run.path / RESULT).exists() and (epoch >= total or resumed.job.finished()):
        raise UsageError(
            f"{run.path} is finished ({epoch} of {total} epochs, {RESULT} written): nothing "
            f"to resume; `nas show {run.path}` prints its result"
        )


@attrs.frozen
class Resumed:
    """What a resume builds from a run's metadata: the job (restored by :func:`resume`), how to
    restore its checkpoint's ``extra`` state, the metadata to write when overrides changed
    it (with its ``config.toml``) and the run's ``log_every`` (see :class:`Engine`)."""

    job: Job
    restore_extra: Callable[[Mapping[str, Any]], None] | None = None
    extra_state: Callable[[], dict[str, Any]] | None = None
    new_meta: Mapping[str, Any] | None = None
    config_toml: str = ""
    log_every: int = 0


def resume(
    run: RunDir,
    kind: str,
    build: Callable[[dict[str, Any], EventLog], Resumed],
    finish: Callable[[RunDir], T] | None = None,
    progress: bool = True,
    callbacks: tuple[Callable[[int, Mapping[str, Any]], None], ...] = (),
) -> T | None:
    """Continue the ``kind`` run ``run`` from its checkpoint and return ``finish(run)``.

    Under the run's lock: the checkpoint is loaded and checked first; ``build(meta, events)``
    makes the job (applying overrides); the job is restored; only then are changed metadata
    written and the events after the checkpoint dropped (they are written again). In a
    data-parallel search the main process reads the metadata and checkpoint and hands them to
    the others, which need no access to the run directory.
    """
    main = distributed.is_main()
    with contextlib.ExitStack() as stack:

        def load() -> tuple[dict[str, Any], dict[str, Any]]:
            stack.enter_context(run.locked())
            meta = run.meta
            if meta.get("kind") != kind:
                raise RunDirError(f"{run.path} is a {meta.get('kind')} run, not a {kind} run")
            check_config_file(run, meta)
            return meta, load_resume_state(run)

        meta, state = distributed.main_first(load, share=True)  # type: ignore[misc]
        events = EventLog()
        stack.callback(events.close)
        resumed = build(meta, events)
        if state is None:  # the first checkpoint was never written: start from the beginning
            state = {"epoch": 0, "step": 0, "events": 0}
            log.info(f"{run.path} has no checkpoint yet: starting it from the beginning")
        else:
            _restore_checked(resumed, state, run, meta)
            log.info(f"resuming {run.path} at epoch {int(state['epoch']) + 1}, "
                     f"step {int(state['step'])}")
        if main:
            if resumed.new_meta is not None:
                run.update_meta(resumed.new_meta, resumed.config_toml)
            events.records.extend(run.truncate_events(int(state["events"])))
            events.attach(run.path)
        epoch, step = int(state["epoch"]), int(state["step"])
        Engine(run, resumed.job, events, progress, resumed.extra_state, callbacks,
               resumed.log_every).drive(epoch, step, state.get("sums", {}))
        if not main:
            return None
        result = None if finish is None else finish(run)
        events.log_hparams(run.meta.get("config", {}))
        return result
