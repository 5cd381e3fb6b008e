"""Network weights as safetensors files: nothing pickled is ever read back.

Loading checks every key and shape against the network and fails with one-line
:class:`~nascore.errors.CheckpointError` messages on corrupt or mismatched files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file, save
from torch import nn

from nascore.errors import CheckpointError
from nascore.rundir import atomic_write_bytes


def save_weights(
    state: Mapping[str, torch.Tensor], path: str | Path, metadata: Mapping[str, str] | None = None
) -> None:
    """Atomically write a state dict to ``path`` as safetensors (tensors copied to the CPU)."""
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in state.items()}
    atomic_write_bytes(Path(path), save(tensors, metadata={"format": "pt", **(metadata or {})}))


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file; a missing or damaged file raises :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no weights file at {path}")
    try:
        return load_file(path, device="cpu")
    except Exception as exc:  # safetensors raises several kinds for damaged files
        raise CheckpointError(
            f"weights file {path} is corrupt or not a safetensors file ({type(exc).__name__}); "
            "restore it or retrain"
        ) from None


def load_state_checked(
    network: nn.Module,
    state: Mapping[str, torch.Tensor],
    source: str,
    ignore_prefixes: tuple[str, ...] = (),
) -> None:
    """Load ``state`` into ``network`` after checking that keys and shapes match exactly.

    Keys of ``state`` that the network lacks and that start with one of ``ignore_prefixes``
    (e.g. an auxiliary head left out of an exported network) are skipped.
    """
    expected = network.state_dict()
    state = {k: v for k, v in state.items() if k in expected or not k.startswith(ignore_prefixes)}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    problem = None
    if wrong:
        k = wrong[0]
        problem = (f"'{k}' has shape {list(state[k].shape)} in the file but "
                   f"{list(expected[k].shape)} in the network")
    elif missing:
        problem = f"{len(missing)} tensors are missing (first: '{missing[0]}')"
    elif unexpected:
        problem = f"{len(unexpected)} tensors are not in the network (first: '{unexpected[0]}')"
    if problem:
        raise CheckpointError(
            f"weights {source} do not match the network: {problem}; they were saved for "
            "another architecture or other channels/layers/classes"
        )
    network.load_state_dict(state)
