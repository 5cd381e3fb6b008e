"""``nas bench zerocost --metric``: the correlation against a chosen accuracy column."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from nascore_zerocost.bench import DATASETS, bench_zerocost, metric_dataset
from scipy import stats

from nascore.cli.app import main
from nascore.errors import ConfigError, DataError
from nascore.estimators.nb201_table import load_table
from nascore.space import DataInfo


def _conv_counts(cell: str) -> tuple[int, int]:
    ops = [e.split("~")[0] for node in cell.split("+") for e in node.strip("|").split("|")]
    return ops.count("nor_conv_3x3"), ops.count("nor_conv_1x1")


def test_params_against_a_chosen_column_by_hand() -> None:
    # The parameters of an NB201 network grow by 5 cells x (C, 2C, 4C) per edge: a 3x3
    # ReLU-conv-BN edge adds 5 * sum_C (9 C^2 + 2 C) = 243,040 and a 1x1 edge 28,000 (C = 16).
    table = load_table()
    cells = sorted(table.rows, key=table.rows.__getitem__)
    picked = sorted(np.random.default_rng(4).choice(len(cells), 12, replace=False))
    by_hand = [243_040 * n3 + 28_000 * n1 for n3, n1 in (_conv_counts(cells[i]) for i in picked)]
    for metric in ("cifar100_test_200", "cifar10_val_12"):
        result = bench_zerocost(["params"], 12, seed=4, metric=metric)
        expected = stats.spearmanr(by_hand, table.columns[metric][picked]).statistic
        assert result["accuracy"] == metric
        assert result["spearman"]["params"] == pytest.approx(expected)
        assert result["rows"][0]["paper_spearman"] is None


def test_the_papers_value_is_the_columns_datasets() -> None:
    # Abdelfattah et al. (ICLR 2021, Table 1) report synflow against each dataset's 200-epoch
    # test accuracy; a 12-epoch column has no published value.
    row = bench_zerocost(["synflow"], 3, metric="cifar100_test_200")["rows"][0]
    assert row["paper_spearman"] == 0.763
    assert bench_zerocost(["synflow"], 3)["rows"][0]["paper_spearman"] == 0.737
    assert bench_zerocost(["synflow"], 3, metric="cifar100_val_12")["rows"][0][
        "paper_spearman"] is None


def test_networks_and_columns_of_each_dataset() -> None:
    assert metric_dataset("imagenet16_val_12") == "imagenet16"
    assert DATASETS["imagenet16"] == DataInfo(3, 16, 120)
    assert DATASETS["cifar100"] == DataInfo(3, 32, 100)
    with pytest.raises(ConfigError, match="unknown accuracy column 'cifar10_test_100'"):
        metric_dataset("cifar10_test_100")
    with pytest.raises(DataError, match="snip scores a CIFAR-10 minibatch and the accuracy "
                                        "column is cifar100's"):
        bench_zerocost(["params", "snip"], 3, metric="cifar100_test_200")


def test_cli_metric_option() -> None:
    result = CliRunner().invoke(main, ["bench", "zerocost", "--sample", "3", "--proxies",
                                       "params", "--metric", "imagenet16_test_12"])
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("against imagenet16_test_12")
    bad = CliRunner().invoke(main, ["bench", "zerocost", "--metric", "cifar10_test"])
    assert bad.exit_code == 2 and "cifar10_test_200" in bad.output
