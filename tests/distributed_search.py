"""One process of a two-process data-parallel search, run by ``tests/test_distributed.py``.

Runs a few steps of several one-shot searches (those whose strategy is installed) and saves,
per search, what every process must agree on: architecture parameters (before and after),
masks, supernet weights, the derived architecture and the parts' state, to ``OUT/rank<R>.pt``.
Usage: ``python tests/distributed_search.py OUT`` with torchrun's environment variables set.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from nascore import distributed
from nascore.events import EventLog
from nascore.plugins import registry
from nascore.runner import build_session, resolve_config
from nascore.testing import drive

TINY = {"channels": 4, "layers": 3, "epochs": 1, "batch_size": 16}
#: name -> (strategy, space, flags, --set overrides); 3 steps per epoch
SEARCHES = {
    "darts": ("darts", "darts", TINY, []),
    "darts-unrolled": ("darts", "darts", TINY, ["strategy.second_order=true"]),
    "gdas": ("gdas", "darts", {**TINY, "epochs": 2}, []),
    "eoinas": ("eoinas", "darts", {**TINY, "epochs": 3}, ["strategy.valid_batches=1"]),
}


def run(strategy: str, space: str, flags: dict, overrides: list[str]) -> dict:
    tree = resolve_config(strategy, space, flags, None, ["data.subset=96", *overrides])
    search = build_session(tree, EventLog()).strategy
    before = {name: p.detach().clone() for name, p in search.params.tensors.items()}
    metrics = drive(search, range(search.num_epochs))
    return {
        "before": before,
        "alphas": {name: p.detach().clone() for name, p in search.params.tensors.items()},
        "masks": {name: m.clone() for name, m in search.params.masks.items()},
        "weights": [p.detach().clone() for p in search.supernet.parameters()],
        "arch": search.derive().to_dict(),
        "parts": {part.name: part.state_dict() for part in search.parts},
        "valid_acc": [m["valid_acc"] for m in metrics],
        "replicas": search.replicas,
    }


def main(out: str) -> None:
    installed = registry().names("strategy")
    results = {name: run(*spec) for name, spec in SEARCHES.items() if spec[0] in installed}
    torch.save(results, Path(out) / f"rank{distributed.rank()}.pt")
    distributed.leave()


if __name__ == "__main__":
    main(sys.argv[1])
