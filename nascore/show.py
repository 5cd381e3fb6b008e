"""``nas show``: summarise a run directory, measure its architecture, write diagrams and curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from nascore.architecture import Architecture
from nascore.events import read_events
from nascore.plugins import make_space, registry
from nascore.rundir import RunDir
from nascore.space import DataInfo
from nascore.training.network import describe_costs, network_costs


def _plot_curves(events: list[dict[str, Any]], path: Path) -> str | None:
    epochs = [e for e in events if e.get("type") == "epoch"]
    series = {
        key: [(e["epoch"] + 1, e[key]) for e in epochs if isinstance(e.get(key), (int, float))]
        for key in sorted({k for e in epochs for k in e})
        if key.endswith(("loss", "acc", "accuracy"))
    }
    series = {k: v for k, v in series.items() if v}
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for key, points in series.items():
        ax = ax_loss if key.endswith("loss") else ax_acc
        ax.plot(*zip(*points, strict=True), marker="o", label=key)
    for ax, title in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_title(title)
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def show_run(path: str) -> None:
    """Print a summary of the run at ``path`` and write its plots under ``path/plots``."""
    run = RunDir.open(path)
    meta = run.meta
    tree = meta["config"]
    kind = meta.get("kind", "search")
    click.echo(f"run: {run.path}  ({kind})")
    if kind != "search":
        results = run.path / "result.json"
        if results.exists():
            click.echo(results.read_text())
        return
    r = tree["run"]
    click.echo(
        f"strategy {r['strategy']} on space {r['space']}, dataset "
        f"{tree['data']['dataset']}, seed {r['seed']}"
    )
    events = read_events(run.path / "events.jsonl") if (run.path / "events.jsonl").exists() else []
    epochs = [e for e in events if e.get("type") == "epoch"]
    click.echo(f"epochs done: {len(epochs)}")
    if epochs:
        last = {k: v for k, v in epochs[-1].items() if isinstance(v, (int, float))}
        click.echo("last epoch: " + ", ".join(f"{k}={v:.4g}" for k, v in last.items()))
    plots_dir = run.path / "plots"
    plots_dir.mkdir(exist_ok=True)
    written: list[str] = []
    curves = _plot_curves(events, plots_dir / "curves.png")
    if curves:
        written.append(curves)
    strategy_cls = registry().components["strategy"].get(r["strategy"])
    if strategy_cls is not None:
        written += strategy_cls.plot(events, str(plots_dir / r["strategy"]))
    result_path = run.path / "result.json"
    if not result_path.exists():
        click.echo(
            "no architecture yet: the search has not finished "
            f"(continue it with `nas resume {run.path}`)"
        )
    else:
        result = json.loads(result_path.read_text())
        arch = Architecture.from_dict(result["architecture"])
        info = DataInfo(**result["data_info"])
        space = make_space(arch.space, tree["space"], info)
        click.echo("architecture:")
        click.echo(result["text"])
        if "network" in space.capabilities:
            costs = network_costs(space.build_network(arch), info, space)
            click.echo(
                f"network at search size ({info.num_classes} classes): {describe_costs(costs)}"
            )
        for spec, check in result.get("constraints", {}).items():
            verdict = "met" if check["satisfied"] else "NOT met"
            click.echo(f"constraint {spec}: {check['value']:.6g} ({verdict})")
        written += space.plot(arch, str(plots_dir / "cell"))
    for item in written:
        click.echo(f"wrote {item}")
