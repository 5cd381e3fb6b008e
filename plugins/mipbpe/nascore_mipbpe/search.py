"""``nas bpe search``: Algorithm 1 on a real space and dataset, in a resumable run directory.

The run draws G architectures from the space (or takes them from a table), gets their final
accuracies, then runs :class:`~nascore_mipbpe.mip.MinimumImportancePruning` with a
:class:`~nascore_mipbpe.evaluators.SampleEvaluator` over the budget grid, and writes the best
budget as a budget file. Layout::

    RUN/config.toml         resolved config, every default spelled out
    RUN/run.json            the config as JSON, versions, kind "bpe-search"
    RUN/architectures.json  the architecture sample G
    RUN/final.json          their final accuracies and where they came from
    RUN/estimates.jsonl     every estimate (budget, architecture, score, seconds): the resume cache
    RUN/state.json          the MIP state (D, fixed values, pending budgets, RNG), after each budget
    RUN/events.jsonl        the estimator's events and one record per sampled / evaluated budget
                            and pruning step
    RUN/budget.toml         the best budget (``--budget RUN/budget.toml``)
    RUN/result.json         the best budget, its r_s and seconds, the pruning steps, D
    RUN/report/             the analysis of D (as ``nas bpe analyze``): text, JSON, charts

Sources of the final accuracies (``archs.final``): ``report:KEY`` (the estimator's report, e.g.
``report:test_200`` of the ``nb201`` table), ``table:PATH`` (architectures and final accuracies
of a budget table, e.g. the authors' released one), ``full`` (the paper's full training setting
*f*), a budget preset name or a budget file. ``auto`` is ``report:test_200`` for ``nb201`` and
``full`` otherwise.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

import nascore
from nascore import (
    Architecture,
    Budget,
    ConfigError,
    DataError,
    IncompatibleError,
    NascoreError,
    SearchContext,
    SearchSpace,
    build_config,
    registry,
)
from nascore.budget import budget_toml, load_budget_file
from nascore.config import config_to_dict, dump_toml, help_texts, layer_tree
from nascore.config import positive as _positive
from nascore.context import device_of
from nascore.data import DataConfig, SearchData
from nascore.events import EventLog
from nascore.executors import ExecutorConfig, make_executor
from nascore.plugins import make_space
from nascore.rundir import RunDir, versions
from nascore_mipbpe.analysis import analyze, write_report
from nascore_mipbpe.costs import MeasuredCost
from nascore_mipbpe.evaluators import EstimateCache, SampleEvaluator
from nascore_mipbpe.mip import SECONDS_PER_HOUR, MinimumImportancePruning, MIPSettings, MIPState
from nascore_mipbpe.presets import FULL
from nascore_mipbpe.tables import BudgetTable, read_table

KIND = "bpe-search"
#: The hyper-parameter values the authors explored (source: MIP-BPE code release and
#: shared/METHODS.md). Batch size, learning rate, precision and cutout cost the same FLOPs; Eq. 9
#: takes the one with the least measured training time per FLOP in D as their cheapest value
#: (see :func:`nascore_mipbpe.sampling.cheapest_value`), not the one listed first.
DEFAULT_GRID: dict[str, list[Any]] = {
    "epochs": [10, 15, 20, 25, 30, 50, 100, 300],
    "batch_size": [96, 128, 256, 512, 1024],
    "lr": [0.025, 0.03, 0.06, 0.1],
    "layers": [6, 8, 10, 12, 14, 16, 20, 24],
    "channels": [8, 10, 12, 14, 16, 24, 36, 64],
    "precision": [16, 32],
    "cutout": [0, 16],
    "image_size": [16, 32],
}
#: The only budgets tabular estimators can answer (NAS-Bench-201: the 12-epoch schedule).
TABULAR_GRIDS: dict[str, dict[str, list[Any]]] = {"nb201": {"epochs": [12]}}
#: The final accuracy a tabular estimator reports.
TABULAR_FINAL = {"nb201": "report:test_200"}
SECTIONS = ("run", "data", "space", "estimator", "archs", "mip", "budget", "grid", "executor")
FLAG_TARGETS = {
    "space": ("run", "space"),
    "estimator": ("run", "estimator"),
    "seed": ("run", "seed"),
    "dataset": ("data", "dataset"),
    "data_dir": ("data", "data_dir"),
    "archs": ("archs", "count"),
    "final": ("archs", "final"),
    "samples": ("mip", "samples"),
    "executor": ("executor", "kind"),
    "workers": ("executor", "workers"),
}


@attrs.frozen
class BPERunConfig:
    """Which space, estimator and seed a budget search uses."""

    space: str = nascore.field("darts", "search space the architectures are drawn from")
    estimator: str = nascore.field(
        "train", "estimator scoring an architecture under a budget (train, nb201)"
    )
    seed: int = nascore.field(0, "seed of the architecture sample, the sampler and the forest")
    device: str = nascore.field("cpu", "cpu, cuda or auto")


@attrs.frozen
class ArchSampleConfig:
    """The architecture sample G and its final accuracies."""

    count: int = nascore.field(
        100, "architectures in G (source: paper, Sec. 4.1: 100)", validator=_positive
    )
    final: str = nascore.field(
        "auto", "final accuracies: auto, report:KEY, table:PATH, full (the paper's f, Sec. "
        "3.1), a budget preset or a budget file"
    )
    chunk: int = nascore.field(
        10, "architectures per estimator call (and per write of the resume cache)",
        validator=_positive,
    )
    cost_archs: int = nascore.field(
        3, "architectures of G whose measured FLOPs price a budget (Eq. 2, Eq. 9)",
        validator=_positive,
    )


class Interrupted(NascoreError):
    """The search was stopped (Ctrl-C); the run directory holds everything to resume."""

    exit_code = 130


# -- configuration -------------------------------------------------------------------------------
def _check_grid(grid: Mapping[str, Any]) -> dict[str, list[Any]]:
    fields = {f.name for f in attrs.fields(Budget)}
    checked: dict[str, list[Any]] = {}
    for name, options in grid.items():
        if name not in fields:
            raise ConfigError(
                f"unknown grid hyper-parameter {name!r}; Budget fields: {', '.join(sorted(fields))}"
            )
        options = options if isinstance(options, list) else [options]
        if not options:
            raise ConfigError(f"grid.{name} has no values; give at least one")
        values = [getattr(build_config(Budget, {name: v}, "grid"), name) for v in options]
        if len(set(values)) != len(values):
            raise ConfigError(f"grid.{name} lists a value twice: {options}")
        checked[name] = values
    return checked


def resolve_search_config(
    flags: Mapping[str, Any] | None = None,
    file_tree: Mapping[str, Any] | None = None,
    overrides: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """A validated config tree with every default spelled out (defaults < file < flags <
    ``--set``)."""
    tree: dict[str, dict[str, Any]] = {s: {} for s in SECTIONS}
    layer_tree(tree, file_tree, flags, FLAG_TARGETS, overrides)
    run = build_config(BPERunConfig, tree["run"], "run")
    reg = registry()
    space_cls = reg.get("space", run.space)
    estimator_cls = reg.get("estimator", run.estimator)
    archs = build_config(ArchSampleConfig, tree["archs"], "archs")
    tabular = TABULAR_GRIDS.get(run.estimator)
    if tabular is not None:
        if tree["grid"] and _check_grid(tree["grid"]) != tabular:
            raise ConfigError(
                f"estimator {run.estimator} answers only the budget {tabular} of its table; "
                "drop the [grid] settings"
            )
        grid = dict(tabular)
    else:
        grid = {**DEFAULT_GRID, **_check_grid(tree["grid"])}
    if archs.final == "auto":
        archs = attrs.evolve(archs, final=TABULAR_FINAL.get(run.estimator, "full"))
    check_final_source(archs.final)
    return {
        "run": config_to_dict(run),
        "data": config_to_dict(build_config(DataConfig, tree["data"], "data")),
        "space": config_to_dict(build_config(space_cls.config_cls, tree["space"], "space")),
        "estimator": config_to_dict(
            build_config(estimator_cls.config_cls, tree["estimator"], "estimator")
        ),
        "archs": config_to_dict(archs),
        "mip": config_to_dict(build_config(MIPSettings, tree["mip"], "mip")),
        "budget": config_to_dict(build_config(Budget, {**_base_values(tabular),
                                                            **tree["budget"]}, "budget")),
        "grid": _check_grid(grid),
        "executor": config_to_dict(build_config(ExecutorConfig, tree["executor"], "executor")),
    }


def _base_values(tabular: Mapping[str, list[Any]] | None) -> dict[str, Any]:
    """The base budget's values a tabular estimator fixes (its table's only budget)."""
    return {key: values[0] for key, values in (tabular or {}).items()}


def config_help(tree: Mapping[str, Any]) -> dict[str, str]:
    """Help texts of every key of a resolved tree (for the commented config.toml)."""
    reg = registry()
    helps = {
        **help_texts(BPERunConfig, "run"), **help_texts(DataConfig, "data"),
        **help_texts(ArchSampleConfig, "archs"), **help_texts(MIPSettings, "mip"),
        **help_texts(Budget, "budget"), **help_texts(ExecutorConfig, "executor"),
        **help_texts(reg.get("space", tree["run"]["space"]).config_cls, "space"),
        **help_texts(reg.get("estimator", tree["run"]["estimator"]).config_cls, "estimator"),
    }
    for name in tree["grid"]:
        helps[f"grid.{name}"] = "values Algorithm 1 may choose (one value: fixed)"
    return helps


# -- the run -------------------------------------------------------------------------------------
class BudgetSearch:
    """A budget search in run directory ``run`` (see the module docstring)."""

    def __init__(self, run: RunDir, progress: bool = True) -> None:
        self.run = run
        self.tree = run.meta["config"]
        self.verbose = progress
        run_cfg = build_config(BPERunConfig, self.tree["run"], "run")
        self.seed = run_cfg.seed
        self.archs_cfg = build_config(ArchSampleConfig, self.tree["archs"], "archs")
        self.settings = build_config(MIPSettings, self.tree["mip"], "mip")
        self.base = build_config(Budget, self.tree["budget"], "budget")
        self.grid = self.tree["grid"]
        reg = registry()
        estimator_cls = reg.get("estimator", run_cfg.estimator)
        space_cls = reg.get("space", run_cfg.space)
        missing = set(estimator_cls.requires) - set(space_cls.capabilities)
        if missing:
            raise IncompatibleError(
                f"estimator '{estimator_cls.name}' needs a space with "
                f"{', '.join(sorted(missing))}, which space '{space_cls.name}' lacks"
            )
        data = SearchData(build_config(DataConfig, self.tree["data"], "data"), self.seed)
        self.space: SearchSpace = make_space(run_cfg.space, self.tree["space"], data.info)
        self.events = EventLog(run.path, tensorboard=False)
        executor = build_config(ExecutorConfig, self.tree.get("executor", {}), "executor")
        context = SearchContext(
            space=self.space, seed=self.seed, device=device_of(run_cfg.device),
            events=self.events, data=data, executor=make_executor(executor),
        )
        self.estimator = estimator_cls(
            build_config(estimator_cls.config_cls, self.tree["estimator"], "estimator"), context
        )
        self.archs, table_final = self._architectures()
        self.evaluator = SampleEvaluator(
            self.estimator, self.archs, self.base, EstimateCache(run.path / "estimates.jsonl"),
            self.archs_cfg.chunk, self.say,
        )
        self.final = self._final(table_final)
        self.cost = MeasuredCost(
            self.space, self.archs[: self.archs_cfg.cost_archs], data.info, self.base
        )

    def say(self, message: str) -> None:
        """A progress line on stderr (unless quiet)."""
        if self.verbose:
            print(message, file=sys.stderr, flush=True)

    def _architectures(self) -> tuple[list[Architecture], list[float] | None]:
        path = self.run.path / "architectures.json"
        final = self.archs_cfg.final
        table = _table_source(final)
        if path.exists():
            archs = [Architecture.from_dict(a) for a in json.loads(path.read_text())]
            return archs, None if table is None else _table_final(table, len(archs))
        if table is not None:
            archs = [self.space.parse(text) for text in table.architectures[: self.archs_cfg.count]]
            finals = _table_final(table, len(archs))
        else:
            archs, finals = self._draw(), None
        self.run.write_json("architectures.json", [a.to_dict() for a in archs])
        return archs, finals

    def _draw(self) -> list[Architecture]:
        if "sample" not in self.space.capabilities:
            raise IncompatibleError(
                f"space '{self.space.name}' cannot sample architectures; give them with "
                "--final table:PATH"
            )
        rng = np.random.default_rng(self.seed)
        count = self.archs_cfg.count
        found: dict[str, Architecture] = {}
        for _ in range(100 * count):
            if len(found) == count:
                break
            arch = self.space.sample(rng)
            found.setdefault(arch.key(), arch)
        if len(found) < count:
            raise DataError(
                f"space '{self.space.name}' gave only {len(found)} distinct architectures; "
                "lower archs.count"
            )
        return list(found.values())

    def _final(self, table_final: list[float] | None) -> np.ndarray:
        path = self.run.path / "final.json"
        if path.exists():
            return np.array(json.loads(path.read_text())["accuracies"])
        source = self.archs_cfg.final
        self.say(f"final accuracies of {len(self.archs)} architectures from {source}")
        if table_final is not None:
            accuracies = table_final
        elif source.startswith("report:"):
            accuracies = self.evaluator.reported(source.partition(":")[2])
        else:
            accuracies = self.evaluator.scores(final_budget(source))
        self.run.write_json("final.json", {"source": source, "accuracies": accuracies})
        return np.array(accuracies)

    def execute(self, state: MIPState | None = None) -> dict[str, Any]:
        """Run Algorithm 1 from ``state`` (or from the start) to the end; write the results."""
        mip = MinimumImportancePruning(
            self.grid, self.final, self.cost, self.settings, self.seed, state
        )
        try:
            best = mip.run(self.evaluator, lambda event: self._on_event(mip, event))
        finally:
            self.estimator.context.executor.close()
        return self._finish(mip, best)

    def _on_event(self, mip: MinimumImportancePruning, event: dict[str, Any]) -> None:
        self.run.write_json("state.json", mip.state.to_dict())
        self.events.log(event)
        kind = event["type"]
        if kind == "bpe_sampled":
            self.say(f"round {event['round'] + 1}: sampled {len(event['budgets'])} budget(s); "
                     f"free: {', '.join(event['free']) or 'none'}")
        elif kind == "bpe_budget":
            shown = {k: v for k, v in event["budget"].items() if len(self.grid[k]) > 1}
            self.say(f"round {event['round'] + 1}: {_values(shown)}  r_s {event['r_s']:.4f}  "
                     f"{event['seconds']:.2f} s/arch  ({event['left']} left in the round)")
        elif kind == "bpe_fix":
            ranked = sorted(((k, v) for k, v in event["importances"].items()
                             if len(self.grid[k]) > 1), key=lambda kv: -kv[1])
            self.say("  importance " + ", ".join(f"{k} {v:.3f}" for k, v in ranked))
            self.say(f"  fixed {event['name']} = {event['value']} ({event['rule']}, importance "
                     f"{event['importance']:.3f})")

    def _finish(self, mip: MinimumImportancePruning, best: dict[str, Any]) -> dict[str, Any]:
        budget = self.evaluator.budget(best["budget"])
        hours = best["seconds"] / SECONDS_PER_HOUR
        run_cfg = self.tree["run"]
        header = [
            f"Budget found by `nas bpe search` (MIP-BPE Algorithm 1) in {self.run.path}",
            f"space {run_cfg['space']}, estimator {run_cfg['estimator']}, dataset "
            f"{self.tree['data']['dataset']}, {len(self.archs)} architectures, final accuracies "
            f"from {self.archs_cfg.final}",
            f"r_s = {best['r_s']:.4f}, mean seconds per estimate = {best['seconds']:.3f}",
            f"Use it with: nas run ... --budget {self.run.path / 'budget.toml'}",
        ]
        self.run.write_text("budget.toml", budget_toml(budget, header))
        result = {
            "budget": config_to_dict(budget), "r_s": best["r_s"], "seconds": best["seconds"],
            "objective": best["r_s"] - self.settings.time_weight * hours,
            "fixes": mip.state.fixes, "records": mip.state.records,
        }
        self.run.write_json("result.json", result)
        table = BudgetTable(
            names=tuple(self.grid),
            ids=tuple(f"b{i + 1}" for i in range(len(mip.state.records))),
            values=np.array([[r["budget"][n] for n in self.grid] for r in mip.state.records],
                            dtype=float),
            accuracies=np.array([r["accuracies"] for r in mip.state.records]),
            final=self.final,
            hours=np.array([r["seconds"] / SECONDS_PER_HOUR for r in mip.state.records]),
            space=self.space.name,
            data=self.space.data,
            architectures=tuple(self.space.format(a) for a in self.archs),
        )
        analysis = analyze(table, self.cost, self.settings, self.seed,
                           registry().components["budget"])
        write_report(analysis, self.run.path / "report")
        self.events.close()
        return result


def _values(values: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items()) or "(fixed budget)"


def _table_source(final: str) -> BudgetTable | None:
    return read_table(final.partition(":")[2]) if final.startswith("table:") else None


def _table_final(table: BudgetTable, count: int) -> list[float]:
    return [float(v) for v in table.final[:count]]


def check_final_source(source: str) -> None:
    """Fail early on a final-accuracy source that names no report key, table or budget."""
    if source.startswith("report:"):
        if not source.partition(":")[2]:
            raise ConfigError("archs.final report:KEY needs a KEY, e.g. report:test_200")
    elif source.startswith("table:"):
        _table_source(source)
    else:
        final_budget(source)


def final_budget(source: str) -> Budget:
    """The budget named by an ``archs.final`` source: ``full``, a preset or a budget file."""
    if source == "full":
        return FULL
    if source.endswith(".toml"):
        return load_budget_file(source)
    presets = registry().components["budget"]
    if source not in presets:
        raise ConfigError(
            f"unknown final-accuracy source {source!r}; use report:KEY, table:PATH, full, a "
            f"budget file (.toml) or a preset ({', '.join(sorted(presets))})"
        )
    return presets[source]


def start_search(tree: dict[str, dict[str, Any]], out: str | Path | None,
                 progress: bool = True) -> tuple[RunDir, dict[str, Any]]:
    """Create a run directory for ``tree`` and run the search."""
    run_cfg = tree["run"]
    target = Path(out) if out else Path("runs") / (
        f"bpe-{run_cfg['space']}-{run_cfg['estimator']}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    meta = {"kind": KIND, "config": tree, "versions": versions(), "command": " ".join(sys.argv)}
    run = RunDir.create(target, meta, dump_toml(tree, config_help(tree)))
    if progress:
        print(f"run directory: {run.path}", file=sys.stderr, flush=True)
    with _interruptible(run):
        return run, BudgetSearch(run, progress).execute()


def resume_search(path: str | Path, progress: bool = True) -> tuple[RunDir, dict[str, Any]]:
    """Continue the search in run directory ``path`` from its last saved state."""
    run = RunDir.open(path)
    if run.meta.get("kind") != KIND:
        raise ConfigError(f"{path} is a {run.meta.get('kind')} run, not a budget search")
    state_path = run.path / "state.json"
    state = MIPState.from_dict(json.loads(state_path.read_text())) if state_path.exists() else None
    if progress:
        where = f" at round {state.round + 1}" if state else ""
        print(f"resuming {run.path}{where}", file=sys.stderr, flush=True)
    with _interruptible(run):
        return run, BudgetSearch(run, progress).execute(state)


@contextlib.contextmanager
def _interruptible(run: RunDir) -> Iterator[None]:
    """Ctrl-C becomes :class:`Interrupted` naming the resume command (the state on disk is
    consistent after every budget, and every finished chunk of estimates is cached)."""
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(
            f"stopped; continue with `nas bpe search --resume {run.path}`"
        ) from None
