"""``nas bpe analyze`` on the authors' released measurements."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from nascore_mipbpe import PRESETS, MIPSettings, time_per_cost
from nascore_mipbpe.analysis import analyze, format_report
from nascore_mipbpe.cli import bpe
from nascore_mipbpe.costs import table_cost
from nascore_mipbpe.tables import read_table

from nascore import DataError, NascoreError


@pytest.fixture(scope="module")
def table(released: Path):
    return read_table(released)


def test_the_released_table_is_read_completely(table) -> None:
    assert len(table.ids) == 32 and table.accuracies.shape == (32, 100)
    assert table.budget(4) == {"epochs": 10, "batch_size": 128, "lr": 0.03, "layers": 6,
                               "precision": 32, "channels": 8, "cutout": 0, "image_size": 16}
    assert table.grid()["cutout"] == [0, 16]


def test_released_spearman_importance_and_eq9(table) -> None:
    cost = table_cost(table.space, table.data, table.architectures, count=1)
    found = analyze(table, cost, settings=MIPSettings(), seed=0, presets=PRESETS)
    assert np.max(np.abs(found.r_s - table.reported)) < 1e-3  # all 32 budgets
    assert found.r_s[table.ids.index("task5")] == pytest.approx(0.4967, abs=1e-3)  # BPE-1
    assert found.r_s[table.ids.index("task32")] == pytest.approx(0.6245, abs=1e-3)  # BPE-2
    ranked = sorted(found.importances, key=found.importances.get, reverse=True)
    assert set(ranked[:2]) == {"layers", "epochs"}
    assert found.importances["cutout"] < 0.01
    assert sum(found.importances.values()) == pytest.approx(1.0)
    assert found.labels == {"task5": "bpe1", "task32": "bpe2"}
    # Eq. 9: cutout is the least important, below 0.1, so it goes to its cheapest value. Both
    # cost the same FLOPs on the measured DARTS networks, so the minimum time cost decides: the
    # one cutout-16 budget (task19) took fewer GPU hours per FLOP than the cutout-0 ones.
    assert (found.fix.name, found.fix.value, found.fix.rule) == ("cutout", 16, "cheapest")
    assert cost({"cutout": 16}) == cost({"cutout": 0}) < cost({"layers": 8})
    measured = [(table.budget(r), float(table.hours[r])) for r in range(len(table.ids))]
    assert time_per_cost(measured, cost, "cutout", 16) == pytest.approx(
        1.2816 / cost(table.budget(table.ids.index("task19"))))
    assert time_per_cost(measured, cost, "cutout", 16) < time_per_cost(measured, cost, "cutout", 0)
    with pytest.raises(DataError, match="cutout"):  # no networks, no cheapest value
        analyze(table, cost=None, seed=0)


def test_importances_do_not_hinge_on_the_forest_seed(table) -> None:
    for seed in (1, 2):
        found = analyze(table, cost=lambda v: float(v["epochs"]), seed=seed)
        ranked = sorted(found.importances, key=found.importances.get, reverse=True)
        assert set(ranked[:2]) == {"layers", "epochs"} and found.importances["cutout"] < 0.01
        # Priced by epochs alone, cutout 0 trained fewer hours per epoch (0.0193 vs 0.0256).
        assert (found.fix.name, found.fix.value, found.fix.rule) == ("cutout", 0, "cheapest")


def test_time_term_of_eq1_moves_the_optimum_to_cheaper_budgets(table) -> None:
    by_rs = analyze(table, cost=lambda v: 1.0, settings=MIPSettings(time_weight=0.0))
    assert table.ids[by_rs.best] == "task23"  # r_s 0.755 in 9.1 GPU hours
    weighted = analyze(table, cost=lambda v: 1.0, settings=MIPSettings(time_weight=0.05))
    assert table.ids[weighted.best] == "task32"  # BPE-2 (r_s 0.62 in 0.55 h)
    spans = {table.ids[r.index]: (r.low, r.high) for r in by_rs.lambda_ranges}
    low, high = spans["task32"]
    assert low < 0.05 < high
    assert "task32 for" in format_report(weighted)


@pytest.mark.slow
def test_cli_writes_the_report(released: Path, tmp_path: Path, nas) -> None:
    proc = nas("bpe", "analyze", str(released), "--out", str(tmp_path))
    assert "task32" in proc.stdout and "bpe2" in proc.stdout
    assert "max |r_s - reported r_s|" in proc.stdout
    assert "Eq. 9 fixes cutout = 16" in proc.stdout  # the minimum time cost (task19)
    data = json.loads((tmp_path / "analysis.json").read_text())
    assert data["max_abs_diff_reported"] < 1e-3 and len(data["budgets"]) == 32
    assert data["fix"]["name"] == "cutout"
    for chart in ("importance.png", "rs_vs_time.png"):
        assert (tmp_path / chart).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _analyze_error(*args: str) -> str:
    """The one-line message of the NascoreError ``nas bpe analyze ARGS`` stops with."""
    result = CliRunner().invoke(bpe, ["analyze", *args])
    assert isinstance(result.exception, NascoreError), result.output
    message = str(result.exception)
    assert "\n" not in message
    return message


def test_bad_tables_get_one_line_errors(tmp_path: Path) -> None:
    assert "does not exist" in _analyze_error(str(tmp_path / "missing"))
    assert "not a known budget table" in _analyze_error(str(tmp_path))
    (tmp_path / "budgets.csv").write_text("task,epochs\n")
    (tmp_path / "accuracies.csv").write_text("arch,final_acc\n")
    assert "no budgets" in _analyze_error(str(tmp_path))
    (tmp_path / "budgets.csv").write_text("task,epochs\ntask1,ten\n")
    (tmp_path / "accuracies.csv").write_text("arch,final_acc,task1\nA,90,50\n")
    assert "'epochs' is not a number" in _analyze_error(str(tmp_path))
