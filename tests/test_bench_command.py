"""``nas bench supernet``: the command, its JSON and the step-time ratios (tiny configs)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nascore.bench.supernet import TARGETS, step_ratios
from nascore.cli.app import _attach_commands, bench
from nascore.cli.bench import supernet_command
from nascore.errors import UnknownNameError

TINY = ["--channels", "4", "--layers", "3", "--size", "8", "--batch-size", "8", "--steps", "1"]


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
        supernet_command, ["--strategy", "darts", "--strategy", "gdas", *TINY, "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)  # nothing but JSON
    rows = data["rows"]
    assert [(r["space"], r["strategy"], r["image_size"]) for r in rows] == [
        ("darts", "darts", 8), ("darts", "gdas", 8),
    ]
    assert all(r["seconds_per_step"] > 0 and r["peak_rss_mb"] >= r["base_rss_mb"] > 0 for r in rows)
    expected = rows[1]["seconds_per_step"] / rows[0]["seconds_per_step"]
    assert data["ratios"] == pytest.approx({"gdas_vs_darts/darts/8": expected})
    assert data["targets"] == TARGETS


def test_table_and_space_comparison():
    result = CliRunner().invoke(
        supernet_command, ["--strategy", "gdas", "--space", "darts", "--space", "adarts", *TINY]
    )
    assert result.exit_code == 0, result.output
    table, _, payload = result.output.partition("\n{")
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["space", "strategy", "size"]
    assert [line.split()[:3] for line in lines[1:3]] == [
        ["darts", "gdas", "8"], ["adarts", "gdas", "8"],
    ]
    assert lines[3].startswith("gdas/adarts_vs_darts/8: ")
    data = json.loads("{" + payload)
    assert set(data["ratios"]) == {"gdas/adarts_vs_darts/8"}


def test_unknown_space_fails_before_measuring():
    result = CliRunner().invoke(supernet_command, ["--space", "nope", *TINY])
    assert isinstance(result.exception, UnknownNameError)
