"""``nas bench eoinas``: registered under ``nas bench``, one row per pruning stage."""

from __future__ import annotations

from nascore_eoinas.bench import bench_command, bench_pruning, soft_target

from nascore import registry


def test_bench_times_every_pruning_stage():
    rows = bench_pruning(["soft"], channels=4, layers=3, image_size=8, batch_size=2, steps=1)
    assert [r["ops_per_edge"] for r in rows] == [8, 7, 6, 5, 4, 3, 2, 1]
    assert {r["mode"] for r in rows} == {"soft"} and rows[0]["vs_unpruned"] == 1.0
    assert all(r["seconds_per_step"] > 0 for r in rows)
    target = soft_target(rows)
    assert target is not None and target["target"] == 0.4
    assert target["met"] == (target["soft_2_ops_vs_unpruned"] <= 0.4)
    assert soft_target([r for r in rows if r["ops_per_edge"] != 2]) is None


def test_bench_command_is_a_plugin_command_under_nas_bench():
    command = registry().get("command", "eoinas")
    assert command.nascore_group == "bench"
    assert command.real is bench_command  # imported when first used
