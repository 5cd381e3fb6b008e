"""Tiny one-shot set-ups for tests of strategies, in the core and in plugins.

Everything here runs in seconds on a CPU: 96 digits images (48 for weights, 48 for arch steps,
3 steps per epoch at batch 16) and a 4-channel, 3-cell ``darts`` supernet.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from nascore.budget import Budget
from nascore.config import build_config
from nascore.context import SearchContext
from nascore.data import DataConfig, SearchData
from nascore.events import EventLog
from nascore.nn.mixed import MixedEdge
from nascore.oneshot import OneShotStrategy, Part, StepRecord
from nascore.plugins import registry
from nascore.space import SearchSpace

#: Strategy config values of a tiny search.
TINY = {"epochs": 2, "batch_size": 16}


@lru_cache(maxsize=1)
def tiny_data() -> SearchData:
    """96 digits images, split 48/48 with seed 0."""
    return SearchData(DataConfig(subset=96), seed=0)


def tiny_space() -> SearchSpace:
    """The ``darts`` space with 4 channels and 3 cells, for :func:`tiny_data`."""
    cls = registry().get("space", "darts")
    return cls(build_config(cls.config_cls, {"channels": 4, "layers": 3}), tiny_data().info)


def make_strategy(
    name: str,
    space: SearchSpace | None = None,
    seed: int = 0,
    budget: Budget | None = None,
    cls: type[OneShotStrategy] | None = None,
    **options: Any,
) -> OneShotStrategy:
    """The registered strategy ``name`` (or ``cls``) with :data:`TINY` and ``options`` on
    ``space`` (default :func:`tiny_space`) and :func:`tiny_data`."""
    cls = cls or registry().get("strategy", name)
    context = SearchContext(
        space=space or tiny_space(),
        seed=seed,
        device=torch.device("cpu"),
        events=EventLog(None),
        data=tiny_data(),
        budget=budget,
    )
    return cls(cls.configure({**TINY, **options}), context)


def drive(strategy: OneShotStrategy, epochs: Iterable[int]) -> list[dict[str, Any]]:
    """Run ``epochs`` like the run engine does; return their end-of-epoch metrics."""
    summaries = []
    for epoch in epochs:
        for _ in strategy.run_epoch(epoch):
            pass
        summaries.append(strategy.end_epoch(epoch))
    return summaries


def count_op_calls(strategy: OneShotStrategy) -> dict[str, int]:
    """Live counters of forward calls of mixed edges (``"edges"``) and of the candidate ops
    inside them (``"ops"``), kept up to date by forward hooks."""
    counts = {"edges": 0, "ops": 0}

    def counter(key: str):
        def hook(*_: Any) -> None:
            counts[key] += 1

        return hook

    for module in strategy.supernet.modules():
        if isinstance(module, MixedEdge):
            module.register_forward_hook(counter("edges"))
            for op in module.ops.values():
                op.register_forward_hook(counter("ops"))
    return counts


def watch_ops(strategy: OneShotStrategy) -> set[tuple[str, int, str]]:
    """Forward hooks on every candidate op of a DARTS-style supernet; returns the set they fill
    with ``(cell type, edge, op)`` whenever an op runs."""
    ran: set[tuple[str, int, str]] = set()
    for cell in strategy.supernet.cells:
        for index, edge in enumerate(cell.edges):
            mixed = next(m for m in edge.modules() if isinstance(m, MixedEdge))
            for name, op in mixed.ops.items():
                key = (cell.cell_type, index, name)
                op.register_forward_hook(lambda *_args, key=key: ran.add(key))
    return ran


class StepRecorder(Part):
    """A part that records every :class:`StepRecord` and the alphas after each arch step."""

    name = "step_recorder"

    def __init__(self, search: OneShotStrategy) -> None:
        super().__init__(search)
        self.records: list[StepRecord] = []
        self.alphas_after_arch: list[dict[str, torch.Tensor]] = []

    def after_weights_step(self, record: StepRecord) -> None:
        self.records.append(record)

    def after_arch_step(self, record: StepRecord) -> None:
        self.records.append(record)
        self.alphas_after_arch.append(
            {n: a.detach().clone() for n, a in self.search.alphas.items()}
        )


def record_steps(strategy: OneShotStrategy) -> StepRecorder:
    """Attach a :class:`StepRecorder` to ``strategy`` (last in the part order) and return it."""
    recorder = StepRecorder(strategy)
    strategy.parts.append(recorder)
    return recorder


def saved_bytes(fn: Callable[[], Any]) -> int:
    """Bytes of the distinct storages autograd keeps for backward while ``fn()`` runs."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


def code_lines(path: str | Path) -> int:
    """Lines of a Python file that hold code: no blank lines, comments or docstrings."""
    source = Path(path).read_text()
    docstrings: set[int] = set()
    documented = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(ast.parse(source)):
        first = node.body[0] if isinstance(node, documented) and node.body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                and isinstance(first.value.value, str):
            docstrings.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    skipped = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
               tokenize.ENDMARKER}
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skipped:
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstrings)


def run_cli(*args: str) -> tuple[int, str, str]:
    """``nas ARGS`` in this process, as the console script runs it (one-line errors, exit
    codes): ``(exit code, stdout, stderr)``. Faster than a subprocess where one proves nothing
    more."""
    import logging

    from click.testing import CliRunner

    from nascore.cli import entry

    code = 0
    with CliRunner().isolation() as (out, err, _mixed):
        logger = logging.getLogger("nascore")
        handlers = logger.handlers[:]
        logger.handlers.clear()  # the CLI attaches its console handler to this stderr
        try:
            entry(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            logger.handlers[:] = handlers
        return code, out.getvalue().decode(), err.getvalue().decode()
