"""The nb201 space (cell strings, decisions, networks, supernet) and the tabular nb201 estimator."""

from __future__ import annotations

import csv
import gzip
import hashlib

import numpy as np
import pytest
import torch

from nascore.architecture import Architecture
from nascore.context import SearchContext
from nascore.costs import count_params
from nascore.errors import DataError, IncompatibleError, MalformedArchitecture
from nascore.estimators.nb201 import NB201Estimator, NB201EstimatorConfig
from nascore.estimators.nb201_table import ENV_VAR, PACKAGED_PATH, resolve_path
from nascore.events import EventLog
from nascore.plugins import registry
from nascore.space import DataInfo, EdgeWeights, SearchSpace, SupernetOptions
from nascore.spaces.nb201 import NB201Config, NB201Space
from nascore.spaces.nb201.cell import OPS
from nascore.spaces.nb201.supernet import MixedCell

CELL = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)


@pytest.fixture
def space() -> NB201Space:
    return NB201Space(NB201Config(channels=4, cells_per_stage=1), DataInfo(1, 8, 10))


def csv_rows(n: int) -> list[dict[str, str]]:
    """The first ``n`` rows of the table, read independently of the estimator."""
    with gzip.open(resolve_path(), "rt", newline="") as fh:
        reader = csv.DictReader(fh)
        return [next(reader) for _ in range(n)]


def context_for(space: SearchSpace) -> SearchContext:
    return SearchContext(space=space, seed=0, device=torch.device("cpu"), events=EventLog(None))


# -- cell strings ----------------------------------------------------------------------------
def test_format_parse_round_trip(space: NB201Space) -> None:
    arch = space.parse(CELL)
    assert arch.spec["ops"] == [
        "nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3",
        "skip_connect",
    ]
    assert space.format(arch) == CELL
    for row in csv_rows(200):
        assert space.format(space.parse(row["arch"])) == row["arch"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|",  # two nodes only
        CELL.replace("avg_pool_3x3~1", "avg_pool_3x3~2"),  # wrong input index
        CELL.replace("avg_pool_3x3", "max_pool_3x3"),  # unknown op
        CELL.replace("skip_connect~0|", "skip_connect~0"),  # broken separator
        CELL.replace("|nor_conv_3x3~0|+", "|nor_conv_3x3~0|skip_connect~1|+", 1),  # 2 inputs at n1
        CELL.replace("~", "-"),
    ],
)
def test_parse_rejects_malformed_strings(space: NB201Space, text: str) -> None:
    with pytest.raises(MalformedArchitecture) as info:
        space.parse(text)
    assert "\n" not in str(info.value) and "nb201" in str(info.value)


def test_validate_rejects_bad_specs(space: NB201Space) -> None:
    with pytest.raises(MalformedArchitecture):
        space.validate(Architecture("nb201", {"ops": ["none"] * 5}))
    with pytest.raises(MalformedArchitecture):
        space.validate(Architecture("darts", {"ops": ["none"] * 6}))
    with pytest.raises(MalformedArchitecture):
        space.format(Architecture("nb201", {"edges": ["none"] * 6}))


# -- decisions -------------------------------------------------------------------------------
def test_encode_decode(space: NB201Space) -> None:
    arch = space.parse(CELL)
    assert space.encode(arch) == [3, 3, 4, 1, 3, 1]
    assert space.decode([3, 3, 4, 1, 3, 1]) == arch
    names = [d.name for d in space.decisions()]
    assert names == ["n1<-0", "n2<-0", "n2<-1", "n3<-0", "n3<-1", "n3<-2"]
    assert all(d.candidates == OPS for d in space.decisions())
    for bad in ([0] * 5, [0, 0, 0, 0, 0, 5], [-1, 0, 0, 0, 0, 0]):
        with pytest.raises(MalformedArchitecture):
            space.decode(bad)


def test_mutate_changes_exactly_one_op(space: NB201Space) -> None:
    rng = np.random.default_rng(0)
    arch = space.parse(CELL)
    changed_edges = set()
    for _ in range(200):
        child = space.mutate(arch, rng)
        pairs = zip(space.encode(arch), space.encode(child), strict=True)
        diff = [i for i, (a, b) in enumerate(pairs) if a != b]
        assert len(diff) == 1
        changed_edges.add(diff[0])
    assert changed_edges == set(range(6))


def test_sample_is_seeded_and_valid(space: NB201Space) -> None:
    a = [space.format(space.sample(np.random.default_rng(3))) for _ in range(3)]
    assert len(set(a)) == 1
    samples = {space.format(space.sample(np.random.default_rng(s))) for s in range(50)}
    assert len(samples) > 40
    for text in samples:
        space.parse(text)


