"""The run engine: resolve a config, check compatibility, drive a strategy, checkpoint, resume.

``resolve_config`` turns CLI options, a TOML file and ``--set`` overrides into a config tree whose
sections are validated by the components' attrs classes; ``start_run`` and ``resume_run`` execute
it in a run directory (see :mod:`nascore.rundir`). Started by ``torchrun`` (several processes),
they search data-parallel (:mod:`nascore.distributed`): one-shot strategies only, rank 0 alone
touching the run directory.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import torch

from nascore import distributed, engine
from nascore.architecture import Architecture
from nascore.budget import Budget, is_budget_file, load_budget_file
from nascore.config import (
    build_config,
    config_to_dict,
    dotted_keys,
    dump_toml,
    field,
    help_texts,
    layer_tree,
    non_negative,
)
from nascore.constraint import Constraint, check_consistent, check_space_reaches, final_pick
from nascore.context import SearchContext
from nascore.data import DataConfig, SearchData
from nascore.errors import ConfigError, IncompatibleError, NascoreError
from nascore.events import EventLog
from nascore.executors import ExecutorConfig, make_executor
from nascore.plugins import registry
from nascore.rundir import RunDir, seed_everything, versions
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
    device: str = field(
        "auto", "auto (a GPU when there is one), cpu, cuda or cuda:N; under torchrun a bare "
        "cuda is cuda:LOCAL_RANK"
    )
    log_every: int = field(
        0, "log a line every N steps of an epoch with the running means of the step metrics, "
        "besides the epoch lines (0: epoch lines only)", validator=non_negative,
    )


#: The result file of a run (search and train alike).
RESULT = "result.json"


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
    "log_every": ("run", "log_every"),
    "device": ("run", "device"),
    "executor": ("executor", "kind"),
    "workers": ("executor", "workers"),
}

#: The sections of a search config tree.
SECTIONS = ("run", "data", "space", "strategy", "estimator", "budget", "executor", "constraint")


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
    tree: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    flags = {**(flags or {}), "strategy": strategy or None, "space": space or None}
    layer_tree(tree, file_tree, flags, FLAG_TARGETS, overrides)

    run = build_config(RunConfig, tree["run"], "run")
    if not run.strategy or not run.space:
        raise ConfigError("a run needs --strategy and --space (see `nas plugins` for the names)")
    if run.space.startswith("module:"):  # a space written as a model: its file made absolute
        from nascore.model_space import normalize_spec

        run = attrs.evolve(run, space=normalize_spec(run.space))
    reg = registry()
    strategy_cls = reg.get("strategy", run.strategy)
    space_cls = reg.get("space", run.space)
    _check_flags(flags, {
        "strategy": (f"strategy '{run.strategy}'", strategy_cls.config_class(tree["strategy"])),
        "space": (f"space '{run.space}'", space_cls.config_cls),
    })
    strategy_config = strategy_cls.configure(tree["strategy"])
    space_values = {
        **{k: d.value for k, d in
           strategy_cls.space_settings(space_cls.config_cls, tree["strategy"]).items()},
        **tree["space"],
    }
    resolved: dict[str, dict[str, Any]] = {
        "run": config_to_dict(run),
        "data": config_to_dict(build_config(DataConfig, tree["data"], "data")),
        "space": config_to_dict(build_config(space_cls.config_cls, space_values, "space")),
        "strategy": config_to_dict(strategy_config),
    }
    if run.estimator:
        est_cls = reg.get("estimator", run.estimator)
        resolved["estimator"] = config_to_dict(
            build_config(est_cls.config_cls, tree["estimator"], "estimator")
        )
    elif tree["estimator"]:
        raise ConfigError("[estimator] settings given without --estimator")
    if strategy_cls.needs_estimator:
        resolved["executor"] = config_to_dict(
            build_config(ExecutorConfig, tree["executor"], "executor")
        )
    elif tree["executor"]:
        raise ConfigError(
            "--executor/--workers (the [executor] settings) spread a discrete search's "
            f"candidates over workers; strategy '{run.strategy}' trains one supernet: drop them "
            "and scale it with --nproc N (data-parallel processes)"
        )
    if run.budget or tree["budget"]:
        if run.budget and is_budget_file(run.budget):
            base = load_budget_file(run.budget)
        else:
            base = reg.get("budget", run.budget) if run.budget else Budget()
        budget = build_config(Budget, {**config_to_dict(base), **tree["budget"]}, "budget")
        resolved["budget"] = config_to_dict(budget)
    check_consistent([parse_constraint(spec) for spec in run.constraints])
    settings = constraint_settings(run.constraints, tree["constraint"])
    if settings:
        resolved["constraint"] = settings
    return resolved


def _check_flags(flags: Mapping[str, Any], owners: Mapping[str, tuple[str, type]]) -> None:
    """A flag whose config key the chosen component does not have is a one-line error."""
    for flag, value in flags.items():
        if value is None or value == () or flag not in FLAG_TARGETS:
            continue
        section, key = FLAG_TARGETS[flag]
        if section not in owners:
            continue
        owner, cls = owners[section]
        names = [f.name for f in attrs.fields(cls)]
        if key not in names:
            raise ConfigError(
                f"--{flag.replace('_', '-')} sets {section}.{key}, which {owner} does not have; "
                f"its settings: {', '.join(names)} (use --set {section}.KEY=VALUE)"
            )


def config_help(tree: Mapping[str, Any]) -> dict[str, str]:
    """Help texts for every key of a resolved tree (for commented TOML)."""
    reg = registry()
    run = tree["run"]
    helps = {**help_texts(RunConfig, "run"), **help_texts(DataConfig, "data")}
    space_cls = reg.get("space", run["space"])
    helps.update(help_texts(space_cls.config_cls, "space"))
    strategy_cls = reg.get("strategy", run["strategy"])
    for key, default in strategy_cls.space_settings(space_cls.config_cls, tree["strategy"]).items():
        if default.source:
            helps[f"space.{key}"] = f"{helps.get(f'space.{key}', '')} [{default.source}]".lstrip()
    helps.update(help_texts(strategy_cls.config_class(tree["strategy"]), "strategy"))
    if run.get("estimator"):
        helps.update(help_texts(reg.get("estimator", run["estimator"]).config_cls, "estimator"))
    helps.update(help_texts(Budget, "budget"))
    helps.update(help_texts(ExecutorConfig, "executor"))
    for name in {key.partition(".")[0] for key in tree.get("constraint", {})}:
        config_cls = reg.get("constraint", name).config_cls
        helps.update({f"constraint.{key}": text
                      for key, text in help_texts(config_cls, name).items()})
    return helps


def parse_constraint(spec: str, settings: Mapping[str, Any] | None = None,
                     device: torch.device | None = None) -> Constraint:
    """``NAME:LOW..HIGH`` -> a registered Constraint, configured by its ``[constraint]``
    settings (``NAME.KEY``, in ``settings``) and the run's ``device``."""
    name, sep, bounds = spec.partition(":")
    if not sep:
        raise ConfigError(f"constraint {spec!r} must look like NAME:LOW..HIGH, e.g. params:1M..2M")
    cls = registry().get("constraint", name.strip())
    constraint = cls.from_spec(bounds)
    if cls.config_cls is not None:
        constraint.configure(_constraint_config(cls, settings or {}), device)
    return constraint


