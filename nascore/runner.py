"""The run engine: resolve a config, check compatibility, drive a strategy, checkpoint, resume.

``resolve_config`` turns CLI options, a TOML file and ``--set`` overrides into a config tree whose
sections are validated by the components' attrs classes; ``start_run`` and ``resume_run`` execute
it in a run directory (see :mod:`nascore.rundir`).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import torch
from tqdm import tqdm

from nascore.architecture import Architecture
from nascore.budget import Budget, is_budget_file, load_budget_file
from nascore.config import (
    build_config,
    config_to_dict,
    dump_toml,
    field,
    help_texts,
    layer_tree,
)
from nascore.constraint import Constraint
from nascore.context import SearchContext
from nascore.data import DataConfig, SearchData, load_datasets
from nascore.errors import ConfigError, IncompatibleError, NascoreError, NonFiniteLossError
from nascore.events import EventLog
from nascore.plugins import registry
from nascore.rundir import RunDir, rng_state, seed_everything, set_rng_state, versions
from nascore.space import DataInfo, SearchSpace
from nascore.strategy import Strategy


@attrs.frozen
class RunConfig:
    """What to combine and how to run it."""

    strategy: str = field("", "search strategy name (`nas plugins` lists them)")
    space: str = field("", "search space name")
    seed: int = field(0, "seed of every random choice")
    estimator: str | None = field(None, "estimator for discrete strategies (train, nb201, ...)")
    budget: str | None = field(
        None, "named budget preset or budget file (.toml), with [budget] overrides"
    )
    constraints: tuple[str, ...] = field((), "resource bounds, e.g. params:1M..2M, flops:..600M")
    device: str = field("cpu", "cpu, cuda or auto")


class Interrupted(NascoreError):
    """The run was stopped by SIGINT/SIGTERM after writing a checkpoint (exit code 130)."""

    exit_code = 130


#: CLI flag -> (section, key).
FLAG_TARGETS = {
    "strategy": ("run", "strategy"),
    "space": ("run", "space"),
    "epochs": ("strategy", "epochs"),
    "batch_size": ("strategy", "batch_size"),
    "channels": ("space", "channels"),
    "layers": ("space", "layers"),
    "dataset": ("data", "dataset"),
    "data_dir": ("data", "data_dir"),
    "seed": ("run", "seed"),
    "estimator": ("run", "estimator"),
    "budget": ("run", "budget"),
}


def resolve_config(
    strategy: str | None = None,
    space: str | None = None,
    flags: Mapping[str, Any] | None = None,
    file_tree: Mapping[str, Mapping[str, Any]] | None = None,
    overrides: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """A validated config tree with every default spelled out.

    Precedence: defaults < config file < CLI flags < ``--set`` overrides.
    """
    tree: dict[str, dict[str, Any]] = {
        s: {} for s in ("run", "data", "space", "strategy", "estimator", "budget")
    }
    flags = {**(flags or {}), "strategy": strategy or None, "space": space or None}
    layer_tree(tree, file_tree, flags, FLAG_TARGETS, overrides)

    run = build_config(RunConfig, tree["run"], "run")
    if not run.strategy or not run.space:
        raise ConfigError("a run needs --strategy and --space (see `nas plugins` for the names)")
    reg = registry()
    strategy_cls = reg.get("strategy", run.strategy)
    space_cls = reg.get("space", run.space)
    resolved: dict[str, dict[str, Any]] = {
        "run": config_to_dict(run),
        "data": config_to_dict(build_config(DataConfig, tree["data"], "data")),
        "space": config_to_dict(build_config(space_cls.config_cls, tree["space"], "space")),
        "strategy": config_to_dict(strategy_cls.configure(tree["strategy"])),
    }
    if run.estimator:
        est_cls = reg.get("estimator", run.estimator)
        resolved["estimator"] = config_to_dict(
            build_config(est_cls.config_cls, tree["estimator"], "estimator")
        )
    elif tree["estimator"]:
        raise ConfigError("[estimator] settings given without --estimator")
    if run.budget or tree["budget"]:
        if run.budget and is_budget_file(run.budget):
            base = load_budget_file(run.budget)
        else:
            base = reg.get("budget", run.budget) if run.budget else Budget()
        budget = build_config(Budget, {**config_to_dict(base), **tree["budget"]}, "budget")
        resolved["budget"] = config_to_dict(budget)
    for spec in run.constraints:
        parse_constraint(spec)
    return resolved


def config_help(tree: Mapping[str, Any]) -> dict[str, str]:
    """Help texts for every key of a resolved tree (for commented TOML)."""
    reg = registry()
    run = tree["run"]
    helps = {**help_texts(RunConfig, "run"), **help_texts(DataConfig, "data")}
    helps.update(help_texts(reg.get("space", run["space"]).config_cls, "space"))
    strategy_cls = reg.get("strategy", run["strategy"])
    helps.update(help_texts(strategy_cls.config_class(tree["strategy"]), "strategy"))
    if run.get("estimator"):
        helps.update(help_texts(reg.get("estimator", run["estimator"]).config_cls, "estimator"))
    helps.update(help_texts(Budget, "budget"))
    return helps


def parse_constraint(spec: str) -> Constraint:
    """``NAME:LOW..HIGH`` -> a registered Constraint."""
    name, sep, bounds = spec.partition(":")
    if not sep:
        raise ConfigError(f"constraint {spec!r} must look like NAME:LOW..HIGH, e.g. params:1M..2M")
    cls = registry().get("constraint", name.strip())
    return cls.from_spec(bounds)


def check_compatible(
    strategy_cls: type[Strategy], space_cls: type[SearchSpace], estimator_cls: type | None
) -> None:
    """Fail before any training when components cannot work together."""
    missing = set(strategy_cls.requires) - set(space_cls.capabilities)
    if missing:
        raise IncompatibleError(
            f"strategy '{strategy_cls.name}' needs a space with {', '.join(sorted(missing))}, "
            f"but space '{space_cls.name}' provides only "
            f"{', '.join(sorted(space_cls.capabilities)) or 'nothing'}; choose another pair"
        )
    if strategy_cls.needs_estimator and estimator_cls is None:
        names = ", ".join(registry().names("estimator")) or "none installed"
        raise IncompatibleError(
            f"strategy '{strategy_cls.name}' needs an estimator; pass --estimator ({names})"
        )
    if estimator_cls is not None:
        missing = set(getattr(estimator_cls, "requires", ())) - set(space_cls.capabilities)
        if missing:
            raise IncompatibleError(
                f"estimator '{estimator_cls.name}' needs a space with "
                f"{', '.join(sorted(missing))}, which space '{space_cls.name}' lacks"
            )


def default_out(tree: Mapping[str, Any]) -> Path:
    """``runs/<strategy>-<space>-<timestamp>``."""
    run = tree["run"]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{run['strategy']}-{run['space']}-{stamp}"


def device_of(name: str) -> torch.device:
    """Resolve ``auto`` to cuda when available."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r}; use cpu, cuda or auto") from None


