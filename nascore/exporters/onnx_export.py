"""``nas export --format onnx``: one self-contained ONNX file with a dynamic batch dimension.

The weights are inside the file (an external-data sidecar is written only past protobuf's 2 GB
limit, and then reported). The export metadata (``mean``, ``std``, ``input_size``,
``num_classes``, architecture, ...) is in the model's ``metadata_props``: strings as they are,
everything else as JSON. The outputs are checked against PyTorch with ONNX Runtime when it is
installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import warnings
from pathlib import Path

import torch

from nascore.errors import UsageError
from nascore.exporters.formats import ExportReport
from nascore.exporters.trained import TrainedNetwork

INPUT, OUTPUT = "input", "logits"


def onnx_metadata(trained: TrainedNetwork) -> dict[str, str]:
    """``trained.metadata()`` as ONNX ``metadata_props`` (strings kept, the rest as JSON)."""
    return {key: value if isinstance(value, str) else json.dumps(value)
            for key, value in trained.metadata().items()}


def export_onnx(trained: TrainedNetwork, path: Path, opset: int = 18) -> ExportReport:
    """Export ``trained.network`` (eval mode) to ``path`` with inputs ``[batch, C, H, W]``."""
    missing = [m for m in ("onnx", "onnxscript") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"ONNX export needs {' and '.join(missing)}: "
                         "pip install 'nascore[onnx]'")
    path.parent.mkdir(parents=True, exist_ok=True)
    before = set(path.parent.iterdir())
    info = trained.info
    example = torch.zeros(2, info.in_channels, info.image_size, info.image_size)
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            trained.network.eval(), (example,), input_names=[INPUT], output_names=[OUTPUT],
            dynamic_shapes=({0: batch},), opset_version=opset, dynamo=True, verbose=False,
        )
        program.model.metadata_props.update(onnx_metadata(trained))
        program.save(path, external_data=False)
    sidecars = sorted(p for p in set(path.parent.iterdir()) - before if p != path)
    notes = []
    if sidecars:
        notes.append(f"the weights exceed protobuf's 2 GB limit, so they are in "
                     f"{', '.join(p.name for p in sidecars)}: keep it next to {path.name}")
    if importlib.util.find_spec("onnxruntime") is None:
        notes.append("not checked: onnxruntime is not installed (pip install 'nascore[onnx]')")
    else:
        notes.append(f"ONNX Runtime vs PyTorch: max abs difference "
                     f"{onnx_max_difference(trained, path):.2e}")
    return ExportReport([path, *sidecars], notes)


def onnx_max_difference(trained: TrainedNetwork, path: str | Path, batch: int = 3,
                        seed: int = 0) -> float:
    """Largest absolute difference between ONNX Runtime and PyTorch logits on random inputs."""
    import onnxruntime

    x = trained.random_inputs(batch, seed)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run([OUTPUT], {INPUT: x.numpy()})
    with torch.no_grad():
        torch_out = trained.network.eval()(x)
    return float((torch.from_numpy(onnx_out) - torch_out).abs().max())
