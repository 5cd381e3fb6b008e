"""A trained network read back from a train run directory (for export)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import nn

from nascore import __version__
from nascore.architecture import Architecture
from nascore.data import normalization
from nascore.errors import CheckpointError, RunDirError
from nascore.events import read_events
from nascore.exporters.weights import load_state_checked, load_weights
from nascore.plugins import make_space
from nascore.rundir import RunDir
from nascore.space import DataInfo, SearchSpace
from nascore.training.network import AUXILIARY_PREFIX, build_network
from nascore.training.trainer import BEST_WEIGHTS, LAST_WEIGHTS, RESULT

WEIGHTS = {"best": BEST_WEIGHTS, "last": LAST_WEIGHTS}


@attrs.define
class TrainedNetwork:
    """An inference network (no auxiliary head, eval mode) with what is needed to rebuild it."""

    network: nn.Module
    arch: Architecture
    space: SearchSpace
    options: dict[str, Any]
    info: DataInfo
    dataset: str
    run: RunDir
    results: dict[str, Any]
    weights: str = "last"
    #: The epoch (1-based) the weights are from, and the epochs the training was to run.
    epoch: int | None = None
    epochs: int | None = None

    def warnings(self) -> list[str]:
        """Lines a user must see before using an export (a training that has not finished)."""
        if self.epoch is None or self.epochs is None or self.epoch >= self.epochs:
            return []
        return [f"warning: {self.run.path} stopped after {self.epoch} of {self.epochs} epochs: "
                f"these are the weights and accuracies of epoch {self.epoch}; finish the "
                f"training with `nas resume {self.run.path}` and export again"]

    def random_inputs(self, batch: int = 3, seed: int = 0) -> torch.Tensor:
        """``batch`` seeded random inputs of the network's shape (to compare an export with it)."""
        generator = torch.Generator().manual_seed(seed)
        info = self.info
        return torch.randn(batch, info.in_channels, info.image_size, info.image_size,
                           generator=generator)

    def metadata(self) -> dict[str, Any]:
        """What a user of an exported file needs besides the weights: input size, normalisation
        (inputs are ``(x - mean) / std`` of 0..1 images), classes, architecture, provenance,
        and the network's costs as the train run measured them (parameters, multiply-adds and
        the space's metrics, e.g. ``bits``)."""
        mean, std = normalization(self.dataset, self.info.in_channels)
        return {
            "input_size": [self.info.in_channels, self.info.image_size, self.info.image_size],
            "mean": list(mean),
            "std": list(std),
            "num_classes": self.info.num_classes,
            "dataset": self.dataset,
            "space": self.arch.space,
            "architecture": self.space.format(self.arch),
            "weights": self.weights,
            "epoch": self.epoch,
            "epochs": self.epochs,
            "test_accuracy": self.results.get("test_acc") if self.weights == "last" else None,
            "valid_accuracy": self.results.get(
                "best_valid_acc" if self.weights == "best" else "valid_acc"),
            "nascore_version": __version__,
            "costs": self.run.meta.get("costs"),
        }


def train_run_of(path: str | Path) -> RunDir:
    """The train run at ``path``, or the one a search run keeps in ``path/train``."""
    run = RunDir.open(path)
    kind = run.meta.get("kind")
    if kind == "train":
        return run
    nested = run.path / "train"
    if kind == "search" and (nested / "run.json").is_file():
        return train_run_of(nested)
    raise RunDirError(
        f"{path} holds no trained network ({kind} run); retrain it first with `nas train {path}`"
    )


def load_trained(path: str | Path, which: str = "last") -> TrainedNetwork:
    """Rebuild the network of the train run at ``path`` with its ``last`` weights, or the
    ``best`` by held-out validation accuracy (``train.valid_fraction`` > 0)."""
    run = train_run_of(path)
    meta = run.meta
    missing = [key for key in ("architecture", "data_info", "network", "config") if key not in meta]
    if missing:
        raise RunDirError(
            f"{run.path / 'run.json'} lacks {', '.join(missing)}: it is damaged or not written "
            "by `nas train`; restore it from a backup or retrain"
        )
    if which == "best" and not meta["config"].get("train", {}).get("valid_fraction"):
        raise CheckpointError(
            f"{run.path} held no validation images out of training, so it has no best weights "
            "(nascore never chooses weights by test accuracy); export --weights last, or "
            "retrain with --set train.valid_fraction=0.1"
        )
    if not (run.path / WEIGHTS[which]).is_file():
        raise CheckpointError(
            f"{run.path} has no {WEIGHTS[which]} yet; let the training finish an epoch "
            f"(`nas resume {run.path}`)"
        )
    arch = Architecture.from_dict(run.architecture() or meta["architecture"])
    info = DataInfo(**meta["data_info"])
    space = make_space(arch.space, meta["config"]["space"], info)
    options = {k: v for k, v in meta["network"].items() if k != "auxiliary"}
    network, options = build_network(space, arch, options, quiet=True)
    load_state_checked(network, load_weights(run.path / WEIGHTS[which]),
                       f"in {run.path / WEIGHTS[which]}", ignore_prefixes=(AUXILIARY_PREFIX,))
    epoch = _weights_epoch(run.path / WEIGHTS[which])
    results_path = run.path / RESULT
    if results_path.is_file():
        results = json.loads(results_path.read_text())
    else:  # an unfinished training: the accuracies logged with these weights
        results = _epoch_results(run, epoch)
    return TrainedNetwork(network.eval(), arch, space, options, info,
                          meta["config"]["data"]["dataset"], run, results, which, epoch,
                          meta["config"].get("train", {}).get("epochs"))


def _weights_epoch(path: Path) -> int | None:
    """The epoch (1-based) a weights file of a train run was saved after (its metadata)."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        epoch = (fh.metadata() or {}).get("epoch")
    return int(epoch) if epoch and epoch.isdigit() else None


def _epoch_results(run: RunDir, epoch: int | None) -> dict[str, Any]:
    """``test_acc``, ``valid_acc`` and ``best_valid_acc`` of ``epoch`` (1-based) as its record
    in ``events.jsonl`` has them (``{}`` when there is none)."""
    path = run.path / "events.jsonl"
    records = read_events(path) if path.is_file() else []
    record = next((r for r in records if r.get("type") == "epoch"
                   and epoch is not None and r.get("epoch") == epoch - 1), {})
    return {"test_acc": record.get("test_acc"), "valid_acc": record.get("valid_acc"),
            "best_valid_acc": record.get("valid_acc")}