@attrs.define
class Session:
    """The live components of one search run."""

    tree: dict[str, dict[str, Any]]
    space: SearchSpace
    strategy: Strategy
    context: SearchContext

    @property
    def data_info(self) -> DataInfo:
        """The data the space was built for."""
        return self.space.data


def build_session(tree: dict[str, dict[str, Any]], events: EventLog) -> Session:
    """Instantiate every component of a resolved tree (after the compatibility check)."""
    reg = registry()
    run = build_config(RunConfig, tree["run"], "run")
    strategy_cls = reg.get("strategy", run.strategy)
    space_cls = reg.get("space", run.space)
    estimator_cls = reg.get("estimator", run.estimator) if run.estimator else None
    check_compatible(strategy_cls, space_cls, estimator_cls)
    constraints = [parse_constraint(spec) for spec in run.constraints]
    seed_everything(run.seed)
    data = SearchData(build_config(DataConfig, tree["data"], "data"), run.seed)
    space = space_cls(build_config(space_cls.config_cls, tree["space"], "space"), data.info)
    budget = build_config(Budget, tree["budget"], "budget") if "budget" in tree else None
    context = SearchContext(
        space=space,
        seed=run.seed,
        device=device_of(run.device),
        events=events,
        data=data,
        constraints=constraints,
        budget=budget,
    )
    if estimator_cls is not None:
        context.estimator = estimator_cls(
            build_config(estimator_cls.config_cls, tree["estimator"], "estimator"), context
        )
    strategy = strategy_cls(strategy_cls.configure(tree["strategy"]), context)
    return Session(tree=tree, space=space, strategy=strategy, context=context)


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


def _checkpoint(run: RunDir, session: Session, epoch: int, step: int, events: EventLog) -> None:
    state = {
        "epoch": epoch,
        "step": step,
        "strategy": session.strategy.state_dict(),
        "rng": rng_state(),
        "events": len(events.records),
    }
    if session.context.estimator is not None:
        state["estimator"] = session.context.estimator.state_dict()
    run.save_checkpoint(state)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def execute(run: RunDir, resume: bool = False, progress: bool = True) -> Architecture:
    """Run (or continue) the search described by ``run``'s config; return the architecture."""
    tree = run.meta["config"]
    start_epoch, start_step = 0, 0
    state: dict[str, Any] | None = None
    kept_events: list[dict[str, Any]] = []
    if resume:
        state = run.load_checkpoint()
        start_epoch, start_step = int(state["epoch"]), int(state["step"])
        kept_events = run.truncate_events(int(state["events"]))
    events = EventLog(run.path)
    events.records.extend(kept_events)
    try:
        session = build_session(tree, events)
        strategy = session.strategy
        if state is not None:
            strategy.load_state_dict(state["strategy"])
            if session.context.estimator is not None and "estimator" in state:
                session.context.estimator.load_state_dict(state["estimator"])
            set_rng_state(state["rng"])
            _say(f"resuming {run.path} at epoch {start_epoch + 1}, step {start_step}")
        return _loop(run, session, events, start_epoch, start_step, progress)
    finally:
        events.close()


