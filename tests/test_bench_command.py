"""``nas bench supernet``: the command, its JSON and the step-time ratios (tiny configs)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nascore.bench.supernet import TARGETS, naive_ratios, step_ratios
from nascore.cli.app import _attach_commands, bench
from nascore.cli.bench import supernet_command
from nascore.errors import ConfigError, UnknownNameError

TINY = ["--channels", "4", "--layers", "3", "--size", "8", "--batch-size", "8", "--steps", "1",
        "--repeats", "1"]
#: nascore's supernet only.
OURS = ["--supernet", "nascore"]


def _row(strategy, space, size, seconds):
    return {"strategy": strategy, "space": space, "image_size": size, "seconds_per_step": seconds}


def test_step_ratios_by_hand():
    rows = [
        _row("darts", "darts", 16, 4.0),
        _row("gdas", "darts", 16, 0.5),
        _row("pcdarts", "darts", 16, 1.0),
        _row("gdas", "adarts", 16, 0.6),
        _row("gdas", "darts", 32, 2.0),  # no darts row at 32: no ratio
    ]
    assert step_ratios(rows) == pytest.approx({
        "gdas_vs_darts/darts/16": 0.125,
        "pcdarts_vs_darts/darts/16": 0.25,
        "gdas/adarts_vs_darts/16": 1.2,
    })


def test_command_is_attached_to_the_bench_group_and_loaded_when_used():
    _attach_commands()
    attached = bench.commands["supernet"]
    assert attached.real is supernet_command  # imported on first use
    assert "step" in attached.get_short_help_str()


def test_json_output_with_ratio_vs_darts():
    result = CliRunner().invoke(
        supernet_command, ["--strategy", "darts", "--strategy", "gdas", *TINY, *OURS, "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)  # nothing but JSON
    rows = data["rows"]
    assert [(r["space"], r["strategy"], r["image_size"], r["supernet"]) for r in rows] == [
        ("darts", "darts", 8, "nascore"), ("darts", "gdas", 8, "nascore"),
    ]
    assert all(r["seconds_per_step"] > 0 and r["peak_rss_mb"] >= r["base_rss_mb"] > 0 for r in rows)
    expected = rows[1]["seconds_per_step"] / rows[0]["seconds_per_step"]
    assert data["ratios"] == pytest.approx({"gdas_vs_darts/darts/8": expected})
    assert data["targets"] == TARGETS
    assert data["naive_ratios"] == {}  # no naive rows


def test_table_and_space_comparison():
    result = CliRunner().invoke(
        supernet_command,
        ["--strategy", "gdas", "--space", "darts", "--space", "adarts", *TINY, *OURS],
    )
    assert result.exit_code == 0, result.output
    table, _, payload = result.output.partition("\n{")
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["space", "strategy", "supernet", "size"]
    assert [line.split()[:4] for line in lines[1:3]] == [
        ["darts", "gdas", "nascore", "8"], ["adarts", "gdas", "nascore", "8"],
    ]
    assert lines[3].startswith("gdas/adarts_vs_darts/8: ")
    data = json.loads("{" + payload)
    assert set(data["ratios"]) == {"gdas/adarts_vs_darts/8"}


def test_unknown_space_fails_before_measuring():
    result = CliRunner().invoke(supernet_command, ["--space", "nope", *TINY])
    assert isinstance(result.exception, UnknownNameError)


def test_naive_ratios_by_hand():
    def row(strategy, supernet, seconds, mb):
        return {**_row(strategy, "darts", 16, seconds), "supernet": supernet, "peak_rss_mb": mb,
                "cpu_seconds_per_step": 2 * seconds}

    rows = [row("darts", "nascore", 3.0, 1000.0), row("darts", "naive", 5.0, 2500.0),
            row("gdas", "nascore", 1.0, 500.0)]  # no naive gdas row: no ratio
    ratios = naive_ratios(rows)
    assert list(ratios) == ["darts/darts/16"]
    assert ratios["darts/darts/16"] == pytest.approx({"time": 0.6, "cpu_time": 0.6, "memory": 0.4})
    assert step_ratios(rows) == pytest.approx({"gdas_vs_darts/darts/16": 1 / 3})  # nascore rows


def test_nascore_and_naive_rows_with_their_ratios_in_the_table_and_json():
    result = CliRunner().invoke(supernet_command, ["--strategy", "darts", *TINY,
                                                   "--set", "recompute=cells"])
    assert result.exit_code == 0, result.output
    table, _, payload = result.output.partition("\n{")
    lines = table.splitlines()
    assert [line.split()[2] for line in lines[1:3]] == ["nascore", "naive"]
    assert lines[3].startswith("nascore vs naive darts/darts/8: time ")
    assert "memory" in lines[3] and "targets <= 0.6x, <= 0.5x" in lines[3]
    data = json.loads("{" + payload)
    rows = data["rows"]
    assert [(r["strategy"], r["supernet"], r["repeats"]) for r in rows] == [
        ("darts", "nascore", 1), ("darts", "naive", 1),
    ]
    ours, naive = rows
    assert ours["options"] == {"recompute": "cells"}  # options apply to nascore's rows only
    assert naive["options"] == {"memory_format": "contiguous"}
    assert all(r["seconds_per_step"] > 0 and r["cpu_seconds_per_step"] > 0 for r in rows)
    assert all(r["peak_rss_mb"] >= r["base_rss_mb"] for r in rows)
    assert list(data["naive_ratios"]) == list(naive_ratios(rows)) == ["darts/darts/8"]
    assert data["naive_ratios"]["darts/darts/8"] == pytest.approx({
        "time": ours["seconds_per_step"] / naive["seconds_per_step"],
        "cpu_time": ours["cpu_seconds_per_step"] / naive["cpu_seconds_per_step"],
        "memory": ours["peak_rss_mb"] / naive["peak_rss_mb"],
    })


def test_bad_set_value_fails_before_measuring():
    result = CliRunner().invoke(supernet_command, [*TINY, "--set", "memory_format=nhwc"])
    assert isinstance(result.exception, ConfigError)
    assert "memory_format" in str(result.exception)
    result = CliRunner().invoke(supernet_command, [*TINY, "--set", "memory_format"])
    assert isinstance(result.exception, ConfigError)
