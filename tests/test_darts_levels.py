"""RC-DARTS's additions to the darts space: normal-cell depth levels and connection cells."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nascore.architecture import Architecture
from nascore.costs import count_params
from nascore.errors import ConfigError, MalformedArchitecture
from nascore.nn.blocks import ReLUConvBN, channel_shuffle
from nascore.space import DataInfo, EdgeWeights, Selection, SupernetOptions
from nascore.spaces.darts import (
    CONNECTION_CHOICES,
    ConnectionEdge,
    DartsSpace,
    DartsSpaceConfig,
    connection_op,
    normal_levels,
)
from nascore.spaces.darts.zoo import ZOO

DIGITS = DataInfo(1, 8, 10)


def _space(**config) -> DartsSpace:
    return DartsSpace(DartsSpaceConfig(**{"channels": 4, "layers": 5, **config}), DIGITS)


def _multi_level(arch: Architecture, levels: int, connection: str | None = None) -> Architecture:
    """``arch`` with its normal cell copied to ``levels`` levels (and a connection op)."""
    spec = dict(arch.spec)
    for level in range(2, levels + 1):
        spec[f"normal_{level}"] = spec["normal"]
    if connection is not None:
        spec["connection"] = connection
    return Architecture("darts", spec)


# -- levels ------------------------------------------------------------------------------------
def test_normal_cells_split_evenly_by_depth() -> None:
    assert normal_levels(6, 3) == [1, 1, 2, 2, 3, 3]  # the paper's 8 cells: low, mid, high
    assert normal_levels(5, 3) == [1, 1, 2, 2, 3]
    assert normal_levels(18, 3) == [1] * 6 + [2] * 6 + [3] * 6  # 20-cell evaluation network
    with pytest.raises(ConfigError, match="3 normal-cell levels need at least 3 normal cells"):
        normal_levels(1, 3)


def test_supernet_gets_per_level_groups_routed_to_their_cells() -> None:
    space = DartsSpace(DartsSpaceConfig(channels=4, layers=8), DIGITS)
    supernet = space.build_supernet(SupernetOptions(levels=3))
    assert [g.name for g in supernet.groups] == ["normal", "normal_2", "normal_3", "reduce"]
    assert [cell.key for cell in supernet.cells] == [
        "normal", "normal", "reduce", "normal_2", "normal_2", "reduce", "normal_3", "normal_3",
    ]
    weights = {g.name: EdgeWeights(torch.full(g.shape, 1 / 8, requires_grad=True))
               for g in supernet.groups}
    supernet(torch.randn(2, 1, 8, 8), weights).sum().backward()
    assert all(float(w.weights.grad.abs().sum()) > 0 for w in weights.values())
    with pytest.raises(ConfigError, match="need at least 7 normal cells"):
        space.build_supernet(SupernetOptions(levels=7))


def test_a_level_with_only_none_empties_exactly_its_cells() -> None:
    space = _space()
    supernet = space.build_supernet(SupernetOptions(levels=3)).eval()
    outputs: dict[str, list[torch.Tensor]] = {}

    def keep(cell, _inputs, out) -> None:
        outputs.setdefault(cell.key, []).append(out)

    for cell in supernet.cells:
        cell.register_forward_hook(keep)
    weights = {g.name: EdgeWeights(torch.full(g.shape, 1 / 8)) for g in supernet.groups}
    only_none = torch.zeros(14, 8)
    only_none[:, 0] = 1.0
    weights["normal_2"] = EdgeWeights(only_none, mask=only_none.bool())
    with torch.no_grad():
        supernet(torch.randn(2, 1, 8, 8), weights)
    assert len(outputs["normal_2"]) == 1 and float(outputs["normal_2"][0].abs().sum()) == 0.0
    assert all(float(out.abs().sum()) > 0 for key in ("normal", "normal_3", "reduce")
               for out in outputs[key])


def test_derive_format_parse_and_networks_of_other_depths() -> None:
    space = _space()
    groups = space.supernet_groups(3)
    scores = {g.name: torch.rand(g.shape, generator=torch.Generator().manual_seed(i))
              for i, g in enumerate(groups)}
    arch = space.derive(scores)
    assert list(arch.spec) == ["normal", "normal_concat", "normal_2", "normal_2_concat",
                               "normal_3", "normal_3_concat", "reduce", "reduce_concat"]
    text = space.format(arch)
    assert "normal_2=[" in text and "normal_3_concat=range(2, 6)" in text
    assert space.parse(text) == space.validate(arch)
    network = space.build_network(arch, layers=20, channels=4)
    keys = [cell.key for cell in network.cells]
    assert keys.count("reduce") == 2
    assert [k for k in keys if k != "reduce"] == ["normal"] * 6 + ["normal_2"] * 6 + [
        "normal_3"] * 6
    assert network(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    with pytest.raises(MalformedArchitecture, match="discrete decisions .* cover one normal"):
        space.encode(arch)


def test_malformed_levels_are_one_line_errors() -> None:
    space = _space()
    spec = dict(ZOO["darts_v2"].spec)
    spec["normal_3"] = spec["normal"]
    with pytest.raises(MalformedArchitecture, match="normal_2 is missing"):
        space.validate(Architecture("darts", spec))
    text = space.format(ZOO["darts_v2"]).replace("reduce=", "normal_1=[], reduce=")
    with pytest.raises(MalformedArchitecture, match="unknown field 'normal_1'"):
        space.parse(text)


def test_one_level_is_unchanged() -> None:
    space = _space()
    assert space.supernet_groups(1) == space.decision_groups()
    assert space.format(ZOO["darts_v2"]).count("normal") == 2
    assert space.parse(space.format(ZOO["darts_v2"])) == ZOO["darts_v2"]


# -- connection cells --------------------------------------------------------------------------
def test_connection_ops_and_their_parameters() -> None:
    x = torch.randn(2, 12, 5, 5)
    for name, groups in (("conv_1x1", 1), ("conv_1x1_g2", 2), ("conv_1x1_g4", 4)):
        op = connection_op(name, 12, 8)
        assert count_params(op) == 12 * 8 // groups + 2 * 8  # 1x1 group conv + BN
        assert op(x).shape == (2, 8, 5, 5)
    assert isinstance(connection_op("conv_1x1", 12, 8), ReLUConvBN)  # DARTS's preprocessing
    dil = connection_op("dil_conv_3x3", 12, 8)
    assert count_params(dil) == 12 * 9 + 12 * 8 + 2 * 8
    op = connection_op("conv_1x1_g4", 12, 8).eval()
    plain = nn.Sequential(*list(op.children()))  # the same layers without the shuffle
    assert torch.equal(op(x), channel_shuffle(plain(x), 4))
    with pytest.raises(ConfigError, match="conv_1x1_g4 needs channel counts divisible by 4"):
        connection_op("conv_1x1_g4", 126, 42)


def test_connection_edge_runs_only_what_the_selection_selects() -> None:
    edge = ConnectionEdge(12, 8, lambda name, c_in, c_out: connection_op(name, c_in, c_out,
                                                                          False))
    calls = []
    for name, op in zip(CONNECTION_CHOICES, edge.ops, strict=True):
        op.register_forward_hook(lambda *_, name=name: calls.append(name))
    x = torch.randn(2, 12, 5, 5)
    weights = torch.tensor([0.1, 0.2, 0.3, 0.4])
    mixed = edge(x, Selection(weights))
    expected = sum(w * op(x) for w, op in zip(weights, edge.ops, strict=True))
    assert torch.allclose(mixed, expected, atol=1e-6)
    calls.clear()
    edge(x, Selection(weights, index=2))
    assert calls == ["conv_1x1_g2"]
    calls.clear()
    edge(x, Selection(weights, mask=torch.tensor([False, True, True, False])))
    assert calls == ["conv_1x1", "conv_1x1_g2"]


def test_connection_cell_supernet_network_and_genotype() -> None:
    space = _space(connection_cell=True)
    groups = space.decision_groups()
    assert groups[-1].name == "connection" and groups[-1].shape == (1, 4)
    assert groups[-1].role == "connection" and groups[-1].candidates == CONNECTION_CHOICES
    supernet = space.build_supernet(SupernetOptions())
    edges = [m for m in supernet.modules() if isinstance(m, ConnectionEdge)]
    assert len(edges) == 5 * 2 - 2  # both inputs of every cell, but after the two reductions
    weights = {g.name: EdgeWeights(torch.full(g.shape, 1 / g.shape[1], requires_grad=True))
               for g in groups}
    supernet(torch.randn(2, 1, 8, 8), weights).sum().backward()
    assert float(weights["connection"].weights.grad.abs().sum()) > 0
    scores = {g.name: torch.rand(g.shape, generator=torch.Generator().manual_seed(1))
              for g in groups}
    scores["connection"] = torch.tensor([[0.1, 0.2, 0.9, 0.3]])
    arch = space.derive(scores)
    assert arch.spec["connection"] == "conv_1x1_g2"
    assert space.format(arch).endswith(", connection='conv_1x1_g2')")
    assert space.parse(space.format(arch)) == arch
    assert space.decode(space.encode(arch)) == arch
    network = space.build_network(arch)
    convs = [m for m in network.modules() if isinstance(m, nn.Conv2d) and m.groups == 2]
    assert len(convs) == 8
    assert network(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_connection_validation_and_published_cells() -> None:
    with_cells = _space(connection_cell=True)
    filled = with_cells.validate(ZOO["darts_v2"])
    assert filled.spec["connection"] == "conv_1x1"
    # conv_1x1 is DARTS's own preprocessing: the published count does not change
    published = DartsSpace(DartsSpaceConfig(connection_cell=True), DataInfo(3, 32, 10))
    network = published.build_network(ZOO["darts_v2"], channels=36, layers=20, auxiliary=True)
    assert count_params(network, exclude=("auxiliary",)) == 3_349_342
    with pytest.raises(MalformedArchitecture, match="set space.connection_cell=true"):
        _space().validate(_multi_level(ZOO["darts_v2"], 1, "conv_1x1_g4"))
    with pytest.raises(MalformedArchitecture, match="connection must be one of"):
        with_cells.validate(_multi_level(ZOO["darts_v2"], 1, "conv_3x3"))
    rng = np.random.default_rng(0)
    sampled = with_cells.sample(rng)
    assert sampled.spec["connection"] in CONNECTION_CHOICES


def test_plots_of_levels_and_the_connection_cell(tmp_path) -> None:
    space = _space(connection_cell=True)
    arch = _multi_level(ZOO["darts_v2"], 2, "dil_conv_3x3")
    names = sorted(p.rsplit("/", 1)[1] for p in space.plot(arch, str(tmp_path / "cell")))
    assert names == sorted(f"cell_{k}.{e}" for k in ("normal", "normal_2", "reduce",
                                                     "connection") for e in ("png", "pdf", "dot"))
