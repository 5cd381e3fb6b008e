"""``nas export --format timm``: a folder that ``timm.create_model("local-dir:...")`` loads and
that can be uploaded to the Hugging Face Hub as it is (``hf-hub:...``).

The network is created as the timm model ``nascore_network`` (see :mod:`nascore.timm`), given the
trained weights and written by ``timm.models.save_for_hf``, so the folder is exactly what timm
writes for its own models: ``config.json`` (``model_args`` with the architecture and build
options; ``pretrained_cfg`` with input size, normalisation, classes and the classifier and stem
names), ``model.safetensors``, plus a ``README.md`` model card naming the one line loading needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from nascore.exporters.formats import ExportReport
from nascore.exporters.trained import TrainedNetwork
from nascore.exporters.weights import load_state_checked
from nascore.rundir import atomic_write_bytes
from nascore.training.network import describe_costs

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
README = "README.md"
#: What a user runs before ``timm.create_model`` on an exported folder.
LOAD_LINE = "import nascore.timm"


def _description(meta: dict[str, Any]) -> str:
    accuracy, which = meta["test_accuracy"], "test"
    if accuracy is None:
        accuracy, which = meta["valid_accuracy"], "validation"
    return f"nascore {meta['space']} network trained on {meta['dataset']}" + (
        f" ({which} accuracy {accuracy:.4f})" if isinstance(accuracy, float) else ""
    )


def model_args(trained: TrainedNetwork) -> dict[str, Any]:
    """The ``timm.create_model`` arguments that rebuild ``trained``'s network (``model_args``
    of ``config.json``)."""
    build = {k: v for k, v in trained.options.items() if k not in ("num_classes", "in_channels")}
    return {
        "arch": trained.arch.to_dict(), "space_options": trained.run.meta["config"]["space"],
        "image_size": trained.info.image_size, "in_chans": trained.info.in_channels,
        "num_classes": trained.info.num_classes, **build,
    }


def timm_model(trained: TrainedNetwork) -> nn.Module:
    """``trained`` as the timm model ``nascore_network`` with its weights and data config."""
    import timm

    import nascore.timm as nascore_timm

    meta = trained.metadata()
    model = timm.create_model(
        nascore_timm.NETWORK_MODEL,
        pretrained_cfg_overlay={
            "input_size": tuple(meta["input_size"]), "mean": tuple(meta["mean"]),
            "std": tuple(meta["std"]), "num_classes": meta["num_classes"], "crop_pct": 1.0,
            "interpolation": "bilinear", "description": _description(meta),
        },
        **model_args(trained),
    )
    load_state_checked(model, trained.network.state_dict(), f"of {trained.run.path}")
    return model.eval()


def _plugin_of_space(space: str) -> str | None:
    """The distribution that provides ``space`` unless it is nascore itself."""
    from nascore.plugins import registry

    reg = registry()
    owner = reg.owners.get(("space", space))
    record = next((r for r in reg.plugins if r.name == owner), None)
    return record.distribution if record and record.distribution != "nascore" else None


def model_card(trained: TrainedNetwork) -> str:
    """``README.md`` of the folder: Hub metadata, how to load, what the network is."""
    meta = trained.metadata()
    plugin = _plugin_of_space(meta["space"])
    install = "pip install nascore" + (f" {plugin}" if plugin else "")
    costs = trained.run.meta.get("costs") or {}
    lines = [
        "---", "library_name: timm", "tags:", "- image-classification", "- timm", "- nascore",
        "---", "", f"# {_description(meta)}", "",
        "A network found by neural architecture search with nascore. It is the timm model",
        "`nascore_network`, which nascore registers with timm; loading needs nascore installed",
        f"(`{install}`) and one line before `timm.create_model`:", "",
        "```python", f"{LOAD_LINE}  # registers nascore's models with timm", "import timm", "",
        'model = timm.create_model("local-dir:PATH/TO/THIS/FOLDER", pretrained=True).eval()',
        '# or, once uploaded: timm.create_model("hf-hub:USER/REPO", pretrained=True)',
        "```", "",
        f"- input: {'x'.join(map(str, meta['input_size']))} images scaled to 0..1, then "
        f"normalised with mean {meta['mean']} and std {meta['std']}",
        f"- classes: {meta['num_classes']} ({meta['dataset']})",
        f"- space: `{meta['space']}`; architecture: `{meta['architecture']}`",
    ]
    if costs:
        lines.append(f"- {describe_costs(costs)}")
    lines.append(f"- weights: {meta['weights']} epoch of the train run; nascore "
                 f"{meta['nascore_version']}")
    return "\n".join(lines) + "\n"


def export_timm(trained: TrainedNetwork, out: Path) -> ExportReport:
    """Write the timm folder of ``trained`` to ``out`` (which must not exist yet)."""
    from timm.models import save_for_hf

    meta = trained.metadata()
    nascore_info = {
        "load": f"{LOAD_LINE}  # before timm.create_model",
        "version": meta["nascore_version"],
        "text": meta["architecture"],
        "source_run": str(trained.run.path),
        "weights": meta["weights"],
        "costs": trained.run.meta.get("costs"),
    }
    save_for_hf(timm_model(trained), str(out), model_config={"nascore": nascore_info},
                model_args=model_args(trained), safe_serialization=True)
    atomic_write_bytes(out / README, model_card(trained).encode())
    load = f'{LOAD_LINE}, timm; timm.create_model("local-dir:{out}", pretrained=True)'
    return ExportReport([out / CONFIG, out / WEIGHTS, out / README], [f"load with: {load}"])
