"""Where a train run's architecture comes from, and its resolved ``[train]/[data]/[space]`` config.

Sources: a finished search run directory (its architecture, space options and data), a published
architecture registered by a plugin (``--arch NAME``), a genotype string (``--genotype``) or a
file (``--arch-file``: ``architecture.json`` or a space's text form such as ``genotype.txt``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from nascore.architecture import Architecture
from nascore.config import (
    Default,
    build_config,
    config_to_dict,
    help_texts,
    layer_tree,
)
from nascore.data import DataConfig
from nascore.errors import MalformedArchitecture, RunDirError, UsageError
from nascore.plugins import registry
from nascore.rundir import RunDir
from nascore.space import SearchSpace
from nascore.training.recipe import TrainConfig, recipe_defaults

#: Space of ``--genotype`` strings and text ``--arch-file`` files when ``--space`` is not given.
DEFAULT_TEXT_SPACE = "darts"
#: Data settings a retraining inherits from its search run (not the search's subset or split).
INHERITED_DATA_KEYS = ("dataset", "data_dir", "image_size", "workers")
SECTIONS = ("train", "data", "space")
#: CLI flag -> (section, key).
FLAG_TARGETS = {
    "epochs": ("train", "epochs"),
    "batch_size": ("train", "batch_size"),
    "channels": ("train", "channels"),
    "layers": ("train", "layers"),
    "lr": ("train", "lr"),
    "seed": ("train", "seed"),
    "log_every": ("train", "log_every"),
    "dataset": ("data", "dataset"),
    "data_dir": ("data", "data_dir"),
    "device": ("train", "device"),
}


@attrs.frozen
class ArchSource:
    """An architecture to train: given directly, or as text the space parses once it exists."""

    label: str
    name: str
    space: str
    arch: Architecture | None = None
    text: str | None = None
    space_options: Mapping[str, Any] = attrs.field(factory=dict)
    data_options: Mapping[str, Any] = attrs.field(factory=dict)
    default_out: Path | None = None
    #: Changes to the CIFAR recipe by the method that found the architecture (its strategy's
    #: ``retrain_defaults``), with their sources.
    recipe: Mapping[str, Default] = attrs.field(factory=dict)

    def architecture(self, space: SearchSpace) -> Architecture:
        """The validated architecture, parsed by ``space`` if it was given as text."""
        arch = self.arch if self.arch is not None else space.parse(self.text or "")
        return space.validate(arch)


def _check_space(arch: Architecture, space: str | None, origin: str) -> None:
    if space and space != arch.space:
        raise UsageError(f"{origin} is an architecture of space '{arch.space}', not '{space}'")


def _method_recipe(strategy: str | None) -> dict[str, Default]:
    """The ``retrain_defaults`` of ``strategy`` (none when it is not installed)."""
    cls = registry().components["strategy"].get(strategy) if strategy else None
    return dict(getattr(cls, "retrain_defaults", {}) or {})


def from_run(path: str, space: str | None = None) -> ArchSource:
    """The architecture, space options and data of a finished search run, and the recipe
    changes of its strategy."""
    run = RunDir.open(path)
    meta = run.meta
    if meta.get("kind") == "train":
        raise RunDirError(
            f"{path} is a train run; continue it with `nas train --resume {path}` "
            "or export it with `nas export`"
        )
    recorded = run.architecture()
    if recorded is None:
        raise RunDirError(
            f"search run {path} has no architecture.json yet; finish it with `nas resume {path}`"
        )
    arch = Architecture.from_dict(recorded)
    _check_space(arch, space, f"run {path}")
    config = meta.get("config", {})
    data = {k: v for k, v in config.get("data", {}).items() if k in INHERITED_DATA_KEYS}
    return ArchSource(
        label=str(run.path), name=run.path.name, space=arch.space, arch=arch,
        space_options=dict(config.get("space", {})), data_options=data,
        default_out=run.path / "train",
        recipe=_method_recipe(config.get("run", {}).get("strategy")),
    )


def from_zoo(name: str, space: str | None = None) -> ArchSource:
    """A published architecture registered under ``name`` (``nas plugins`` lists them)."""
    entry = registry().get("architecture", name)
    arch = entry if isinstance(entry, Architecture) else Architecture.from_dict(entry)
    _check_space(arch, space, f"architecture '{name}'")
    return ArchSource(label=f"architecture:{name}", name=name, space=arch.space, arch=arch)


def from_text(text: str, space: str | None, label: str, name: str) -> ArchSource:
    """An architecture in its space's text form (e.g. a DARTS ``Genotype(...)`` string)."""
    return ArchSource(label=label, name=name, space=space or DEFAULT_TEXT_SPACE, text=text.strip())


