"""The resumable retraining loop of a ``train`` run directory.

A train run directory holds (besides the usual ``run.json``/``config.toml``/``events.jsonl``):
``architecture.json``, ``checkpoints/last.pt`` (model, optimizer, epoch, best accuracy, RNG
states; written atomically after every epoch), ``best.safetensors`` and ``last.safetensors``
(network weights) and, once finished, ``results.json``.

Everything random is a function of the seed and the epoch (data order, cutout) or restored from
the checkpoint (the global RNG used by drop path), so a resumed run ends with the same weights as
an uninterrupted one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from nascore.architecture import Architecture
from nascore.config import build_config, dump_toml
from nascore.data import DataConfig, iterate_batches, load_datasets
from nascore.errors import ConfigError, NonFiniteLossError
from nascore.events import EventLog
from nascore.export.weights import load_state_checked, save_weights
from nascore.plugins import make_space
from nascore.rundir import RunDir, rng_state, seed_everything, set_rng_state, versions
from nascore.space import DataInfo, SearchSpace
from nascore.train.augment import cutout
from nascore.train.fit import evaluate_batches, fit_epoch, set_learning_rate
from nascore.train.network import build_network, describe_costs, network_costs
from nascore.train.recipe import TrainConfig, learning_rate
from nascore.train.source import ArchSource, resolve_tree, tree_help

BEST_WEIGHTS = "best.safetensors"
LAST_WEIGHTS = "last.safetensors"
RESULTS = "results.json"

#: Called after every epoch's checkpoint with the epoch (0-based) and its logged record.
EpochCallback = Callable[[int, Mapping[str, Any]], None]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@attrs.define
class TrainSession:
    """The live pieces of one retraining: config, data, space, architecture and network."""

    config: TrainConfig
    data_config: DataConfig
    train_set: Dataset
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


def prepare(
    tree: Mapping[str, Mapping[str, Any]],
    source: ArchSource | Architecture,
    options: Mapping[str, Any] | None = None,
) -> TrainSession:
    """Load the data and build the (seeded) network; ``options`` are recorded build options."""
    config = build_config(TrainConfig, tree["train"], "train")
    data_config = build_config(DataConfig, tree["data"], "data")
    train_set, test_set, info = load_datasets(data_config)
    space_name = source.space
    space = make_space(space_name, tree["space"], info)
    arch = source.architecture(space) if isinstance(source, ArchSource) else space.validate(source)
    seed_everything(config.seed)
    network, resolved = build_network(
        space, arch, options if options is not None else network_request(config, info),
        quiet=options is not None,
    )
    return TrainSession(config, data_config, train_set, test_set, info, space, arch, resolved,
                        network)


def evaluate(
    network: nn.Module, dataset: Dataset, batch_size: int, workers: int = 0
) -> tuple[float, float]:
    """``(mean cross-entropy, top-1 accuracy)`` of ``network`` on ``dataset`` in eval mode."""
    order = np.arange(len(dataset))  # type: ignore[arg-type]
    stats = evaluate_batches(network, iterate_batches(dataset, order, batch_size, 0, workers))
    return stats.loss, stats.accuracy


class Trainer:
    """Runs the epochs of a train run directory from a checkpoint (or from the start)."""

    def __init__(self, run: RunDir, session: TrainSession, progress: bool = True,
                 callbacks: Iterable[EpochCallback] = ()) -> None:
        from nascore.runner import device_of

        self.run = run
        self.session = session
        self.config = session.config
        self.progress = progress
        self.callbacks = list(callbacks)
        self.device = device_of(self.config.device)
        self.network = session.network
        if next(self.network.parameters()).device != self.device:
            self.network.to(self.device)
        self.optimizer = torch.optim.SGD(
            self.network.parameters(), lr=self.config.lr, momentum=self.config.momentum,
            weight_decay=self.config.weight_decay,
        )
        self.criterion = nn.CrossEntropyLoss(label_smoothing=self.config.label_smoothing)
        self.best_accuracy, self.best_epoch = -1.0, -1

    def _restore(self, state: Mapping[str, Any]) -> int:
        source = f"in checkpoint {self.run.checkpoint_path}"
        load_state_checked(self.network, state["model"], source)
        self.optimizer.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        self.best_accuracy = float(state["best_accuracy"])
        self.best_epoch = int(state["best_epoch"])
        return int(state["epoch"])

    def train(self, state: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Train from ``state`` (a checkpoint) or from scratch; return the results."""
        from nascore.runner import Interrupted

        start, kept = 0, []
        if state is not None:
            start = self._restore(state)
            kept = self.run.truncate_events(int(state["events"]))
            _say(f"resuming {self.run.path} at epoch {start + 1}/{self.config.epochs}")
        events = EventLog(self.run.path)
        events.records.extend(kept)
        epoch = start
        try:
            for epoch in range(start, self.config.epochs):
                record = self._epoch(epoch)
                self._save_weights(epoch, record["test_acc"])
                events.log(record, step=epoch)
                _say(_epoch_line(record, self.config.epochs))
                self.run.save_checkpoint({
                    "epoch": epoch + 1,
                    "model": self.network.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "best_accuracy": self.best_accuracy,
                    "best_epoch": self.best_epoch,
                    "rng": rng_state(),
                    "events": len(events.records),
                })
                for callback in self.callbacks:
                    callback(epoch, record)
        except KeyboardInterrupt:
            raise Interrupted(
                f"interrupted in epoch {epoch + 1}; the checkpoint after epoch {epoch} is kept, "
                f"continue with `nas resume {self.run.path}`"
            ) from None
        finally:
            events.close()
        return self._finish(events)

    def _epoch(self, epoch: int) -> dict[str, Any]:
        config, network = self.config, self.network
        began = time.time()
        lr = learning_rate(config, epoch)
        set_learning_rate(self.optimizer, lr)
        drop_path = config.drop_path * epoch / config.epochs
        if hasattr(network, "drop_path_prob"):
            network.drop_path_prob = drop_path
        rng = np.random.default_rng([config.seed, epoch])
        order = rng.permutation(len(self.session.train_set))  # type: ignore[arg-type]
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        batches = iterate_batches(self.session.train_set, order, config.batch_size, 0,
                                  self.session.data_config.workers)
        total = -(-len(order) // config.batch_size)
        with tqdm(total=total, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False,
                  disable=None if self.progress else True, file=sys.stderr) as bar:

            def on_step(value: float) -> None:
                bar.update(1)
                bar.set_postfix(loss=f"{value:.3f}")

            try:
                stats = fit_epoch(
                    network, batches, self.optimizer, self.criterion, self.device,
                    grad_clip=config.grad_clip, auxiliary_weight=config.auxiliary_weight,
                    augment=lambda x: cutout(x, config.cutout, generator), on_step=on_step,
                )
            except NonFiniteLossError as exc:
                raise NonFiniteLossError(
                    f"{exc} of epoch {epoch + 1}; the checkpoint after epoch {epoch} is kept: "
                    f"lower the learning rate (`nas train --resume {self.run.path} "
                    "--set train.lr=...`)"
                ) from None
        test_loss, test_acc = evaluate(network, self.session.test_set, config.batch_size,
                                       self.session.data_config.workers)
        return {
            "type": "epoch", "epoch": epoch, "train_loss": stats.loss,
            "train_acc": stats.accuracy, "test_loss": test_loss, "test_acc": test_acc,
            "lr": lr, "drop_path": drop_path, "seconds": round(time.time() - began, 3),
        }

    def _save_weights(self, epoch: int, accuracy: float) -> None:
        state = self.network.state_dict()
        metadata = {"architecture": self.session.arch.key(), "epoch": str(epoch + 1)}
        if accuracy > self.best_accuracy:
            self.best_accuracy, self.best_epoch = accuracy, epoch
            save_weights(state, self.run.path / BEST_WEIGHTS, metadata)
        save_weights(state, self.run.path / LAST_WEIGHTS, metadata)

    def _finish(self, events: EventLog) -> dict[str, Any]:
        epochs = [r for r in events.records if r.get("type") == "epoch"]
        last = epochs[-1] if epochs else {}
        session = self.session
        results = {
            "test_accuracy": last.get("test_acc"),
            "test_loss": last.get("test_loss"),
            "best_test_accuracy": self.best_accuracy,
            "best_epoch": self.best_epoch + 1,
            "epochs": self.config.epochs,
            "costs": self.run.meta.get("costs"),
            "architecture": session.arch.to_dict(),
            "text": session.space.format(session.arch),
            "weights": {"best": BEST_WEIGHTS, "last": LAST_WEIGHTS},
        }
        self.run.write_json(RESULTS, results)
        return results


def _epoch_line(record: Mapping[str, Any], total: int) -> str:
    parts = [f"epoch {record['epoch'] + 1}/{total}"]
    parts += [f"{k} {record[k]:.4g}" for k in ("train_loss", "train_acc", "test_loss", "test_acc",
                                                 "lr")]
    return "  ".join(parts) + f"  ({record['seconds']:.1f}s)"


def start_training(
    tree: Mapping[str, Mapping[str, Any]],
    source: ArchSource,
    out: str | Path,
    progress: bool = True,
    callbacks: Iterable[EpochCallback] = (),
) -> tuple[RunDir, dict[str, Any]]:
    """Create a train run directory at ``out`` for ``source`` and train it to the end."""
    session = prepare(tree, source)
    costs = network_costs(session.network, session.info)
    _say(f"network: {describe_costs(costs)}")
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
    run = RunDir.create(out, meta, dump_toml(tree, tree_help(source.space)))
    session.arch.save(run.path / "architecture.json")
    text = session.space.format(session.arch)
    if text != session.arch.key():
        run.write_text("genotype.txt", text + "\n")
    _say(f"train run directory: {run.path}")
    return run, Trainer(run, session, progress, callbacks).train()


#: Settings that shape the network or its input: fixed once a train run has started.
FIXED_ON_RESUME = (("train", "channels"), ("train", "layers"), ("train", "variant"),
                   ("data", "dataset"), ("data", "image_size"))


def _check_network_unchanged(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    fixed = [*FIXED_ON_RESUME, *(("space", k) for k in new["space"])]
    for section, key in fixed:
        if old[section].get(key) != new[section].get(key):
            raise ConfigError(
                f"{section}.{key} cannot change when resuming (the checkpoint's network depends "
                "on it); start a new train run instead"
            )


def resume_training(
    run: RunDir,
    overrides: list[str] | None = None,
    progress: bool = True,
    callbacks: Iterable[EpochCallback] = (),
) -> dict[str, Any]:
    """Continue a train run from its last checkpoint (optionally with changed settings)."""
    meta = run.meta
    if meta.get("kind") != "train":
        raise ConfigError(
            f"{run.path} is a {meta.get('kind')} run, not a train run; use `nas resume {run.path}`"
        )
    arch = Architecture.from_dict(meta["architecture"])
    state = run.load_checkpoint()
    if overrides:
        tree = resolve_tree(meta["config"], arch.space, overrides=overrides)
        _check_network_unchanged(meta["config"], tree)
        meta = {**meta, "config": tree, "overrides": meta.get("overrides", []) + overrides}
        run.write_json("run.json", meta)
        run.write_text("config.toml", dump_toml(tree, tree_help(arch.space)))
    session = prepare(meta["config"], arch, meta["network"])
    return Trainer(run, session, progress, callbacks).train(state)
