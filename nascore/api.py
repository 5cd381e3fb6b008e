"""The Python API: search, retrain and export in a few lines.

::

    import nascore

    found = nascore.search("darts", "darts", epochs=2, channels=8, layers=5)
    print(found.text)                                   # the genotype
    trained = nascore.train(found, epochs=10, channels=16, layers=8)
    files = nascore.export(trained, "onnx")

Every call writes a run directory exactly as the ``nas`` command does (``out=`` or a default under
``runs/``). Console lines go through the ``nascore`` logger (silent unless configured, e.g.
``logging.basicConfig(level=logging.INFO)``).

Your own model and data (docs/own-model.md)::

    found = nascore.search("darts", my_factory, dataset=TensorDataset(x, y), epochs=5)
    model = found.model()                    # the fixed nn.Module of the derived architecture
    trained = nascore.train(found, epochs=10)
    model = trained.model()                  # with the trained weights

``space`` may be a model factory (:func:`nascore.space_from`); ``dataset`` a torch ``Dataset``,
a ``DataLoader`` or a ``(train, test)`` pair of them (:func:`nascore.data.register_dataset`).
Runs on data given as objects can be continued in the same Python process only: the run
directory records a name for the data, not the data, so ``nas resume``/``nas train``/``nas
export`` of such a run fail with one line. A factory defined at module level in a file (or
importable module) is recorded as a module spec and rebuilt from it anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from nascore.architecture import Architecture
from nascore.errors import UsageError

if TYPE_CHECKING:
    from torch import nn


@attrs.frozen
class SearchResult:
    """A finished search: its architecture, the run directory and what the run reported."""

    architecture: Architecture
    text: str
    run_dir: Path
    metrics: Mapping[str, Any]
    constraints: Mapping[str, Any]

    def model(self) -> nn.Module:
        """The fixed, freshly initialised ``nn.Module`` of the architecture (at the space's
        configured size)."""
        from nascore.plugins import make_space
        from nascore.rundir import RunDir
        from nascore.space import DataInfo

        meta = RunDir(self.run_dir).meta
        result = json.loads((self.run_dir / "result.json").read_text())
        space = make_space(self.architecture.space, meta["config"]["space"],
                           DataInfo(**result["data_info"]))
        return space.build_network(self.architecture)


@attrs.frozen
class TrainResult:
    """A finished retraining: the run directory and its ``result.json``."""

    run_dir: Path
    test_acc: float | None
    valid_acc: float | None
    result: Mapping[str, Any]

    def model(self, weights: str = "last") -> nn.Module:
        """The trained network (eval mode) with its ``last`` (or ``best``) weights."""
        from nascore.exporters.trained import load_trained

        return load_trained(self.run_dir, weights).network


def _space_name(space: Any) -> str:
    """A space name: as given, or the module spec of a model factory / model space class."""
    if isinstance(space, str):
        return space
    from nascore.model_space import space_from
    from nascore.space import SearchSpace

    if isinstance(space, type) and issubclass(space, SearchSpace):
        return space.name
    return space_from(space).name


def _dataset_name(dataset: Any) -> str | None:
    """A dataset name: as given, or the name Python data is registered under."""
    if dataset is None or isinstance(dataset, str):
        return dataset
    from nascore.data import register_dataset

    return register_dataset(dataset)


def _overrides(config: Mapping[str, Mapping[str, Any]] | None) -> list[str]:
    """``{"strategy": {"lr": 0.01}}`` as ``["strategy.lr=0.01"]`` (values as TOML)."""
    out = []
    for section, values in (config or {}).items():
        if not isinstance(values, Mapping):
            raise UsageError(f"config[{section!r}] must be a mapping of settings")
        out += [f"{section}.{key}={json.dumps(value)}" for key, value in values.items()]
    return out


def _last_epoch(run_dir: Path) -> dict[str, Any]:
    from nascore.events import epoch_records

    epochs = epoch_records(run_dir)
    return epochs[-1] if epochs else {}


def search(
    strategy: str,
    space: str | Callable[..., nn.Module] | type,
    *,
    dataset: str | Any | None = None,
    out: str | Path | None = None,
    constraints: Sequence[str] = (),
    config: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = False,
    **flags: Any,
) -> SearchResult:
    """Run a search like ``nas run``.

    ``flags`` are the command's options (``epochs``, ``batch_size``, ``channels``, ``layers``,
    ``data_dir``, ``seed``, ``estimator``, ``budget``); ``config`` sets any other value by
    section (``{"strategy": {"lr": 0.01}}``); ``constraints`` are ``NAME:LOW..HIGH`` strings.
    ``space`` is a space name, a model factory or a model space; ``dataset`` a dataset name or
    Python data (see the module docstring).
    """
    from nascore.runner import resolve_config, start_run

    overrides = _overrides(config)
    if constraints:
        overrides.append(f"run.constraints={json.dumps(list(constraints))}")
    tree = resolve_config(strategy, _space_name(space),
                          {**flags, "dataset": _dataset_name(dataset)}, None, overrides)
    run, arch = start_run(tree, out, progress=progress)
    result = json.loads((run.path / "result.json").read_text())
    return SearchResult(arch, result["text"], run.path, _last_epoch(run.path),
                        result.get("constraints", {}))


def train(
    source: SearchResult | str | Path | Architecture,
    *,
    out: str | Path | None = None,
    space: str | None = None,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    progress: bool = False,
    **flags: Any,
) -> TrainResult:
    """Retrain like ``nas train``: ``source`` is a search result or run directory, a published
    architecture's name (``"darts_v2"``), a genotype string or an :class:`Architecture`.

    ``flags`` are the command's options (``epochs``, ``batch_size``, ``channels``, ``layers``,
    ``lr``, ``seed``, ``dataset``, ``data_dir``); ``config`` sets any other value by section.
    ``dataset`` may be Python data (see the module docstring); a search on Python data trains
    on the same data by default.
    """
    from nascore.plugins import registry
    from nascore.training import start_training
    from nascore.training.source import (
        ArchSource,
        default_out,
        from_run,
        from_text,
        from_zoo,
        resolve_tree,
    )

    if isinstance(source, SearchResult):
        arch_source = from_run(str(source.run_dir), space)
    elif isinstance(source, Architecture):
        arch_source = ArchSource(label="python", name=source.space, space=source.space,
                                 arch=source)
    elif Path(str(source)).is_dir():
        arch_source = from_run(str(source), space)
    elif str(source) in registry().components["architecture"]:
        arch_source = from_zoo(str(source), space)
    else:
        arch_source = from_text(str(source), space, "genotype", space or "darts")
    if "dataset" in flags:
        flags = {**flags, "dataset": _dataset_name(flags["dataset"])}
    base = {"data": dict(arch_source.data_options), "space": dict(arch_source.space_options)}
    tree = resolve_tree(base, arch_source.space, None, flags, _overrides(config),
                        arch_source.recipe)
    run, result = start_training(tree, arch_source, out or default_out(arch_source),
                                 progress=progress)
    return TrainResult(run.path, result.get("test_acc"), result.get("valid_acc"), result)


def export(
    trained: TrainResult | str | Path,
    format: str = "timm",
    *,
    out: str | Path | None = None,
    weights: str = "last",
) -> list[Path]:
    """Export a trained network like ``nas export``; returns the files written."""
    from nascore.exporters.formats import export as write
    from nascore.exporters.trained import load_trained

    path = trained.run_dir if isinstance(trained, TrainResult) else Path(trained)
    return [Path(p) for p in write(load_trained(path, weights), format, out).files]