def _constraint_config(cls: type[Constraint], settings: Mapping[str, Any]) -> Any:
    """The settings of constraint class ``cls`` from a ``[constraint]`` section."""
    own = {key.partition(".")[2]: value for key, value in dotted_keys(settings).items()
           if key.partition(".")[0] == cls.name}
    return build_config(cls.config_cls, own, f"constraint.{cls.name}")


def constraint_settings(specs: Sequence[str], section: Mapping[str, Any]) -> dict[str, Any]:
    """The resolved ``[constraint]`` section: every setting (``NAME.KEY``) of the constrained
    metrics that have settings; settings of a metric not constrained are a one-line error."""
    reg = registry()
    classes = {cls.name: cls for cls in
               (reg.get("constraint", spec.partition(":")[0].strip()) for spec in specs)}
    flat = dotted_keys(section)
    for key in flat:
        name = key.partition(".")[0]
        if name not in classes or classes[name].config_cls is None:
            raise ConfigError(
                f"constraint.{key} sets a constraint the run does not have; add "
                f"--constraint {name}:LOW..HIGH or drop the setting"
            )
    resolved = {}
    for name, cls in classes.items():
        if cls.config_cls is not None:
            config = config_to_dict(_constraint_config(cls, flat))
            resolved.update({f"{name}.{key}": value for key, value in config.items()})
    return resolved


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
    if estimator_cls is not None and not strategy_cls.needs_estimator:
        raise IncompatibleError(
            f"strategy '{strategy_cls.name}' trains a supernet and uses no estimator; drop "
            "--estimator (estimators serve discrete strategies such as evolution)"
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


def check_config(tree: Mapping[str, Mapping[str, Any]]) -> None:
    """The checks of a resolved tree that need neither data nor a network: the components fit
    together and every constraint parses."""
    reg = registry()
    run = build_config(RunConfig, tree["run"], "run")
    check_compatible(reg.get("strategy", run.strategy), reg.get("space", run.space),
                     reg.get("estimator", run.estimator) if run.estimator else None)
    for spec in run.constraints:
        parse_constraint(spec, tree.get("constraint"))


def dry_run(tree: dict[str, dict[str, Any]], out: str | Path | None = None) -> list[str]:
    """Everything ``start_run`` checks before it writes (``nas run --dry-run``): the config,
    the components' fit, ``out`` being free, the data, and the space and strategy built (a
    one-shot strategy builds its supernet and checks the constraints' reach); no executor is
    started and nothing is written. Returns what was checked, one line each."""
    check_config(tree)
    if out is not None:
        RunDir.check_free(out)
    session = build_session({k: v for k, v in tree.items() if k != "executor"}, EventLog())
    run, info = tree["run"], session.data_info
    lines = [
        f"strategy {run['strategy']} on space {run['space']}: config resolved, components fit",
        f"data {tree['data']['dataset']}: {info.num_classes} classes, {info.in_channels}x"
        f"{info.image_size}x{info.image_size} images",
        f"strategy built ({session.strategy.num_epochs} epochs)",
    ]
    lines += [f"constraint {spec}: parsed" for spec in run["constraints"]]
    if out is not None:
        lines.append(f"--out {out}: free")
    return lines


def default_out(tree: Mapping[str, Any]) -> Path:
    """``runs/<strategy>-<space>-<timestamp>``."""
    run = tree["run"]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    space = run["space"].rpartition(":")[2] if run["space"].startswith("module:") else run["space"]
    return Path("runs") / f"{run['strategy']}-{space}-{stamp}"


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

    def close(self) -> None:
        """Stop the executor's workers (if any)."""
        if self.context.executor is not None:
            self.context.executor.close()


def build_session(tree: dict[str, dict[str, Any]], events: EventLog) -> Session:
    """Instantiate every component of a resolved tree (after the compatibility check).

    Under a launcher (torchrun) this process joins the process group first and takes its share
    of the data (one-shot strategies only)."""
    reg = registry()
    run = build_config(RunConfig, tree["run"], "run")
    strategy_cls = reg.get("strategy", run.strategy)
    space_cls = reg.get("space", run.space)
    estimator_cls = reg.get("estimator", run.estimator) if run.estimator else None
    check_compatible(strategy_cls, space_cls, estimator_cls)
    if distributed.launched() and strategy_cls.kind != "one-shot":
        raise IncompatibleError(
            f"strategy '{run.strategy}' evaluates candidates in one process; spread them over "
            "workers with --executor process|ray --workers N instead of torchrun/--nproc"
        )
    distributed.join()
    device = distributed.local_device(run.device)
    constraints = [parse_constraint(spec, tree.get("constraint"), device)
                   for spec in run.constraints]
    seed_everything(run.seed)
    data = SearchData(build_config(DataConfig, tree["data"], "data"), run.seed)
    if distributed.active():
        data.shard(distributed.rank(), distributed.world_size())
    space = space_cls(build_config(space_cls.config_cls, tree["space"], "space"), data.info)
    if constraints and strategy_cls.needs_estimator:  # one-shot strategies check theirs
        check_space_reaches(space, constraints)
    budget = build_config(Budget, tree["budget"], "budget") if "budget" in tree else None
    executor = None
    if "executor" in tree:
        executor = make_executor(build_config(ExecutorConfig, tree["executor"], "executor"))
    context = SearchContext(
        space=space,
        seed=run.seed,
        device=device,
        events=events,
        data=data,
        constraints=constraints,
        budget=budget,
        executor=executor,
    )
    if estimator_cls is not None:
        context.estimator = estimator_cls(
            build_config(estimator_cls.config_cls, tree["estimator"], "estimator"), context
        )
    strategy = strategy_cls(strategy_cls.configure(tree["strategy"]), context)
    return Session(tree=tree, space=space, strategy=strategy, context=context)


def _estimator_state(session: Session) -> dict[str, Any]:
    estimator = session.context.estimator
    return {} if estimator is None else {"estimator": estimator.state_dict()}


def _restore_estimator(session: Session) -> Any:
    def restore(extra: Mapping[str, Any]) -> None:
        estimator = session.context.estimator
        if estimator is not None and "estimator" in extra:
            estimator.load_state_dict(extra["estimator"])

    return restore


def _finish(session: Session, events: EventLog) -> Any:
    """Derive the architecture and write ``architecture.json``, ``genotype.txt`` and
    ``result.json`` (with the constraints measured on the network the search is about)."""

    def finish(run: RunDir) -> Architecture:
        space, strategy = session.space, session.strategy
        constraints = session.context.constraints
        readings: dict[str, list[float]] = {}
        recheck = None
        try:
            arch = space.validate(strategy.derive())
            if constraints and "network" in space.capabilities:
                info = space.data
                ranked = strategy.ranked()
                arch, readings, recheck = final_pick(
                    constraints, arch,
                    None if ranked is None else (space.validate(a) for a in ranked),
                    lambda a: space.build_network(a, **strategy.network_options()),
                    torch.zeros(1, info.in_channels, info.image_size, info.image_size),
                    space.format,
                )
        except NascoreError as exc:  # the search is saved; `nas show` repeats why
            events.log({"type": "derive_failed", "error": str(exc)})
            exc.args = (f"{exc}; the search is saved: derive again with "
                        f"`nas resume {run.path} --set SECTION.KEY=VALUE`",)
            raise
        run.write_text("architecture.json", json.dumps(arch.to_dict(), indent=2) + "\n")
        text = space.format(arch)
        if text != arch.key():
            run.write_text("genotype.txt", text + "\n")
        result: dict[str, Any] = {
            "architecture": arch.to_dict(),
            "text": text,
            "data_info": attrs.asdict(space.data),
            "network": strategy.network_options(),
            **strategy.derivation_report(),
        }
        if readings:
            result["constraints"] = {
                c.spec(): {"value": (v := statistics.median(r := readings[c.spec()])),
                           "satisfied": c.satisfied(v), **({"readings": r} if len(r) > 1 else {}),
                           **_predicted(space, strategy, arch, c)}
                for c in constraints
            }
        if recheck is not None:
            result["constraint_recheck"] = recheck
        run.write_json(RESULT, result)
        events.log({"type": "final", **result})
        return arch

    return finish


def _predicted(space: SearchSpace, strategy: Strategy, arch: Architecture,
               constraint: Constraint) -> dict[str, float]:
    """``{"predicted": cost}``: the space's cost-table estimate of ``arch``'s cost, for a
    constraint whose table only estimates it (latency) on a space with such a table."""
    one_hot = getattr(space, "one_hot", None)
    if (not constraint.table_predicts or one_hot is None or "cost" not in space.capabilities
            or constraint.metric not in space.cost_metrics):
        return {}
    from nascore.oneshot.constraints import cost_tables

    proxy = strategy.cost_options() if hasattr(strategy, "cost_options") else {}
    table = cost_tables(space, [constraint], proxy)[constraint.metric]
    return {"predicted": table.exact(one_hot(arch))}


@contextlib.contextmanager
def _process_group() -> Iterator[None]:
    """The launcher's process group for the length of a run (nothing on one process)."""
    joined = distributed.launched() and not distributed.active()
    distributed.join()
    try:
        yield
    finally:
        if joined:
            distributed.leave()


def _command() -> str:
    """The command line of the run (the user's, when ``nas run --nproc`` launched it)."""
    import os

    return os.environ.get(LAUNCH_COMMAND) or " ".join(sys.argv)


#: Environment variable in which ``nas run --nproc`` passes its command line to the processes.
LAUNCH_COMMAND = "NASCORE_LAUNCH_COMMAND"


def start_run(
    tree: dict[str, dict[str, Any]], out: str | Path | None, progress: bool = True
) -> tuple[RunDir, Architecture]:
    """Build every component of ``tree`` (all checks, data loading), then create the run
    directory and search. Under torchrun every process calls this; rank 0 chooses the
    directory and writes it, and every process returns the (same) architecture."""
    with _process_group():
        target = distributed.broadcast_object(Path(out) if out else default_out(tree))
        distributed.main_first(lambda: RunDir.check_free(target))
        events = EventLog()
        session = build_session(tree, events)
        meta = {"kind": "search", "config": tree, "versions": versions(), "command": _command(),
                "processes": distributed.world_size()}
        try:
            run, arch = engine.start(
                target, meta, dump_toml(tree, config_help(tree)), session.strategy, events,
                progress, extra_state=lambda: _estimator_state(session),
                finish=_finish(session, events), log_every=tree["run"].get("log_every", 0),
            )
        finally:
            session.close()
        return run, arch if arch is not None else session.space.validate(session.strategy.derive())


def resume_run(
    path: str | Path, overrides: list[str] | None = None, progress: bool = True
) -> Architecture:
    """Continue a search run from its last checkpoint (optionally with changed settings); under
    torchrun on every process, with the same number of processes as before for the same
    result as an uninterrupted run."""
    holder: dict[str, Any] = {}

    def build(meta: dict[str, Any], events: EventLog) -> engine.Resumed:
        tree, new_meta, toml = meta["config"], None, ""
        if overrides:
            old = {k: dict(v) for k, v in tree.items()}
            run_section = old["run"]
            tree = resolve_config(
                run_section["strategy"], run_section["space"], file_tree=old, overrides=overrides
            )
            new_meta = {**meta, "config": tree,
                        "overrides": meta.get("overrides", []) + list(overrides)}
            toml = dump_toml(tree, config_help(tree))
        before, now = meta.get("processes", 1), distributed.world_size()
        if before != now:
            engine.log.warning(
                f"{run.path} searched with {before} process(es) and continues with {now}: "
                "batches are shared out differently from here on, so the result can differ "
                "from an uninterrupted run"
            )
        session = build_session(tree, events)
        holder["session"], holder["events"] = session, events
        return engine.Resumed(
            session.strategy, _restore_estimator(session), lambda: _estimator_state(session),
            new_meta, toml, log_every=tree["run"].get("log_every", 0),
        )

    def finish(run_dir: RunDir) -> Architecture:
        return _finish(holder["session"], holder["events"])(run_dir)

    with _process_group():
        run = distributed.main_first(lambda: RunDir.open(path)) or RunDir(path)
        try:
            arch = engine.resume(run, "search", build, finish, progress)
        finally:
            if "session" in holder:
                holder["session"].close()
        return arch if arch is not None else holder["session"].space.validate(
            holder["session"].strategy.derive())