def from_file(path: str, space: str | None = None) -> ArchSource:
    """An ``architecture.json`` file, or a file holding the space's text form."""
    file = Path(path)
    try:
        content = file.read_text()
    except OSError as exc:
        raise MalformedArchitecture(
            f"cannot read architecture file {path}: {exc.strerror}"
        ) from None
    if content.lstrip().startswith("{"):
        arch = Architecture.load(file)
        _check_space(arch, space, f"architecture file {path}")
        return ArchSource(label=f"file:{path}", name=file.stem, space=arch.space, arch=arch)
    return from_text(content, space, f"file:{path}", file.stem)


def resolve_source(
    run_dir: str | None, arch: str | None, genotype: str | None, arch_file: str | None,
    space: str | None,
) -> ArchSource:
    """Exactly one of the four sources (a usage error otherwise)."""
    given = [(k, v) for k, v in (("RUN_DIR", run_dir), ("--arch", arch), ("--genotype", genotype),
                                 ("--arch-file", arch_file)) if v]
    if len(given) != 1:
        raise UsageError(
            "give exactly one architecture: RUN_DIR, --arch NAME, --genotype TEXT or "
            "--arch-file FILE" + (f" (got {', '.join(k for k, _ in given)})" if given else "")
        )
    if run_dir:
        return from_run(run_dir, space)
    if arch:
        return from_zoo(arch, space)
    if genotype:
        return from_text(genotype, space, "genotype", space or DEFAULT_TEXT_SPACE)
    return from_file(arch_file or "", space)


def resolve_tree(
    base: Mapping[str, Mapping[str, Any]],
    space: str,
    file_tree: Mapping[str, Any] | None = None,
    flags: Mapping[str, Any] | None = None,
    overrides: list[str] | None = None,
    recipe: Mapping[str, Default] | None = None,
) -> dict[str, dict[str, Any]]:
    """The validated ``train``/``data``/``space`` tree with every default spelled out.

    Precedence: recipe defaults (chosen by the dataset; on the CIFAR recipe with the method's
    ``recipe`` changes) < ``base`` < config file < CLI flags < ``--set`` overrides.
    """
    tree: dict[str, dict[str, Any]] = {s: dict(base.get(s, {})) for s in SECTIONS}
    layer_tree(tree, file_tree, flags, FLAG_TARGETS, overrides)
    data = build_config(DataConfig, tree["data"], "data")
    method = {k: d.value for k, d in (recipe or {}).items()}
    train = build_config(
        TrainConfig, {**recipe_defaults(data.dataset, method), **tree["train"]}, "train"
    )
    space_config = build_config(registry().get("space", space).config_cls, tree["space"], "space")
    return {
        "train": config_to_dict(train),
        "data": config_to_dict(data),
        "space": config_to_dict(space_config),
    }


def tree_help(space: str, recipe: Mapping[str, Default] | None = None) -> dict[str, str]:
    """Help texts of every key of a train tree (for the commented ``config.toml``), with the
    sources of the method's ``recipe`` changes."""
    helps = {
        **help_texts(TrainConfig, "train"),
        **help_texts(DataConfig, "data"),
        **help_texts(registry().get("space", space).config_cls, "space"),
    }
    for key, default in (recipe or {}).items():
        if default.source:
            helps[f"train.{key}"] = f"{helps.get(f'train.{key}', '')} [{default.source}]".lstrip()
    return helps


def default_out(source: ArchSource) -> Path:
    """``RUN_DIR/train`` for a search run, else ``runs/train-<name>-<timestamp>``."""
    if source.default_out is not None:
        return source.default_out
    return Path("runs") / f"train-{source.name}-{time.strftime('%Y%m%d-%H%M%S')}"
