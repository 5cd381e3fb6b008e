"""``nas bpe search``: the tabular nb201 mode and the live train mode, resuming, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from nascore_mipbpe import evaluators, spearman
from nascore_mipbpe.cli import bpe
from nascore_mipbpe.search import Interrupted, resolve_search_config, resume_search, start_search

from nascore import Architecture, ConfigError, DataError, DataInfo
from nascore.budget import load_budget_file
from nascore.estimators.nb201 import load_table
from nascore.plugins import make_space
from nascore.spaces.nb201.cell import format_cell

#: A live search of seconds: 4 architectures, 64 digits images, three free hyper-parameters
#: with two values each, two budgets per round, final accuracies from the `tiny` preset.
TINY_GRID = [
    "grid.epochs=[1, 2]", "grid.layers=[2, 3]", "grid.batch_size=[32, 64]", "grid.lr=[0.05]",
    "grid.channels=[4]", "grid.precision=[32]", "grid.cutout=[0]", "grid.image_size=[8]",
]
TINY = ["data.subset=64", "archs.count=4", "archs.final=tiny", "archs.chunk=2",
        "mip.samples=2", "mip.trees=10", *TINY_GRID]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def nb201_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        load_table()
    except DataError as exc:
        pytest.skip(str(exc))
    tree = resolve_search_config({"space": "nb201", "estimator": "nb201", "archs": 30})
    run, _result = start_search(tree, tmp_path_factory.mktemp("bpe") / "nb201", progress=False)
    return run.path


def test_nb201_search_ranks_the_12_epoch_signal_against_the_200_epoch_accuracy(
    nb201_run: Path,
) -> None:
    table = load_table()
    space = make_space("nb201", None, DataInfo(3, 32, 10))
    archs = [Architecture.from_dict(a) for a in json.loads(
        (nb201_run / "architectures.json").read_text())]
    assert len(archs) == 30 and len({a.key() for a in archs}) == 30
    cells = [format_cell(space.ops(a)) for a in archs]
    final = json.loads((nb201_run / "final.json").read_text())
    assert final["source"] == "report:test_200"
    assert final["accuracies"] == [table.value(c, "cifar10_test_200") for c in cells]
    result = json.loads((nb201_run / "result.json").read_text())
    expected = spearman([table.value(c, "cifar10_val_12") for c in cells], final["accuracies"])
    assert result["r_s"] == pytest.approx(expected)
    assert len(result["records"]) == 1 and result["fixes"] == []
    assert load_budget_file(nb201_run / "budget.toml").epochs == 12
    assert (nb201_run / "report" / "rs_vs_time.png").exists()


def test_a_tabular_search_refuses_a_grid() -> None:
    with pytest.raises(ConfigError, match="answers only the budget"):
        resolve_search_config({"space": "nb201", "estimator": "nb201"},
                              overrides=["grid.layers=[2, 3]"])


@pytest.fixture(scope="module")
def darts_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = resolve_search_config({"space": "darts", "estimator": "train"}, overrides=TINY)
    run, _result = start_search(tree, tmp_path_factory.mktemp("bpe") / "darts", progress=False)
    return run.path


def test_live_search_prunes_to_one_hyperparameter_and_writes_its_best_budget(
    darts_run: Path,
) -> None:
    result = json.loads((darts_run / "result.json").read_text())
    records = result["records"]
    assert [f["name"] for f in result["fixes"]] and len(result["fixes"]) == 2  # 3 free -> 1
    keys = [json.dumps(r["budget"], sort_keys=True) for r in records]
    assert len(set(keys)) == len(keys)
    assert result["r_s"] == max(r["r_s"] for r in records)
    budget = load_budget_file(darts_run / "budget.toml")
    best = next(r for r in records if r["r_s"] == result["r_s"])
    assert {k: getattr(budget, k) for k in best["budget"]} == best["budget"]
    assert budget.epochs in (1, 2) and budget.layers in (2, 3) and budget.channels == 4
    assert "r_s = " in (darts_run / "budget.toml").read_text().splitlines()[2]
    estimates = _lines(darts_run / "estimates.jsonl")
    pairs = [(e["budget"], e["arch"]) for e in estimates]
    assert len(set(pairs)) == len(pairs) == 4 * (1 + len(records))  # final + every budget
    assert all(e["seconds"] > 0 for e in estimates)
    events = _lines(darts_run / "events.jsonl")
    assert sum(e["type"] == "bpe_fix" for e in events) == 2
    assert sum(e["type"] == "estimate" for e in events) == len(estimates)
    state = json.loads((darts_run / "state.json").read_text())
    assert state["phase"] == "done"
    report = json.loads((darts_run / "report" / "analysis.json").read_text())
    assert len(report["budgets"]) == len(records)


def test_an_interrupted_live_search_resumes_to_the_same_result(
    darts_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, calls = evaluators.estimate_many, {"n": 0}

    def interrupting(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # final: calls 1-2; first budget: 3-4; second budget: 5-6
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluators, "estimate_many", interrupting)
    tree = resolve_search_config({"space": "darts", "estimator": "train"}, overrides=TINY)
    with pytest.raises(Interrupted, match="--resume"):
        start_search(tree, tmp_path / "run", progress=False)
    assert len(json.loads((tmp_path / "run" / "state.json").read_text())["records"]) == 1
    monkeypatch.setattr(evaluators, "estimate_many", real)
    _run, result = resume_search(tmp_path / "run", progress=False)

    whole = json.loads((darts_run / "result.json").read_text())
    for key in ("budget", "r_s"):
        assert result[key] == whole[key]
    assert [f["name"] for f in result["fixes"]] == [f["name"] for f in whole["fixes"]]
    assert [(r["budget"], r["accuracies"]) for r in result["records"]] == [
        (r["budget"], r["accuracies"]) for r in whole["records"]]
    estimates = _lines(tmp_path / "run" / "estimates.jsonl")
    pairs = [(e["budget"], e["arch"]) for e in estimates]
    assert len(set(pairs)) == len(pairs)  # nothing estimated twice


def test_cli_reports_the_budget_and_refuses_bad_settings(darts_run: Path) -> None:
    result = CliRunner().invoke(bpe, ["search", "--resume", str(darts_run), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "best budget: epochs=" in result.output and "r_s " in result.output
    for overrides, message in (
        (["grid.foo=[1]"], "unknown grid hyper-parameter 'foo'"),
        (["grid.precision=[8]"], "precision must be one of 16, 32"),
        (["grid.epochs=[1, 1]"], "lists a value twice"),
        (["archs.final=nonsense"], "unknown final-accuracy source"),
        (["archs.final=report:"], "needs a KEY"),
    ):
        args = ["search", "--out", str(darts_run.parent / "never")]
        for item in overrides:
            args += ["--set", item]
        outcome = CliRunner().invoke(bpe, args)
        assert isinstance(outcome.exception, ConfigError), outcome.output
        assert message in str(outcome.exception)
        assert not (darts_run.parent / "never").exists()


def test_architectures_and_final_accuracies_from_a_table(released: Path, tmp_path: Path) -> None:
    one_budget = ["grid.epochs=[1]", "grid.layers=[2]", "grid.batch_size=[32]", *TINY_GRID[3:]]
    overrides = ["data.subset=64", "archs.count=3", f"archs.final=table:{released}",
                 *one_budget]
    tree = resolve_search_config({"space": "darts", "estimator": "train"}, overrides=overrides)
    run, result = start_search(tree, tmp_path / "run", progress=False)
    rows = (released / "accuracies.csv").read_text().splitlines()[1:4]
    space = make_space("darts", None, DataInfo(1, 8, 10))
    archs = [Architecture.from_dict(a) for a in
             json.loads((run.path / "architectures.json").read_text())]
    assert [space.format(a) for a in archs] == [
        space.format(space.parse(row.split('"')[1])) for row in rows]
    final = json.loads((run.path / "final.json").read_text())["accuracies"]
    assert final == [float(row.split('"')[2].split(",")[1]) for row in rows]
    assert len(result["records"]) == 1 and result["records"][0]["budget"]["epochs"] == 1
    assert np.isfinite(result["r_s"])
