"""``nas export --format timm``: a folder that ``timm.create_model("local-dir:...")`` loads.

The folder holds ``config.json`` (``architecture`` = ``nascore_network``; ``model_args`` with the
architecture and build options; ``pretrained_cfg`` with input size, normalisation, classes and
the classifier and stem names timm needs to re-initialise the head or adapt the input channels)
and ``model.safetensors``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nascore import __version__
from nascore.data import normalization
from nascore.errors import RunDirError
from nascore.export.trained import TrainedNetwork
from nascore.export.weights import save_weights
from nascore.rundir import atomic_write_bytes
from nascore.timm_models import NETWORK_MODEL
from nascore.train.network import AUXILIARY_PREFIX, build_network

CONFIG = "config.json"
WEIGHTS = "model.safetensors"


def fresh_path(path: str | Path) -> Path:
    """``path`` if nothing is there (or an empty folder); never overwrite an export."""
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise RunDirError(f"{target} already exists; choose another --out or remove it first")
    return target


def modules_shaped_by(trained: TrainedNetwork, **change: int) -> list[str]:
    """Modules whose parameter shapes change with a build option (e.g. ``num_classes``)."""
    base = trained.network.state_dict()
    other, _ = build_network(trained.space, trained.arch, {**trained.options, **change}, quiet=True)
    names = {
        key.rsplit(".", 1)[0]
        for key, value in other.state_dict().items()
        if key in base and base[key].shape != value.shape and not key.startswith(AUXILIARY_PREFIX)
    }
    return sorted(names)


def _one_or_many(names: list[str]) -> str | list[str] | None:
    return names[0] if len(names) == 1 else (names or None)


def timm_config(trained: TrainedNetwork) -> dict[str, Any]:
    """The ``config.json`` of a timm folder for ``trained``."""
    info, options = trained.info, trained.options
    mean, std = normalization(trained.dataset)
    model_args = {k: v for k, v in options.items() if k not in ("num_classes", "in_channels")}
    model_args.update(
        arch=trained.arch.to_dict(), in_chans=info.in_channels, image_size=info.image_size,
        space_options=trained.run.meta["config"]["space"],
    )
    accuracy = trained.results.get("test_accuracy")
    description = f"nascore {trained.arch.space} network trained on {trained.dataset}" + (
        f" (test accuracy {accuracy:.4f})" if isinstance(accuracy, float) else ""
    )
    classifier = modules_shaped_by(trained, num_classes=info.num_classes + 1)
    first_conv = modules_shaped_by(trained, in_channels=info.in_channels + 1)
    return {
        "architecture": NETWORK_MODEL,
        "num_classes": info.num_classes,
        "model_args": model_args,
        "pretrained_cfg": {
            "input_size": [info.in_channels, info.image_size, info.image_size],
            "mean": list(mean),
            "std": list(std),
            "num_classes": info.num_classes,
            "classifier": _one_or_many(classifier),
            "first_conv": _one_or_many(first_conv),
            "interpolation": "bilinear",
            "crop_pct": 1.0,
            "description": description,
        },
        "nascore": {
            "version": __version__,
            "text": trained.space.format(trained.arch),
            "source_run": str(trained.run.path),
            "costs": trained.run.meta.get("costs"),
        },
    }


def export_timm(trained: TrainedNetwork, out: str | Path) -> Path:
    """Write the timm folder of ``trained`` to ``out`` (which must not exist yet)."""
    target = fresh_path(out)
    config = timm_config(trained)
    target.mkdir(parents=True, exist_ok=True)
    save_weights(trained.network.state_dict(), target / WEIGHTS)
    atomic_write_bytes(target / CONFIG, (json.dumps(config, indent=2) + "\n").encode())
    return target