def _loop(
    run: RunDir,
    session: Session,
    events: EventLog,
    start_epoch: int,
    start_step: int,
    progress: bool,
) -> Architecture:
    strategy = session.strategy
    stop = _StopFlag()
    total = strategy.num_epochs
    if start_epoch == 0 and start_step == 0:
        _checkpoint(run, session, 0, 0, events)  # a NaN in epoch 1 still leaves a start point
    with stop.installed():
        epoch = start_epoch
        while epoch < total and not strategy.finished():
            began = time.time()
            bar = tqdm(
                total=strategy.steps_per_epoch(epoch),
                initial=start_step,
                desc=f"epoch {epoch + 1}/{total}",
                disable=not progress,
                leave=False,
                file=sys.stderr,
            )
            sums: dict[str, float] = {}
            step = start_step
            try:
                for metrics in strategy.run_epoch(epoch, start_step):
                    step += 1
                    bar.update(1)
                    for key, value in metrics.items():
                        sums[key] = sums.get(key, 0.0) + float(value)
                    if "loss" in metrics:
                        bar.set_postfix(loss=f"{float(metrics['loss']):.3f}")
                    if stop.signal is not None:
                        _checkpoint(run, session, epoch, step, events)
                        raise Interrupted(
                            f"stopped by signal {stop.signal} at epoch {epoch + 1} step {step}; "
                            f"checkpoint written, continue with `nas resume {run.path}`"
                        )
            except NonFiniteLossError as exc:
                raise NonFiniteLossError(
                    f"{exc}; the checkpoint from the start of epoch {epoch + 1} is kept: "
                    f"continue with `nas resume {run.path} --set strategy.KEY=VALUE`"
                ) from None
            finally:
                bar.close()
            done = step - start_step
            summary = {f"train_{k}": v / done for k, v in sums.items()} if done else {}
            summary.update(strategy.end_epoch(epoch))
            summary["seconds"] = round(time.time() - began, 3)
            events.log({"type": "epoch", "epoch": epoch, **summary}, step=epoch)
            _say(_epoch_line(epoch, total, summary))
            start_step = 0
            epoch += 1
            _checkpoint(run, session, epoch, 0, events)
    return _finish(run, session, events)


def _epoch_line(epoch: int, total: int, summary: Mapping[str, Any]) -> str:
    parts = [f"epoch {epoch + 1}/{total}"]
    for key, value in summary.items():
        if isinstance(value, float) and key != "seconds":
            parts.append(f"{key} {value:.4g}")
    parts.append(f"({summary['seconds']:.1f}s)")
    return "  ".join(parts)


def _finish(run: RunDir, session: Session, events: EventLog) -> Architecture:
    space, strategy = session.space, session.strategy
    arch = space.validate(strategy.derive())
    arch.save(run.path / "architecture.json")
    text = space.format(arch)
    if text != arch.key():
        run.write_text("genotype.txt", text + "\n")
    result: dict[str, Any] = {
        "architecture": arch.to_dict(),
        "text": text,
        "data_info": attrs.asdict(space.data),
    }
    constraints = session.context.constraints
    if constraints and "network" in space.capabilities:
        info = space.data
        network = space.build_network(arch)
        example = torch.zeros(1, info.in_channels, info.image_size, info.image_size)
        result["constraints"] = {
            c.spec(): {"value": (v := c.measure(network, example)), "satisfied": c.satisfied(v)}
            for c in constraints
        }
    run.write_json("result.json", result)
    events.log({"type": "final", **result})
    return arch


def start_run(
    tree: dict[str, dict[str, Any]], out: str | Path | None, progress: bool = True
) -> tuple[RunDir, Architecture]:
    """Create a run directory for ``tree`` and execute it."""
    reg = registry()
    run_cfg = tree["run"]
    check_compatible(
        reg.get("strategy", run_cfg["strategy"]),
        reg.get("space", run_cfg["space"]),
        reg.get("estimator", run_cfg["estimator"]) if run_cfg.get("estimator") else None,
    )
    load_datasets(build_config(DataConfig, tree["data"], "data"))  # missing data: fail first
    target = Path(out) if out else default_out(tree)
    meta = {"kind": "search", "config": tree, "versions": versions(), "command": " ".join(sys.argv)}
    run = RunDir.create(target, meta, dump_toml(tree, config_help(tree)))
    _say(f"run directory: {run.path}")
    return run, execute(run, resume=False, progress=progress)


def resume_run(
    path: str | Path, overrides: list[str] | None = None, progress: bool = True
) -> Architecture:
    """Continue a search run from its last checkpoint (optionally with changed settings)."""
    run = RunDir.open(path)
    meta = run.meta
    if meta.get("kind") != "search":
        raise ConfigError(f"{path} is a {meta.get('kind')} run, not a search run")
    if overrides:
        tree = {k: dict(v) for k, v in meta["config"].items()}
        run_section = tree["run"]
        resolved = resolve_config(
            run_section["strategy"], run_section["space"], file_tree=tree, overrides=overrides
        )
        meta = {**meta, "config": resolved, "overrides": meta.get("overrides", []) + overrides}
        run.write_json("run.json", meta)
        run.write_text("config.toml", dump_toml(resolved, config_help(resolved)))
    return execute(run, resume=True, progress=progress)
