"""``nas export --format pt2``: a ``torch.export`` program that runs without nascore.

``torch.export.load(path).module()`` is a module computing the logits of ``[batch, C, H, W]``
inputs (dynamic batch), with only PyTorch installed (the format is PyTorch's; load it with a
compatible PyTorch version). The export metadata (``mean``, ``std``, ``input_size``, ...) is the
archive's extra file ``nascore.json``::

    extra = {"nascore.json": ""}
    program = torch.export.load("model.pt2", extra_files=extra)
    meta = json.loads(extra["nascore.json"])
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from nascore.exporters.formats import ExportReport
from nascore.exporters.trained import TrainedNetwork

METADATA = "nascore.json"


def exported_program(trained: TrainedNetwork) -> torch.export.ExportedProgram:
    """``trained.network`` (eval mode) traced by ``torch.export`` with a dynamic batch."""
    info = trained.info
    example = torch.zeros(2, info.in_channels, info.image_size, info.image_size)
    batch = torch.export.Dim("batch", min=1)
    return torch.export.export(trained.network.eval(), (example,), dynamic_shapes=({0: batch},))


def export_pt2(trained: TrainedNetwork, path: Path) -> ExportReport:
    """Write the ``torch.export`` program of ``trained`` to ``path`` and check it."""
    buffer = io.BytesIO()  # torch aborts the interpreter when a write to a path fails
    torch.export.save(exported_program(trained), buffer,
                      extra_files={METADATA: json.dumps(trained.metadata())})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return ExportReport([path], [
        f"torch.export.load vs PyTorch: max abs difference {pt2_max_difference(trained, path):.2e}",
        f'load with: torch.export.load("{path}").module()(x)  (PyTorch only; metadata in '
        f"{METADATA})",
    ])


def pt2_max_difference(trained: TrainedNetwork, path: str | Path, batch: int = 3,
                       seed: int = 0) -> float:
    """Largest absolute difference between the saved program and PyTorch on random inputs."""
    x = trained.random_inputs(batch, seed)
    module = torch.export.load(path).module()
    with torch.no_grad():
        return float((module(x) - trained.network.eval()(x)).abs().max())
