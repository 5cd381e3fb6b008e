"""Search spaces written as models: a factory of an ``nn.Module`` marked with
:mod:`nascore.nn.choices` becomes a :class:`~nascore.space.SearchSpace`.

The space's name is its *module spec*, ``module:path/to/file.py:factory`` or
``module:package.module:factory``: runs record it, so ``nas resume``, ``nas train`` and ``nas
export`` rebuild the space from it (a file path is made absolute). A factory defined where it
cannot be named again (a lambda, a local function) gives a space that works in the Python
process that made it only.

* one decision per choice label (:class:`~nascore.space.Decision`: layer choices by candidate
  name, input choices by the set of chosen inputs, value choices by value);
* one one-shot decision group per label with one edge: layer choices mix their candidates and
  input choices their inputs through the strategy's policy, value layers their values by weight
  sharing (:mod:`nascore.nn.choices`);
* cost tables measured on built networks (``count_params``/``count_macs``): the cost of the
  first candidate of every choice is the ``constant``, each other candidate adds its measured
  difference. When choices interact (a layer's width and kernel size both chosen) the sums
  would be wrong, so the metric has no table: discrete strategies still measure every network,
  one-shot constraint handlers refuse it with one line.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np
import torch
from torch import nn

from nascore.architecture import Architecture
from nascore.costs import CostTable, count_macs, count_params
from nascore.errors import ConfigError, IncompatibleError, MalformedArchitecture, UsageError
from nascore.nn.choices import InputChoice, LayerChoice, ValueChoice, choices_of, freeze
from nascore.space import (
    DataInfo,
    Decision,
    DecisionGroup,
    EdgeWeights,
    SearchSpace,
    Supernet,
    SupernetOptions,
)

PREFIX = "module:"
#: Specs of spaces made in this process from factories that cannot be named again.
_LOCAL: dict[str, Callable[..., nn.Module]] = {}
_CLASSES: dict[str, type[ModelSpace]] = {}


@attrs.frozen
class ModelSpaceConfig:
    """A space written as a model has no settings: the factory decides everything."""


def _load_file(path: Path) -> Any:
    key = "nascore_user_model_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot import {path} as a Python file; name a .py file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[key]
        raise UsageError(f"importing {path} failed: {_one_line(exc)}; fix the file") from None
    return module


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0]


def normalize_spec(spec: str) -> str:
    """``spec`` with a file path made absolute (so a run can be resumed from anywhere)."""
    where, factory = _split(spec)
    if _is_file(where):
        return f"{PREFIX}{Path(where).expanduser().resolve()}:{factory}"
    return spec


def _split(spec: str) -> tuple[str, str]:
    where, sep, factory = spec[len(PREFIX):].rpartition(":")
    if not spec.startswith(PREFIX) or not sep or not where or not factory.isidentifier():
        raise UsageError(f"cannot read space {spec!r}: write module:path/to/file.py:factory or "
                         "module:package.module:factory")
    return where, factory


def _is_file(where: str) -> bool:
    return where.endswith(".py") or "/" in where or "\\" in where


def load_factory(spec: str) -> Callable[..., nn.Module]:
    """The factory a module spec names, with a one-line error when it cannot be found."""
    if spec in _LOCAL:
        return _LOCAL[spec]
    where, name = _split(spec)
    if where == "python":
        raise UsageError(f"space {spec} was made in another Python process from a factory that "
                         "cannot be named again; define the factory at module level in a file")
    if _is_file(where):
        path = Path(where).expanduser().resolve()
        if not path.is_file():
            raise UsageError(f"space {spec}: no file {path}")
        module = _load_file(path)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise UsageError(f"space {spec}: cannot import {where} ({exc})") from None
    factory = getattr(module, name, None)
    if not callable(factory):
        raise UsageError(f"space {spec}: {where} defines no callable {name}")
    return factory


def spec_of(factory: Callable[..., nn.Module]) -> str:
    """The module spec naming ``factory``; a local one for factories that cannot be named."""
    module, qualname = getattr(factory, "__module__", None), getattr(factory, "__qualname__", "")
    if qualname.isidentifier() and module:
        if module == "__main__":
            path = getattr(sys.modules["__main__"], "__file__", None)
            if path:
                return f"{PREFIX}{Path(path).resolve()}:{qualname}"
        else:
            loaded = sys.modules.get(module)
            file = getattr(loaded, "__file__", None)
            if module.startswith("nascore_user_model_") and file:
                return f"{PREFIX}{Path(file).resolve()}:{qualname}"
            return f"{PREFIX}{module}:{qualname}"
    spec = f"{PREFIX}python:{''.join(c if c.isalnum() else '_' for c in qualname)}{id(factory)}"
    _LOCAL[spec] = factory
    return spec


def space_class(spec: str) -> type[ModelSpace]:
    """The space class of a module spec (made once per process)."""
    spec = spec if spec in _LOCAL else normalize_spec(spec)
    if spec not in _CLASSES:
        factory = load_factory(spec)
        _CLASSES[spec] = type("ModelSpace", (ModelSpace,), {"name": spec, "factory": factory})
    return _CLASSES[spec]


def space_from(factory: Callable[..., nn.Module] | str) -> type[ModelSpace]:
    """The search space of a model factory (``factory(num_classes=..., in_chans=...)`` returns
    an ``nn.Module`` marked with ``nascore.nn`` choices) or of a module spec string. Pass the
    result (or its ``name``) as the space of :func:`nascore.search`."""
    if isinstance(factory, str):
        return space_class(normalize_spec(factory))
    if not callable(factory):
        raise UsageError(f"space_from needs a model factory or a module spec, got {factory!r}")
    spec = spec_of(factory)
    if _LOCAL.get(spec) is not factory:  # this process uses the object itself, never reloads
        _LOCAL[spec] = factory
        _CLASSES.pop(spec, None)
    return space_class(spec)


@attrs.frozen
class _Decision:
    """One label: what kind of choice it is and its candidates."""

    kind: str
    candidates: tuple[Any, ...]
    columns: tuple[str, ...]
    n_chosen: int = 1


def _describe(choice: Any) -> _Decision:
    if isinstance(choice, LayerChoice):
        names = choice.candidate_names()
        return _Decision("layer", names, names)
    if isinstance(choice, InputChoice):
        return _Decision("input", tuple(choice.combinations()),
                         tuple(str(i) for i in range(choice.n_candidates)), choice.n_chosen)
    if isinstance(choice, ValueChoice):
        return _Decision("value", choice.values, tuple(str(v) for v in choice.values))
    raise TypeError(f"unknown choice {choice!r}")


def _json(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _canonical(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class ModelSupernet(Supernet):
    """The user's model with every choice driven by the strategy's edge weights."""

    def __init__(self, model: nn.Module, groups: list[DecisionGroup]) -> None:
        super().__init__()
        self.model = model
        self.groups = groups
        self._nascore_choices = choices_of(model)

    def forward(self, x: torch.Tensor, weights: Mapping[str, EdgeWeights]) -> torch.Tensor:
        for label, choice in self._nascore_choices:
            choice._nascore_selection = weights[label].row(0) if label in weights else None
        try:
            return self.model(x)
        finally:
            for _label, choice in self._nascore_choices:
                choice._nascore_selection = None


class ModelSpace(SearchSpace):
    """A search space read from a model factory (see the module docstring)."""

    name: ClassVar[str] = "module"
    config_cls = ModelSpaceConfig
    capabilities = frozenset({"supernet", "sample", "mutate", "encode", "network", "cost"})
    factory: ClassVar[Callable[..., nn.Module]]
    METRICS: ClassVar[tuple[str, ...]] = ("params", "flops")

    def __init__(self, config: Any, data: DataInfo) -> None:
        super().__init__(config, data)
        self._labels: dict[str, _Decision] = {}
        for label, choice in choices_of(self._model()):
            found = _describe(choice)
            if self._labels.setdefault(label, found) != found:
                raise ConfigError(f"space {self.name}: the choices labelled {label!r} differ "
                                  f"({self._labels[label]} vs {found}); give them other labels")
        if not self._labels:
            raise ConfigError(f"space {self.name}: the model has no LayerChoice, InputChoice or "
                              "ValueChoice from nascore.nn")
        self._tables: dict[str, CostTable | None] = {}

    def _model(self, num_classes: int | None = None, in_channels: int | None = None) -> nn.Module:
        try:
            model = type(self).factory(num_classes=num_classes or self.data.num_classes,
                                       in_chans=in_channels or self.data.in_channels)
        except Exception as exc:
            raise UsageError(f"space {self.name}: the factory failed ({_one_line(exc)}); it is "
                             "called as factory(num_classes=N, in_chans=C)") from None
        if not isinstance(model, nn.Module):
            raise UsageError(f"space {self.name}: the factory returned {type(model).__name__}, "
                             "not an nn.Module")
        return model

    # -- discrete -------------------------------------------------------------------------
    def decisions(self) -> list[Decision]:
        return [Decision(label, d.candidates) for label, d in self._labels.items()]

    def encode(self, arch: Architecture) -> list[int]:
        spec = self.validate(arch).spec
        return [d.candidates.index(_canonical(spec[label])) for label, d in self._labels.items()]

    def decode(self, choices: list[int]) -> Architecture:
        decisions = list(self._labels.items())
        if len(choices) != len(decisions) or not all(
                0 <= int(c) < len(d.candidates)
                for c, (_, d) in zip(choices, decisions, strict=True)):
            raise MalformedArchitecture(f"space {self.name} needs one candidate index per "
                                        f"decision ({len(decisions)})")
        return Architecture(self.name, {label: _json(d.candidates[int(c)])
                                        for c, (label, d) in zip(choices, decisions, strict=True)})

    def validate(self, arch: Architecture) -> Architecture:
        super().validate(arch)
        spec = arch.spec
        if set(spec) != set(self._labels) or any(
                _canonical(spec[label]) not in d.candidates for label, d in self._labels.items()):
            expected = ", ".join(f"{label}: one of {list(map(_json, d.candidates))}"
                                 for label, d in self._labels.items())
            raise MalformedArchitecture(f"an architecture of space {self.name} is {{{expected}}}")
        return arch

    def parse(self, text: str) -> Architecture:
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MalformedArchitecture(f"space {self.name} reads JSON choices: {exc}") from None
        if isinstance(spec, Mapping) and "spec" in spec:
            spec = spec["spec"]
        return self.validate(Architecture(self.name, spec))

    def format(self, arch: Architecture) -> str:
        return json.dumps(arch.spec, sort_keys=True)

    def build_network(self, arch: Architecture, num_classes: int | None = None,
                      in_channels: int | None = None, channels: int | None = None,
                      layers: int | None = None) -> nn.Module:
        """The model with every choice fixed to ``arch`` (plain layers, unused candidates
        dropped). ``channels``/``layers`` (a budget's proxy size) do not apply: the factory
        fixes the model's size."""
        indices = dict(zip(self._labels, self.encode(arch), strict=True))
        return freeze(self._model(num_classes, in_channels), indices)

    # -- one-shot -------------------------------------------------------------------------
    def decision_groups(self) -> list[DecisionGroup]:
        return [DecisionGroup(label, (label,), d.columns)
                for label, d in self._labels.items()]

    def _refuse(self, options: SupernetOptions) -> None:
        """One-line refusals of what a model's choices cannot do (a budget's proxy size is
        ignored: the factory fixes the model's size)."""
        if options.partial_channels != 1:
            raise IncompatibleError(
                f"space {self.name}: partial channels (PC-DARTS) need candidates built for 1/K "
                "of the channels, and a model's choices are built once; set "
                "strategy.partial_channels=1")
        if options.levels != 1:
            raise IncompatibleError(f"space {self.name} has no depth levels; set "
                                    "strategy.levels=1")

    def build_supernet(self, options: SupernetOptions) -> Supernet:
        self._refuse(options)
        return ModelSupernet(self._model(), self.decision_groups())

    def kept_mask(self, scores: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for label, table in scores.items():
            n = self._labels[label].n_chosen if label in self._labels else 1
            top = table.topk(n, dim=1).indices
            out[label] = torch.zeros_like(table, dtype=torch.bool).scatter_(1, top, True)
        return out

    def derive(self, scores: Mapping[str, torch.Tensor]) -> Architecture:
        kept = self.kept_mask(scores)
        choices = []
        for label, d in self._labels.items():
            chosen = tuple(int(i) for i in kept[label][0].nonzero().flatten())
            choices.append(d.candidates.index(chosen) if d.kind == "input" else chosen[0])
        return self.decode(choices)

    # -- costs ----------------------------------------------------------------------------
    def measure(self, metric: str, choices: list[int]) -> float:
        """``metric`` of the network of ``choices``, measured."""
        network = self.build_network(self.decode(choices))
        if metric == "params":
            return float(count_params(network))
        size = self.data.image_size
        return float(count_macs(network, torch.zeros(1, self.data.in_channels, size, size)))

    def _table(self, metric: str) -> CostTable | None:
        """The measured table, or ``None`` when the choices' costs do not add up."""
        if metric in self._tables:
            return self._tables[metric]
        decisions = list(self._labels.values())
        base = [0] * len(decisions)
        constant = self.measure(metric, base)
        deltas = []
        for i, d in enumerate(decisions):
            deltas.append([self.measure(metric, base[:i] + [j] + base[i + 1:]) - constant
                           if j else 0.0 for j in range(len(d.candidates))])
        rng = np.random.default_rng(0)
        probes = [[len(d.candidates) - 1 for d in decisions]]
        probes += [[int(rng.integers(len(d.candidates))) for d in decisions] for _ in range(3)]
        table: CostTable | None = None
        additive = all(abs(constant + sum(deltas[i][c] for i, c in enumerate(p))
                           - self.measure(metric, p)) < 0.5 for p in probes)
        per_group = {}
        for (label, d), row in zip(self._labels.items(), deltas, strict=True):
            if d.kind == "input":  # costs per input: only input choices that cost nothing
                additive = additive and all(abs(v) < 0.5 for v in row)
                row = [0.0] * len(d.columns)
            cheapest = min(row)  # the constant holds every decision's cheapest candidate
            constant += cheapest
            per_group[label] = torch.tensor([[v - cheapest for v in row]], dtype=torch.float64)
        if additive:
            table = CostTable(metric, constant, per_group)
        self._tables[metric] = table
        return table

    @property
    def cost_metrics(self) -> tuple[str, ...]:  # type: ignore[override]
        """The metrics whose costs add up per candidate (measured on first use)."""
        return tuple(m for m in self.METRICS if self._table(m) is not None)

    def cost_table(self, metric: str, proxy: Mapping[str, Any] | None = None) -> CostTable:
        table = self._table(metric) if metric in self.METRICS else None
        if table is None:
            raise IncompatibleError(
                f"space {self.name}: the {metric} of its choices do not add up per candidate "
                "(e.g. a width and a kernel size of one layer), so one-shot strategies cannot "
                "enforce it; use a discrete strategy (it measures every network)")
        return table

