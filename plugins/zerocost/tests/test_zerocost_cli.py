"""``nas bench zerocost`` and proxies as ``--estimator`` of ``nas run`` (in process)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nascore.cli.app import main
from nascore.errors import ConfigError, DataError

TINY_RUN = ["--space", "nb201", "--set", "space.channels=4", "--set", "space.cells_per_stage=1",
            "--set", "data.subset=96", "--set", "strategy.queries=6"]


@pytest.mark.slow
def test_bench_prints_spearman_per_proxy_in_json() -> None:
    result = CliRunner().invoke(main, ["bench", "zerocost", "--space", "nb201", "--sample", "20",
                                       "--proxies", "synflow,params", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["cells"] == 20 and set(data["spearman"]) == {"synflow", "params"}
    assert all(-1 <= v <= 1 for v in data["spearman"].values())
    assert {r["proxy"] for r in data["rows"]} == {"synflow", "params"}
    assert all(r["seconds_per_network"] > 0 and "kendall" in r for r in data["rows"])


def test_bench_table_and_the_data_it_needs() -> None:
    result = CliRunner().invoke(main, ["bench", "zerocost", "--sample", "3", "--proxies",
                                       "params"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].split()[:3] == ["proxy", "spearman", "kendall"]
    missing = CliRunner().invoke(main, ["bench", "zerocost", "--sample", "3", "--proxies",
                                        "params,snip"])
    assert isinstance(missing.exception, DataError)  # `nas` prints it as one line, exit 1
    assert "snip scores a CIFAR-10 minibatch: pass --data-dir" in str(missing.exception)
    assert "\n" not in str(missing.exception)
    unknown = CliRunner().invoke(main, ["bench", "zerocost", "--proxies", "nope"])
    assert isinstance(unknown.exception, ConfigError)
    assert "unknown proxy 'nope'" in str(unknown.exception)


@pytest.mark.slow
def test_a_proxy_searches_under_a_constraint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "--strategy", "random", "--estimator", "synflow",
                                       "--constraint", "params:..10k", *TINY_RUN,
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    queries = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    queries = [q for q in queries if q.get("type") == "query"]
    assert len(queries) == 6 and all(q["params"] <= 10_000 for q in queries)
    assert json.loads((out / "result.json").read_text())["constraints"]["params:..10000"][
        "satisfied"]


def test_a_budget_is_refused_before_the_run_is_made(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["run", "--strategy", "random", "--estimator", "snip",
                                       "--budget", "tiny", *TINY_RUN, "--out", str(out)])
    assert isinstance(result.exception, ConfigError)
    assert "snip is a zero-cost proxy and trains nothing" in str(result.exception)
    assert not out.exists()
