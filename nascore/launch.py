"""``nas run --nproc N`` and ``nas resume RUN --nproc N``: N data-parallel processes on this
machine, started by torchrun's launcher (``torch.distributed.run``, standalone rendezvous).

``nas run --nproc N ...`` resolves and checks the config first (bad input fails before anything
starts), chooses the run directory, then launches ``python -m nascore run --config RESOLVED
--out RUN`` N times; the processes print as ``nas run`` does (rank 0 only). Each gets
``cores // N`` threads unless ``OMP_NUM_THREADS`` is set. For several machines, run ``torchrun``
yourself (see ``docs/scaling.md``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nascore.config import dump_toml
from nascore.errors import IncompatibleError, UsageError
from nascore.plugins import registry
from nascore.rundir import RunDir
from nascore.runner import LAUNCH_COMMAND, config_help, default_out
from nascore.threads import thread_share


def launch(args: Sequence[str], nproc: int) -> int:
    """Run ``python -m nascore ARGS`` as ``nproc`` processes of one process group; the exit
    code is rank 0's when a process failed (each process prints its own error)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    if nproc < 1:
        raise UsageError(f"--nproc must be at least 1, got {nproc}")
    os.environ.setdefault("OMP_NUM_THREADS", str(thread_share(nproc)))
    os.environ[LAUNCH_COMMAND] = " ".join(sys.argv)
    parsed = get_args_parser().parse_args(
        ["--standalone", f"--nproc-per-node={nproc}", "--module", "nascore", *args]
    )
    try:
        run(parsed)
    except ChildFailedError as exc:
        failures = sorted(exc.failures.items())
        rank, failure = next(((r, f) for r, f in failures if r == 0), failures[0])
        code = failure.exitcode
        return code if code > 0 else 128 - code  # killed by a signal: 128 + its number
    return 0


def launch_run(tree: Mapping[str, Any], out: str | None, nproc: int, quiet: bool) -> int:
    """``nas run --nproc``: check ``tree`` (resolved), choose the run directory and launch."""
    run = tree["run"]
    if registry().get("strategy", run["strategy"]).kind != "one-shot":
        raise IncompatibleError(
            f"--nproc runs a one-shot search data-parallel; strategy '{run['strategy']}' "
            "evaluates candidates: use --executor process|ray --workers N instead"
        )
    target = Path(out) if out else default_out(tree)
    RunDir.check_free(target)
    with tempfile.TemporaryDirectory(prefix="nascore-launch-") as folder:
        config = Path(folder) / "config.toml"
        config.write_text(dump_toml(tree, config_help(tree)))
        args = ["run", "--config", str(config), "--out", str(target)]
        return launch([*args, "--quiet"] if quiet else args, nproc)


def launch_resume(run_dir: str, overrides: Sequence[str], nproc: int, quiet: bool) -> int:
    """``nas resume RUN --nproc``: launch the resume of a search run."""
    args = ["resume", run_dir, *(a for o in overrides for a in ("--set", o))]
    return launch([*args, "--quiet"] if quiet else args, nproc)
