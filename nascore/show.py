"""``nas show``: summarise a run directory, measure its architecture, write diagrams and curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from nascore.architecture import Architecture
from nascore.events import read_events
from nascore.plugins import make_space, registry
from nascore.rundir import RunDir
from nascore.space import DataInfo
from nascore.training.network import describe_costs, network_costs

#: The panels of ``curves.png``: title and which epoch-record keys it plots.
_PANELS = (
    ("loss", lambda key: key.endswith("loss")),
    ("accuracy", lambda key: key.endswith(("acc", "accuracy"))),
    ("learning rate", lambda key: key == "lr"),
)


def curves_figure(events: list[dict[str, Any]]) -> Figure | None:
    """Loss, accuracy and learning-rate panels of a run's epoch records (panels without data
    are left out, one line per record key); ``None`` when there is nothing to draw."""
    epochs = [e for e in events if e.get("type") == "epoch"]
    keys = sorted({k for e in epochs for k in e})
    panels = []
    for title, wanted in _PANELS:
        series = {
            key: [(e["epoch"] + 1, e[key]) for e in epochs
                  if isinstance(e.get(key), (int, float)) and not isinstance(e[key], bool)]
            for key in keys if wanted(key)
        }
        series = {k: v for k, v in series.items() if v}
        if series:
            panels.append((title, series))
    if not panels:
        return None
    figure = Figure(figsize=(5 * len(panels), 4))
    FigureCanvasAgg(figure)
    for index, (title, series) in enumerate(panels):
        ax = figure.add_subplot(1, len(panels), index + 1)
        for key, points in series.items():
            ax.plot(*zip(*points, strict=True), marker="o", label=key)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.legend()
    figure.tight_layout()
    return figure


def _plot_curves(events: list[dict[str, Any]], path: Path) -> str | None:
    figure = curves_figure(events)
    if figure is None:
        return None
    figure.savefig(path)
    return str(path)


def _last_epoch_line(epochs: list[dict[str, Any]]) -> str:
    last = {k: v for k, v in epochs[-1].items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return "last epoch: " + ", ".join(f"{k}={v:.4g}" for k, v in last.items())


def show_run(path: str) -> None:
    """Print a summary of the run at ``path`` and write its plots under ``path/plots``."""
    run = RunDir.open(path)
    meta = run.meta
    kind = meta.get("kind", "search")
    click.echo(f"run: {run.path}  ({kind})")
    if kind not in ("search", "train"):
        results = run.path / "result.json"
        if results.exists():
            click.echo(results.read_text())
        return
    events = read_events(run.path / "events.jsonl") if (run.path / "events.jsonl").exists() else []
    epochs = [e for e in events if e.get("type") == "epoch"]
    plots_dir = run.path / "plots"
    plots_dir.mkdir(exist_ok=True)
    show = _show_search if kind == "search" else _show_train
    written = show(run, epochs, events, plots_dir)
    for item in written:
        click.echo(f"wrote {item}")


def _show_search(run: RunDir, epochs: list[dict[str, Any]], events: list[dict[str, Any]],
                 plots_dir: Path) -> list[str]:
    tree = run.meta["config"]
    r = tree["run"]
    click.echo(
        f"strategy {r['strategy']} on space {r['space']}, dataset "
        f"{tree['data']['dataset']}, seed {r['seed']}"
    )
    click.echo(f"epochs done: {len(epochs)}")
    if epochs:
        click.echo(_last_epoch_line(epochs))
    written: list[str] = []
    curves = _plot_curves(events, plots_dir / "curves.png")
    if curves:
        written.append(curves)
    strategy_cls = registry().components["strategy"].get(r["strategy"])
    if strategy_cls is not None:
        written += strategy_cls.plot(events, str(plots_dir / r["strategy"]))
    result_path = run.path / "result.json"
    if not result_path.exists():
        failed = [e for e in events if e.get("type") == "derive_failed"]
        if failed:
            click.echo(f"no architecture: the search ended, deriving failed: {failed[-1]['error']}")
            click.echo(f"derive again with a changed setting: `nas resume {run.path} "
                       "--set SECTION.KEY=VALUE`")
        else:
            click.echo(
                "no architecture yet: the search has not finished "
                f"(continue it with `nas resume {run.path}`)"
            )
        return written
    result = json.loads(result_path.read_text())
    arch = Architecture.from_dict(run.architecture() or result["architecture"])
    info = DataInfo(**result["data_info"])
    space = make_space(arch.space, tree["space"], info)
    click.echo("architecture:")
    click.echo(result["text"])
    if "network" in space.capabilities:
        costs = network_costs(space.build_network(arch), info, space)
        click.echo(f"network at search size ({info.num_classes} classes): {describe_costs(costs)}")
    for spec, check in result.get("constraints", {}).items():
        verdict = "met" if check["satisfied"] else "NOT met"
        predicted = f", table predicted {check['predicted']:.6g}" if "predicted" in check else ""
        click.echo(f"constraint {spec}: {check['value']:.6g} ({verdict}{predicted})")
    if "constraint_repair" in result:
        from nascore.oneshot.constraints import describe_repair

        click.echo(describe_repair(result["constraint_repair"]))
    if "constraint_recheck" in result:
        from nascore.constraint import describe_recheck

        click.echo(describe_recheck(result["constraint_recheck"]))
    return written + space.plot(arch, str(plots_dir / "cell"))


def _show_train(run: RunDir, epochs: list[dict[str, Any]], events: list[dict[str, Any]],
                plots_dir: Path) -> list[str]:
    meta = run.meta
    tree = meta["config"]
    train = tree["train"]
    click.echo(
        f"retraining {meta.get('source', '?')} on dataset {tree['data']['dataset']}, "
        f"seed {train['seed']}"
    )
    if meta.get("costs"):
        click.echo(f"network: {describe_costs(meta['costs'])}")
    click.echo(f"epochs done: {len(epochs)} of {train['epochs']}")
    if epochs:
        click.echo(_last_epoch_line(epochs))
    result_path = run.path / "result.json"
    if result_path.exists():
        result = json.loads(result_path.read_text())
        line = f"test accuracy {result['test_acc']:.4f} (loss {result['test_loss']:.4g})"
        if result.get("best_epoch") is not None:
            line += (f", best validation accuracy {result['best_valid_acc']:.4f} at epoch "
                     f"{result['best_epoch']}")
        click.echo(line)
        click.echo("weights: " + ", ".join(
            f"{name} {run.path / file}" for name, file in result["weights"].items()
        ))
    else:
        click.echo(f"not finished: continue it with `nas resume {run.path}`")
    arch = Architecture.from_dict(run.architecture() or meta["architecture"])
    space = make_space(arch.space, tree["space"], DataInfo(**meta["data_info"]))
    click.echo("architecture:")
    click.echo(space.format(arch))
    written: list[str] = []
    curves = _plot_curves(events, plots_dir / "curves.png")
    if curves:
        written.append(curves)
    return written + space.plot(arch, str(plots_dir / "cell"))
