"""Retraining a derived network: the train job the run engine drives, and ``nas train``'s run
directories.

A train run directory holds (besides the usual ``run.json``/``config.toml``/``events.jsonl``):
``architecture.json``, ``checkpoints/last.pt`` (written atomically after every epoch and on
SIGINT/SIGTERM), ``last.safetensors`` (the network weights after the latest epoch),
``best.safetensors`` (the weights of the epoch with the best *validation* accuracy, only when
``train.valid_fraction`` holds images out of training) and, once finished, ``result.json``.

Everything random is a function of the seed and the epoch (data order, cutout) or restored from
the checkpoint (the global RNG used by drop path, the cutout generator mid-epoch), so a resumed
run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from nascore import engine
from nascore.architecture import Architecture
from nascore.config import build_config, dump_toml
from nascore.context import device_of
from nascore.data import DataConfig, iterate_batches, load_datasets
from nascore.engine import log
from nascore.errors import ConfigError, NonFiniteLossError
from nascore.events import EventLog
from nascore.exporters.weights import load_state_checked, save_weights
from nascore.plugins import make_space
from nascore.rundir import RunDir, seed_everything, versions
from nascore.space import DataInfo, SearchSpace
from nascore.training.augment import cutout
from nascore.training.fit import evaluate_batches, fit_step, set_learning_rate
from nascore.training.network import build_network, describe_costs, network_costs
from nascore.training.recipe import TrainConfig, learning_rate
from nascore.training.source import ArchSource, resolve_tree, tree_help

BEST_WEIGHTS = "best.safetensors"
LAST_WEIGHTS = "last.safetensors"
RESULT = "result.json"

#: Called after every epoch's checkpoint with the epoch (0-based) and its logged record.
EpochCallback = Callable[[int, Mapping[str, Any]], None]


@attrs.define
class TrainSession:
    """The live pieces of one retraining: config, data, space, architecture and network."""

    config: TrainConfig
    data_config: DataConfig
    train_set: Dataset
    valid_set: Dataset | None
    test_set: Dataset
    info: DataInfo
    space: SearchSpace
    arch: Architecture
    options: dict[str, Any]
    network: nn.Module


def network_request(config: TrainConfig, info: DataInfo) -> dict[str, Any]:
    """The ``build_network`` options a train config asks for."""
    options: dict[str, Any] = {
        "channels": config.channels,
        "layers": config.layers,
        "num_classes": info.num_classes,
        "in_channels": info.in_channels,
    }
    if config.auxiliary_weight > 0:
        options["auxiliary"] = True
    if config.variant != "cifar":
        options["variant"] = config.variant
    return options


def split_validation(
    train_set: Dataset, fraction: float, seed: int
) -> tuple[Dataset, Dataset | None]:
    """``(train, held-out validation)``: a seeded ``fraction`` of ``train_set`` held out."""
    if fraction <= 0:
        return train_set, None
    n = len(train_set)  # type: ignore[arg-type]
    held = int(round(n * fraction))
    if not 0 < held < n:
        raise ConfigError(
            f"train.valid_fraction={fraction} holds out {held} of {n} images; choose a "
            "fraction that leaves images on both sides"
        )
    order = np.random.default_rng([seed, 7]).permutation(n).tolist()
    return Subset(train_set, order[held:]), Subset(train_set, order[:held])


def prepare(
    tree: Mapping[str, Mapping[str, Any]],
    source: ArchSource | Architecture,
    options: Mapping[str, Any] | None = None,
) -> TrainSession:
    """Load the data and build the (seeded) network; ``options`` are recorded build options."""
    config = build_config(TrainConfig, tree["train"], "train")
    data_config = build_config(DataConfig, tree["data"], "data")
    full_train, test_set, info = load_datasets(data_config)
    train_set, valid_set = split_validation(full_train, config.valid_fraction, config.seed)
    space_name = source.space
    space = make_space(space_name, tree["space"], info)
    arch = source.architecture(space) if isinstance(source, ArchSource) else space.validate(source)
    seed_everything(config.seed)
    network, resolved = build_network(
        space, arch, options if options is not None else network_request(config, info),
        quiet=options is not None,
    )
    return TrainSession(config, data_config, train_set, valid_set, test_set, info, space, arch,
                        resolved, network)


def evaluate(
    network: nn.Module, dataset: Dataset, batch_size: int, workers: int = 0
) -> tuple[float, float]:
    """``(mean cross-entropy, top-1 accuracy)`` of ``network`` on ``dataset`` in eval mode."""
    order = np.arange(len(dataset))  # type: ignore[arg-type]
    stats = evaluate_batches(network, iterate_batches(dataset, order, batch_size, 0, workers))
    return stats.loss, stats.accuracy


class TrainJob:
    """One retraining as a job of the run engine: an epoch of SGD steps (cutout, drop path, the
    recipe's learning rate), then validation (if held out) and test, and the weights files."""

    def __init__(self, session: TrainSession, path: Path) -> None:
        self.session = session
        self.config = session.config
        self.path = path
        self.device = device_of(self.config.device)
        self.network = session.network.to(self.device)
        self.optimizer = torch.optim.SGD(
            self.network.parameters(), lr=self.config.lr, momentum=self.config.momentum,
            weight_decay=self.config.weight_decay,
        )
        self.criterion = nn.CrossEntropyLoss(label_smoothing=self.config.label_smoothing)
        self.best_accuracy, self.best_epoch = -1.0, -1
        self.generator = torch.Generator()
        self._resumed_generator = False

    @property
    def num_epochs(self) -> int:
        return self.config.epochs

    def steps_per_epoch(self, epoch: int) -> int:
        return -(-len(self.session.train_set) // self.config.batch_size)  # type: ignore[arg-type]

    def finished(self) -> bool:
        return False

    def run_epoch(self, epoch: int, start_step: int = 0) -> Iterator[Mapping[str, float]]:
        """The SGD steps of ``epoch`` from ``start_step``; yields ``{"loss", "acc"}`` per step
        (nothing for a skipped one-image batch)."""
        config, network = self.config, self.network
        set_learning_rate(self.optimizer, learning_rate(config, epoch))
        if hasattr(network, "drop_path_prob"):
            network.drop_path_prob = config.drop_path * epoch / config.epochs
        rng = np.random.default_rng([config.seed, epoch])
        order = rng.permutation(len(self.session.train_set))  # type: ignore[arg-type]
        seed = int(rng.integers(2**62))
        if start_step == 0 or not self._resumed_generator:
            self.generator.manual_seed(seed)
        self._resumed_generator = False
        batches = iterate_batches(self.session.train_set, order, config.batch_size, start_step,
                                  self.session.data_config.workers)
        for x, y in batches:
            if len(y) < 2:
                yield {}
                continue
            try:
                result = fit_step(
                    network, cutout(x, config.cutout, self.generator), y, self.optimizer,
                    self.criterion, self.device, grad_clip=config.grad_clip,
                    auxiliary_weight=config.auxiliary_weight,
                )
            except NonFiniteLossError as exc:
                raise NonFiniteLossError(
                    f"{exc} in epoch {epoch + 1}; lower the learning rate "
                    "(`--set train.lr=...`)"
                ) from None
            yield {"loss": result.loss, "acc": result.correct / result.images}

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        """Validation (when held out), test, and the weights files of ``epoch``."""
        session, config = self.session, self.config
        workers = session.data_config.workers
        record: dict[str, Any] = {
            "lr": learning_rate(config, epoch),
            "drop_path": config.drop_path * epoch / config.epochs,
        }
        if session.valid_set is not None:
            record["valid_loss"], record["valid_acc"] = evaluate(
                self.network, session.valid_set, config.batch_size, workers
            )
        record["test_loss"], record["test_acc"] = evaluate(
            self.network, session.test_set, config.batch_size, workers
        )
        self._save_weights(epoch, record.get("valid_acc"))
        return record

    def _save_weights(self, epoch: int, valid_accuracy: float | None) -> None:
        state = self.network.state_dict()
        metadata = {"architecture": self.session.arch.key(), "epoch": str(epoch + 1)}
        if valid_accuracy is not None and valid_accuracy > self.best_accuracy:
            self.best_accuracy, self.best_epoch = valid_accuracy, epoch
            save_weights(state, self.path / BEST_WEIGHTS, metadata)
        save_weights(state, self.path / LAST_WEIGHTS, metadata)

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.network.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "best_accuracy": self.best_accuracy,
            "best_epoch": self.best_epoch,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        load_state_checked(self.network, state["model"], "in the checkpoint")
        self.optimizer.load_state_dict(state["optimizer"])
        self.best_accuracy = float(state["best_accuracy"])
        self.best_epoch = int(state["best_epoch"])
        self.generator.set_state(state["generator"])
        self._resumed_generator = True


def _finish(job: TrainJob, events: EventLog) -> Callable[[RunDir], dict[str, Any]]:
    def finish(run: RunDir) -> dict[str, Any]:
        epochs = [r for r in events.records if r.get("type") == "epoch"]
        last = epochs[-1] if epochs else {}
        session = job.session
        weights = {"last": LAST_WEIGHTS}
        if session.valid_set is not None:
            weights["best"] = BEST_WEIGHTS
        result = {
            "test_acc": last.get("test_acc"),
            "test_loss": last.get("test_loss"),
            "valid_acc": last.get("valid_acc"),
            "best_valid_acc": job.best_accuracy if job.best_epoch >= 0 else None,
            "best_epoch": job.best_epoch + 1 if job.best_epoch >= 0 else None,
            "epochs": job.config.epochs,
            "costs": run.meta.get("costs"),
            "architecture": session.arch.to_dict(),
            "text": session.space.format(session.arch),
            "weights": weights,
        }
        run.write_json(RESULT, result)
        events.log({"type": "final", **result})
        return result

    return finish


def start_training(
    tree: Mapping[str, Mapping[str, Any]],
    source: ArchSource,
    out: str | Path,
    progress: bool = True,
    callbacks: Iterable[EpochCallback] = (),
) -> tuple[RunDir, dict[str, Any]]:
    """Create a train run directory at ``out`` for ``source`` and train it to the end."""
    RunDir.check_free(out)
    session = prepare(tree, source)
    costs = network_costs(session.network, session.info, session.space)
    log.info(f"network: {describe_costs(costs)}")
    meta = {
        "kind": "train",
        "config": {k: dict(v) for k, v in tree.items()},
        "architecture": session.arch.to_dict(),
        "source": source.label,
        "network": session.options,
        "data_info": attrs.asdict(session.info),
        "costs": costs,
        "versions": versions(),
        "command": " ".join(sys.argv),
    }
    job, events = TrainJob(session, Path(out)), EventLog()

    def write_architecture(run: RunDir) -> None:
        run.write_text("architecture.json", json.dumps(session.arch.to_dict(), indent=2) + "\n")
        text = session.space.format(session.arch)
        if text != session.arch.key():
            run.write_text("genotype.txt", text + "\n")

    run, result = engine.start(
        out, meta, dump_toml(tree, tree_help(source.space, source.recipe)), job, events, progress,
        callbacks=tuple(callbacks), prepare=write_architecture, finish=_finish(job, events),
        log_every=session.config.log_every,
    )
    return run, result


#: Settings that shape the network or its input: fixed once a train run has started.
FIXED_ON_RESUME = (("train", "channels"), ("train", "layers"), ("train", "variant"),
                   ("train", "valid_fraction"), ("train", "seed"), ("data", "dataset"),
                   ("data", "image_size"), ("data", "subset"))


def _check_network_unchanged(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    fixed = [*FIXED_ON_RESUME, *(("space", k) for k in new["space"])]
    for section, key in fixed:
        if old[section].get(key) != new[section].get(key):
            raise ConfigError(
                f"{section}.{key} cannot change when resuming (the checkpoint's network and "
                "data depend on it); start a new train run instead"
            )


def resume_training(
    run: RunDir,
    overrides: list[str] | None = None,
    progress: bool = True,
    callbacks: Iterable[EpochCallback] = (),
) -> dict[str, Any]:
    """Continue a train run from its last checkpoint (optionally with changed settings)."""
    holder: dict[str, Any] = {}

    def build(meta: dict[str, Any], events: EventLog) -> engine.Resumed:
        arch = Architecture.from_dict(meta["architecture"])
        tree, new_meta, toml = meta["config"], None, ""
        if overrides:
            tree = resolve_tree(meta["config"], arch.space, overrides=overrides)
            _check_network_unchanged(meta["config"], tree)
            new_meta = {**meta, "config": tree,
                        "overrides": meta.get("overrides", []) + list(overrides)}
            toml = dump_toml(tree, tree_help(arch.space))
        job = TrainJob(prepare(tree, arch, meta["network"]), run.path)
        holder["finish"] = _finish(job, events)
        return engine.Resumed(job, new_meta=new_meta, config_toml=toml,
                              log_every=job.config.log_every)

    return engine.resume(run, "train", build, lambda r: holder["finish"](r), progress,
                         tuple(callbacks))
