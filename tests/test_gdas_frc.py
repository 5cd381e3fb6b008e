"""GDAS (FRC): the fixed GDAS reduction cell in the darts space (space.reduction_cell=gdas_frc)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nascore.architecture import Architecture
from nascore.costs import count_macs, count_params
from nascore.errors import ConfigError, MalformedArchitecture
from nascore.plugins import make_space
from nascore.space import DataInfo, EdgeWeights, SupernetOptions
from nascore.spaces.darts import (
    CellPlan,
    DartsSpace,
    DartsSpaceConfig,
    DiscreteCell,
    GdasReductionCell,
    SearchCell,
)
from nascore.spaces.darts.zoo import ZOO
from nascore.testing import run_cli

DIGITS = DataInfo(1, 8, 10)


def _space(**config) -> DartsSpace:
    return DartsSpace(
        DartsSpaceConfig(**{"channels": 8, "layers": 3, "reduction_cell": "gdas_frc", **config}),
        DIGITS,
    )


def _scores(space: DartsSpace, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {g.name: torch.rand(g.shape, generator=generator) for g in space.decision_groups()}


# -- the cell -------------------------------------------------------------------------------------
def test_cell_outputs_4c_channels_at_half_resolution() -> None:
    cell = GdasReductionCell(CellPlan(True, False, 16, 16, 8), affine=True).eval()
    out = cell(torch.randn(2, 16, 8, 8), torch.randn(2, 16, 8, 8))
    assert out.shape == (2, 32, 4, 4)
    odd = cell(torch.randn(2, 16, 7, 7), torch.randn(2, 16, 7, 7))
    assert odd.shape == (2, 32, 4, 4)  # ceil(7 / 2), like the searched cells' stride-2 ops
    after_reduction = GdasReductionCell(CellPlan(True, True, 16, 32, 8), affine=True).eval()
    assert after_reduction(torch.randn(2, 16, 8, 8), torch.randn(2, 32, 4, 4)).shape == (
        2, 32, 2, 2)


def test_cell_layers_and_hand_counted_parameters() -> None:
    # C_prev_prev = C_prev = 16, C = 8, affine (evaluation network):
    # preprocessing 2 x (16*8 conv + 2*8 BN) = 288; each conv branch: 1x3 conv with 8 groups
    # 8*1*3 = 24, 3x1 conv 24, BN 16, 1x1 conv 64, BN 16 = 144, two = 288; two pool BNs 32
    cell = GdasReductionCell(CellPlan(True, False, 16, 16, 8), affine=True)
    assert count_params(cell) == 288 + 288 + 32 == 608
    branch = cell.branches[0]
    kinds = [type(m).__name__ for m in branch]
    assert kinds == ["ReLU", "Conv2d", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d"]
    assert (branch[1].kernel_size, branch[1].stride, branch[1].groups) == ((1, 3), (1, 2), 8)
    assert (branch[2].kernel_size, branch[2].stride, branch[2].groups) == ((3, 1), (2, 1), 8)
    assert (branch[5].kernel_size, branch[5].groups) == ((1, 1), 1)
    assert all(conv.bias is None for conv in (branch[1], branch[2], branch[5]))
    pool = cell.pools[1]
    assert isinstance(pool[0], nn.MaxPool2d) and (pool[0].kernel_size, pool[0].stride) == (3, 2)
    # supernet (BN without affine): the reference's convs then carry a bias (bias=not affine):
    # preprocessing 2 x 128 = 256; per branch 24+8 + 24+8 + 64+8 = 136, two = 272; pools 0
    searched = GdasReductionCell(CellPlan(True, False, 16, 16, 8), affine=False)
    assert count_params(searched) == 256 + 272 == 528


def test_outputs_are_branch_branch_pool_of_s0_pool_of_s1() -> None:
    torch.manual_seed(0)
    cell = GdasReductionCell(CellPlan(True, False, 16, 16, 8), affine=True).eval()
    s0, s1 = torch.randn(2, 16, 8, 8), torch.randn(2, 16, 8, 8)
    out = cell(s0, s1)
    x0, x1 = cell.preprocess0(s0), cell.preprocess1(s1)
    parts = [cell.branches[0](x0), cell.branches[1](x1), cell.pools[0](x0), cell.pools[1](x1)]
    for k, expected in enumerate(parts):
        assert torch.allclose(out[:, 8 * k : 8 * (k + 1)], expected)
    # X2 is a max pool of s0 alone: changing s1 leaves it unchanged, X3 changes
    other = cell(s0, torch.randn(2, 16, 8, 8))
    assert torch.equal(other[:, 16:24], out[:, 16:24])
    assert not torch.equal(other[:, 24:], out[:, 24:])


def test_drop_path_drops_whole_outputs_only_in_training() -> None:
    cell = GdasReductionCell(CellPlan(True, False, 16, 16, 8), affine=True)
    s0, s1 = torch.randn(16, 16, 8, 8), torch.randn(16, 16, 8, 8)
    cell.eval()
    assert torch.equal(cell(s0, s1, drop_prob=0.5), cell(s0, s1))
    cell.train()
    torch.manual_seed(3)
    dropped = cell(s0, s1, drop_prob=0.5)
    full = cell(s0, s1)
    blocks = dropped.view(16, 4, 8, 4, 4)
    zero = blocks.flatten(2).abs().sum(-1) == 0
    assert 0 < int(zero.sum()) < 64  # some (sample, output) blocks dropped, not all
    kept = ~zero
    assert torch.allclose(blocks[kept], 2 * full.view(16, 4, 8, 4, 4)[kept], atol=1e-5)


def test_channels_that_8_groups_cannot_split_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="multiple of 8 channels.*divisible by 4"):
        GdasReductionCell(CellPlan(True, False, 12, 12, 12), affine=True)
    with pytest.raises(ConfigError, match="multiple of 8"):
        _space(channels=6).build_supernet(SupernetOptions())


# -- the space ------------------------------------------------------------------------------------
def test_supernet_has_no_reduce_group_and_fixed_reduction_cells() -> None:
    space = _space()
    assert [g.name for g in space.decision_groups()] == ["normal"]
    supernet = space.build_supernet(SupernetOptions())
    assert [g.name for g in supernet.groups] == ["normal"]
    kinds = [type(cell) for cell in supernet.cells]
    assert kinds == [SearchCell, GdasReductionCell, GdasReductionCell]  # reductions at 1 and 2
    weights = {g.name: EdgeWeights(torch.full(g.shape, 1 / g.shape[1], requires_grad=True))
               for g in supernet.groups}
    supernet(torch.randn(2, 1, 8, 8), weights).sum().backward()
    assert float(weights["normal"].weights.grad.abs().sum()) > 0
    # with a searched reduction cell the same supernet has both groups
    searched = _space(reduction_cell="searched")
    assert [g.name for g in searched.decision_groups()] == ["normal", "reduce"]
    levels = space.build_supernet(SupernetOptions(levels=2, proxy={"layers": 5}))
    assert [g.name for g in levels.groups] == ["normal", "normal_2"]


def test_derived_architecture_round_trips_and_builds() -> None:
    space = _space()
    arch = space.derive(_scores(space))
    assert arch.spec["reduce"] == "gdas_frc" and "reduce_concat" not in arch.spec
    text = space.format(arch)
    assert text.endswith(", reduce='gdas_frc')")
    assert space.parse(text) == arch
    assert Architecture.from_dict(json.loads(json.dumps(arch.to_dict()))) == arch
    # a genotype with only the normal cell gets the fixed cell on this space
    assert space.parse(text.replace(", reduce='gdas_frc'", "")) == arch
    assert space.validate(Architecture("darts", {"normal": arch.spec["normal"]})) == arch
    network = space.build_network(arch, channels=8, layers=5)
    cells = list(network.cells)
    assert [type(c) for c in cells] == [DiscreteCell, GdasReductionCell, DiscreteCell,
                                        GdasReductionCell, DiscreteCell]
    assert network(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    assert [f["reduction"] for f in network.feature_info] == [1, 2, 4]
    network.train()
    network.drop_path_prob = 0.2
    loss = network(torch.randn(4, 1, 8, 8)).sum()
    loss.backward()
    assert all(p.grad is not None for p in network.cells[1].parameters())


def test_plot_draws_the_fixed_reduction_cell(tmp_path: Path) -> None:
    space = _space()
    arch = space.derive(_scores(space))
    names = sorted(Path(p).name for p in space.plot(arch, str(tmp_path / "cell")))
    assert names == sorted(f"cell_{k}.{e}" for k in ("normal", "reduce")
                           for e in ("png", "pdf", "dot"))
    dot = (tmp_path / "cell_reduce.dot").read_text()
    assert dot.count("max_pool_3x3") == 2 and dot.count("conv_1x3_3x1_g8") == 2


def test_architectures_must_match_the_spaces_reduction_cell() -> None:
    frc, searched = _space(), _space(reduction_cell="searched")
    with pytest.raises(MalformedArchitecture, match="set space.reduction_cell=searched"):
        frc.validate(ZOO["darts_v2"])
    arch = frc.derive(_scores(frc))
    with pytest.raises(MalformedArchitecture, match="set space.reduction_cell=gdas_frc"):
        searched.validate(arch)
    with pytest.raises(MalformedArchitecture, match="fixed cells 'gdas_frc'"):
        frc.validate(Architecture("darts", {**arch.spec, "reduce": "nasnet"}))
    with pytest.raises(MalformedArchitecture, match="reduce_concat does not apply"):
        frc.validate(Architecture("darts", {**arch.spec, "reduce_concat": [2, 3, 4, 5]}))


def test_cost_tables_cover_the_normal_cell_and_add_up_to_the_network() -> None:
    space = _space()
    arch = space.derive(_scores(space, seed=4))
    network = space.build_network(arch)
    chosen = space.one_hot(arch)
    assert list(chosen) == ["normal"]
    example = torch.zeros(1, 1, 8, 8)
    for metric, measured in (("params", count_params(network)),
                             ("flops", count_macs(network, example))):
        table = space.cost_table(metric)
        assert list(table.per_group) == ["normal"]
        total = table.constant + float(table.per_group["normal"][chosen["normal"]].sum())
        assert total == pytest.approx(measured)


def test_discrete_strategies_search_only_the_normal_cell() -> None:
    space = _space()
    decisions = space.decisions()
    assert len(decisions) == 4 * 4 and all(d.name.startswith("normal.") for d in decisions)
    rng = np.random.default_rng(0)
    sampled = space.sample(rng)
    assert sampled.spec["reduce"] == "gdas_frc"
    assert space.decode(space.encode(sampled)) == sampled
    mutated = space.mutate(sampled, rng)
    assert mutated.spec["reduce"] == "gdas_frc" and mutated != sampled


def test_bad_settings_are_one_line_config_errors() -> None:
    with pytest.raises(ConfigError, match="reduction_cell must be one of searched, gdas_frc"):
        make_space("darts", {"reduction_cell": "nasnet"}, DIGITS)
    with pytest.raises(ConfigError, match="set nodes=4"):
        make_space("darts", {"reduction_cell": "gdas_frc", "nodes": 3}, DIGITS)
    with pytest.raises(ConfigError, match="use at least 3 layers"):
        _space(layers=2).build_supernet(SupernetOptions())
    with pytest.raises(ConfigError, match="space adarts does not support"):
        make_space("adarts", {"reduction_cell": "gdas_frc"}, DIGITS)


# -- the CLI --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_gdas_frc_search_show_train_and_onnx_export(nas, tmp_path: Path) -> None:
    search = tmp_path / "search"
    nas("run", "--strategy", "gdas", "--space", "darts", "--set", "space.reduction_cell=gdas_frc",
        "--epochs", "1", "--channels", "8", "--layers", "3", "--batch-size", "32",
        "--set", "data.subset=96", "--out", str(search), "--quiet", check=True)
    arch = Architecture.load(search / "architecture.json")
    assert arch.spec["reduce"] == "gdas_frc" and set(arch.spec) == {
        "normal", "normal_concat", "reduce"}
    genotype = (search / "genotype.txt").read_text().strip()
    assert genotype.endswith("reduce='gdas_frc')")
    space = _space()
    assert space.parse(genotype) == space.validate(arch)
    code, shown, err = run_cli("show", str(search))
    assert code == 0, err
    assert "reduce='gdas_frc'" in shown
    train = tmp_path / "train"
    nas("train", str(search), "--epochs", "1", "--channels", "8", "--layers", "3",
        "--batch-size", "32", "--set", "data.subset=96", "--out", str(train), "--quiet",
        check=True)
    assert json.loads((train / "result.json").read_text())["epochs"] == 1
    assert Architecture.load(train / "architecture.json") == arch
    onnx = tmp_path / "m.onnx"
    exported = nas("export", str(train), "--format", "onnx", "--out", str(onnx), check=True)
    assert "max abs difference" in exported.stdout + exported.stderr
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    assert session.run(None, {"input": np.zeros((3, 1, 8, 8), np.float32)})[0].shape == (3, 10)
    # the genotype on a space with searched reduction cells: a one-line error naming the fix
    code, _out, err = run_cli("train", "--genotype", genotype, "--epochs", "1", "--channels",
                              "8", "--layers", "3", "--set", "data.subset=96", "--threads", "1",
                              "--out", str(tmp_path / "x"))
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "set space.reduction_cell=gdas_frc" in lines[0]
    code, _out, err = run_cli("run", "--strategy", "gdas", "--space", "darts", "--set",
                              "space.reduction_cell=nasnet", "--threads", "1",
                              "--out", str(tmp_path / "y"))
    assert code != 0
    assert err.strip().splitlines() == [
        "error: space.reduction_cell must be one of searched, gdas_frc; got 'nasnet'"]
