"""``nas export --format onnx``: an ONNX file with a dynamic batch dimension, checked for parity."""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import torch

from nascore.errors import UsageError
from nascore.export.trained import TrainedNetwork

INPUT, OUTPUT = "input", "logits"


def export_onnx(trained: TrainedNetwork, path: str | Path, opset: int = 18) -> Path:
    """Export ``trained.network`` (eval mode) to ``path`` with inputs ``[batch, C, H, W]``."""
    path = Path(path)
    if path.exists():
        raise UsageError(f"{path} already exists; choose another --out or remove it first")
    path.parent.mkdir(parents=True, exist_ok=True)
    info = trained.info
    example = torch.zeros(2, info.in_channels, info.image_size, info.image_size)
    network = trained.network.eval()
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            network, (example,), str(path), input_names=[INPUT], output_names=[OUTPUT],
            dynamic_shapes=({0: batch},), opset_version=opset, dynamo=True, verbose=False,
        )
    return path


def onnx_max_difference(trained: TrainedNetwork, path: str | Path, batch: int = 3,
                        seed: int = 0) -> float:
    """Largest absolute difference between ONNX Runtime and PyTorch logits on random inputs."""
    import onnxruntime

    info = trained.info
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, info.in_channels, info.image_size, info.image_size,
                    generator=generator)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run([OUTPUT], {INPUT: x.numpy()})
    with torch.no_grad():
        torch_out = trained.network.eval()(x)
    return float((torch.from_numpy(onnx_out) - torch_out).abs().max())
