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
        mean, std = normalization(self.dataset)
        return {
            "input_size": [self.info.in_channels, self.info.image_size, self.info.image_size],
            "mean": list(mean),
            "std": list(std),
            "num_classes": self.info.num_classes,
            "dataset": self.dataset,
            "space": self.arch.space,
            "architecture": self.space.format(self.arch),
            "weights": self.weights,
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
    arch = Architecture.from_dict(meta["architecture"])
    info = DataInfo(**meta["data_info"])
    space = make_space(arch.space, meta["config"]["space"], info)
    options = {k: v for k, v in meta["network"].items() if k != "auxiliary"}
    network, options = build_network(space, arch, options, quiet=True)
    load_state_checked(network, load_weights(run.path / WEIGHTS[which]),
                       f"in {run.path / WEIGHTS[which]}", ignore_prefixes=(AUXILIARY_PREFIX,))
    results_path = run.path / RESULT
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    return TrainedNetwork(network.eval(), arch, space, options, info,
                          meta["config"]["data"]["dataset"], run, results, which)