# -- networks --------------------------------------------------------------------------------
def test_network_forward_and_none_edges(space: NB201Space) -> None:
    net = space.build_network(space.parse(CELL))
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    wide = space.build_network(space.parse(CELL), channels=8, num_classes=7, in_channels=3)
    assert wide(torch.randn(2, 3, 8, 8)).shape == (2, 7)
    cell = net.layers[0]
    assert sorted(cell.edges) == ["1_0", "2_0", "2_1", "3_0", "3_1", "3_2"]
    empty = space.build_network(space.decode([0] * 6))
    assert len(empty.layers[0].edges) == 0
    assert empty(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_network_params_hand_count(space: NB201Space) -> None:
    """One nor_conv_1x1 edge adds C^2 + 2C parameters per cell: with C=4 and one cell per stage
    at 4, 8, 16 channels that is (16+8) + (64+16) + (256+32) = 392."""
    skip = count_params(space.build_network(space.decode([1] * 6)))
    one_conv = count_params(space.build_network(space.decode([1, 1, 1, 2, 1, 1])))
    assert one_conv - skip == 392
    stages = count_params(space.build_network(space.decode([1] * 6), cells_per_stage=2))
    assert stages == skip  # skip/pool cells have no parameters
    deeper = count_params(space.build_network(space.decode([1, 1, 1, 2, 1, 1]), layers=6))
    assert deeper - skip == 2 * 392


def test_network_rejects_unknown_option(space: NB201Space) -> None:
    with pytest.raises(Exception, match="nb201"):
        space.build_network(space.parse(CELL), auxiliary=True)


# -- supernet --------------------------------------------------------------------------------
def test_decision_groups(space: NB201Space) -> None:
    (group,) = space.decision_groups()
    assert group.name == "cell" and group.shape == (6, 5)
    assert group.zero == "none" and group.zero_index == 0
    assert group.edges[0] == "n1<-0"


def test_mixed_cell_hand_computed() -> None:
    """All edges skip: n1 = x, n2 = x + n1 = 2x, n3 = x + n1 + n2 = 4x; all none: zeros."""
    cell = MixedCell(4, partial_channels=1)
    x = torch.randn(2, 4, 5, 5)
    skip = torch.full((6,), OPS.index("skip_connect"))
    weights = EdgeWeights(torch.nn.functional.one_hot(skip, 5).float(), index=skip)
    out = cell(x, [weights.row(e) for e in range(6)])
    assert torch.allclose(out, 4 * x)
    none = torch.zeros(6, dtype=torch.long)
    weights = EdgeWeights(torch.nn.functional.one_hot(none, 5).float(), index=none)
    assert torch.equal(cell(x, [weights.row(e) for e in range(6)]), torch.zeros_like(x))


@pytest.mark.parametrize("partial_channels", [1, 2])
def test_supernet_dense_and_sampled(space: NB201Space, partial_channels: int) -> None:
    net = space.build_supernet(SupernetOptions(partial_channels=partial_channels))
    alpha = torch.zeros(6, 5, requires_grad=True)
    out = net(torch.randn(4, 1, 8, 8), {"cell": EdgeWeights(torch.softmax(alpha, 1))})
    assert out.shape == (4, 10)
    out.sum().backward()
    assert alpha.grad is not None and alpha.grad[:, 1:].abs().sum() > 0
    index = torch.tensor([3, 1, 0, 2, 4, 1])
    hard = EdgeWeights(torch.nn.functional.one_hot(index, 5).float(), index=index)
    assert net(torch.randn(4, 1, 8, 8), {"cell": hard}).shape == (4, 10)
    # the supernet's BN in cell ops has no affine parameters
    bns = [m for m in net.layers[0].modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not bn.affine for bn in bns)


def test_supernet_proxy_size(space: NB201Space) -> None:
    net = space.build_supernet(SupernetOptions(proxy={"layers": 6, "channels": 8}))
    assert len(net.layers) == 3 * 2 + 2
    assert net.stem[0].out_channels == 8


def test_derive_is_argmax_per_edge(space: NB201Space) -> None:
    scores = torch.zeros(6, 5)
    scores[:, 0] = 1.0  # none wins on every edge: NB201 keeps it
    scores[2, 3] = 2.0
    scores[5, 4] = float("inf")
    scores[5, 0] = float("-inf")
    arch = space.derive({"cell": scores})
    assert arch.spec["ops"] == ["none", "none", "nor_conv_3x3", "none", "none", "avg_pool_3x3"]


def test_registered() -> None:
    reg = registry()
    assert reg.get("space", "nb201") is NB201Space
    assert reg.get("estimator", "nb201") is NB201Estimator


# -- estimator -------------------------------------------------------------------------------
def test_estimator_lookup_matches_csv() -> None:
    space = NB201Space(NB201Config(), DataInfo(3, 32, 10))
    cifar10 = NB201Estimator(NB201EstimatorConfig(), context_for(space))
    cifar100 = NB201Estimator(NB201EstimatorConfig(dataset="cifar100"), context_for(space))
    for row in csv_rows(30)[::7]:
        arch = space.parse(row["arch"])
        got = cifar10.estimate(arch)
        assert got.score == pytest.approx(float(row["cifar10_val_12"]))
        assert got.report["test_200"] == pytest.approx(float(row["cifar10_test_200"]))
        assert got.report["index"] == int(row["index"])
        assert cifar100.estimate(arch).score == pytest.approx(float(row["cifar100_val_12"]))
    # hand-checked against the published table (NAS-Bench-201 index 1)
    hand = cifar10.estimate(space.parse(CELL))
    assert hand.score == pytest.approx(82.834) and hand.report["test_200"] == pytest.approx(93.66)


def test_estimator_counts_every_query() -> None:
    space = NB201Space(NB201Config(), DataInfo(3, 32, 10))
    estimator = NB201Estimator(NB201EstimatorConfig(), context_for(space))
    arch = space.parse(CELL)
    for _ in range(3):
        estimator.estimate(arch)
    assert estimator.queries == 3
    state = estimator.state_dict()
    fresh = NB201Estimator(NB201EstimatorConfig(), context_for(space))
    fresh.load_state_dict(state)
    fresh.estimate(arch)
    assert fresh.queries == 4


def test_estimator_answers_the_tables_budget_and_refuses_others() -> None:
    from nascore.budget import Budget
    from nascore.errors import ConfigError

    space = NB201Space(NB201Config(), DataInfo(3, 32, 10))
    estimator = NB201Estimator(NB201EstimatorConfig(), context_for(space))
    arch = space.parse(CELL)
    assert estimator.estimate(arch, Budget(epochs=12)) == estimator.estimate(arch)
    with pytest.raises(ConfigError, match="12-epoch budgets only, not 200 epochs"):
        estimator.estimate(arch, Budget(epochs=200))
    many = estimator.estimate_many([arch, space.parse(csv_rows(3)[2]["arch"])])
    assert [e.score for e in many] == [estimator.estimate(arch).score,
                                       pytest.approx(float(csv_rows(3)[2]["cifar10_val_12"]))]


def test_the_shipped_table_is_the_benchmark_and_csv_copies_still_override(
    tmp_path, monkeypatch
) -> None:
    assert resolve_path() == PACKAGED_PATH and PACKAGED_PATH.stat().st_size < 600_000
    data = gzip.decompress(PACKAGED_PATH.read_bytes())
    # the sha256 of the benchmark table as documented in shared/data/README.md
    assert hashlib.sha256(data).hexdigest() == (
        "93e0554dac80eef093ba5ba47f44567fd2ac239e50152d5d20dd24adf354178a"
    )
    assert data.count(b"\n") == 15625 + 1
    plain = tmp_path / "nb201.csv"
    plain.write_bytes(data)
    monkeypatch.setenv(ENV_VAR, str(plain))
    space = NB201Space(NB201Config(), DataInfo(3, 32, 10))
    estimator = NB201Estimator(NB201EstimatorConfig(), context_for(space))
    assert estimator.estimate(space.parse(CELL)).score == pytest.approx(82.834)


def test_estimator_missing_table(tmp_path, monkeypatch) -> None:
    space = NB201Space(NB201Config(), DataInfo(3, 32, 10))
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=f"{missing}.*{ENV_VAR}"):
        NB201Estimator(NB201EstimatorConfig(path=str(missing)), context_for(space))
    monkeypatch.setenv(ENV_VAR, str(missing))
    with pytest.raises(DataError, match=str(missing)):
        resolve_path()
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="not an NB201 table"):
        NB201Estimator(NB201EstimatorConfig(path=str(bad)), context_for(space))


def test_estimator_needs_nb201_space() -> None:
    class OtherSpace(SearchSpace):
        name = "other"
        config_cls = NB201Config

    with pytest.raises(IncompatibleError, match="nb201"):
        NB201Estimator(
            NB201EstimatorConfig(), context_for(OtherSpace(NB201Config(), DataInfo(3, 32, 10)))
        )
