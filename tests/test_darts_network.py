"""The darts evaluation networks: published parameter counts, contract, drop path, costs, plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nascore.costs import count_macs, count_params
from nascore.errors import ConfigError
from nascore.space import DataInfo
from nascore.spaces.darts import DartsSpace, DartsSpaceConfig, DiscreteCell, plan_cells
from nascore.spaces.darts.network import AuxiliaryHead
from nascore.spaces.darts.zoo import ZOO


@pytest.fixture
def space():
    return DartsSpace(DartsSpaceConfig(channels=4, layers=5), DataInfo(1, 8, 10))


# Exact counts (auxiliary head excluded); published: 3.3M, 3.6M (CIFAR-10, C=36, 20 cells) and
# 4.7M, 5.3M (ImageNet, C=48, 14 cells).
@pytest.mark.parametrize(
    ("name", "variant", "expected", "published"),
    [
        ("darts_v2", "cifar", 3_349_342, 3.3),
        ("pcdarts", "cifar", 3_634_678, 3.6),
        ("darts_v2", "imagenet", 4_718_752, 4.7),
        ("pcdarts_imagenet", "imagenet", 5_342_464, 5.3),
    ],
)
def test_published_parameter_counts(name, variant, expected, published):
    space = DartsSpace(DartsSpaceConfig(), DataInfo(3, 32, 10))
    size = {"cifar": (36, 20, 10), "imagenet": (48, 14, 1000)}[variant]
    channels, layers, classes = size
    network = space.build_network(ZOO[name], channels=channels, layers=layers,
                                  num_classes=classes, auxiliary=True, variant=variant)
    count = count_params(network, exclude=("auxiliary",))
    assert count == expected
    assert round(count / 1e6, 1) == published
    assert count_params(network) > count  # the auxiliary head exists and is excluded


def test_tiny_digits_network_contract(space):
    network = space.build_network(ZOO["darts_v2"], auxiliary=True)
    x = torch.randn(4, 1, 8, 8)
    network.train()
    logits, aux = network(x)
    assert logits.shape == aux.shape == (4, 10)
    (logits.sum() + aux.sum()).backward()
    network.eval()
    assert network(x).shape == (4, 10)
    plain = space.build_network(ZOO["darts_v2"]).train()
    assert plain(x).shape == (4, 10)  # no auxiliary head: logits only, even in training


def test_defaults_and_sizes(space):
    network = space.build_network(ZOO["pcdarts"])
    assert len(network.cells) == 5
    assert network.stem[0].in_channels == 1 and network.stem[0].out_channels == 12
    assert network.classifier.out_features == 10
    assert [c.reduction for c in network.cells] == [False, True, False, True, False]
    bigger = space.build_network(ZOO["pcdarts"], channels=6, layers=3, num_classes=7,
                                 in_channels=3)
    assert len(bigger.cells) == 3 and bigger.classifier.out_features == 7
    assert bigger(torch.randn(2, 3, 12, 12)).shape == (2, 7)
    with pytest.raises(ConfigError, match="variant"):
        space.build_network(ZOO["pcdarts"], variant="mobile")


def test_imagenet_variant_stems(space):
    network = space.build_network(ZOO["darts_v2"], channels=8, layers=3, variant="imagenet",
                                  in_channels=3, auxiliary=True).train()
    s0, s1 = network.stems(torch.randn(2, 3, 224, 224))
    assert s0.shape == (2, 8, 56, 56) and s1.shape == (2, 8, 28, 28)
    logits, aux = network(torch.randn(2, 3, 64, 64))
    assert logits.shape == aux.shape == (2, 10)


def test_auxiliary_head_published_pool_and_small_maps():
    torch.manual_seed(0)
    head = AuxiliaryHead(6, 5, pool_stride=3).eval()
    x = torch.randn(2, 6, 8, 8)
    pooled = F.avg_pool2d(F.relu(x), 5, 3, count_include_pad=False)
    assert torch.allclose(head(x), head.classifier(head.features(pooled).flatten(1)))
    small = torch.randn(2, 6, 2, 2)
    assert torch.allclose(head(small), head.classifier(head.features(F.relu(small)).flatten(1)))
    assert head(torch.randn(2, 6, 1, 1)).shape == (2, 5)


def test_drop_path_only_when_training(space):
    network = space.build_network(ZOO["darts_v2"])
    x = torch.randn(8, 1, 8, 8)
    network.train()
    reference = network(x)
    network.drop_path_prob = 0.5
    torch.manual_seed(0)
    assert not torch.allclose(network(x), reference)
    network.eval()
    evaluated = network(x)
    network.drop_path_prob = 0.0
    assert torch.allclose(network(x), evaluated)


def test_drop_path_spares_identity_ops():
    plan = plan_cells(4, 3, 4, 4)[0]  # a normal cell: every op at stride 1
    cell = DiscreteCell(plan, [0, 1] * 4, lambda *_: nn.Identity()).train()
    s0, s1 = torch.randn(4, 4, 6, 6), torch.randn(4, 4, 6, 6)
    assert torch.allclose(cell(s0, s1, 0.9), cell(s0, s1, 0.0))


def test_network_converts_dtype_with_to(space):
    network = space.build_network(ZOO["darts_v2"], auxiliary=True).eval()
    x = torch.randn(2, 1, 8, 8)
    expected = network(x).double()
    assert network.to(torch.float64) is network
    assert all(p.dtype == torch.float64 for p in network.parameters())
    out = network(x.double())
    assert out.dtype == torch.float64
    assert torch.allclose(out, expected, atol=1e-5)
    assert network.float()(x).dtype == torch.float32


def test_act_factory_reaches_parameterized_ops(space):
    network = space.build_network(ZOO["darts_v2"], act=nn.ELU)
    cell_ops = [m for c in network.cells for m in c.ops.modules()]
    elus = sum(isinstance(m, nn.ELU) for m in cell_ops)
    # DARTS_V2 normal cell: 5 sep convs (2 activations each) and 1 dil conv, in 3 normal cells
    assert elus == 3 * (5 * 2 + 1)


# -- costs -----------------------------------------------------------------------------------


def _exact(space, arch, metric):
    network = space.build_network(arch)
    if metric == "params":
        return count_params(network)
    size = space.data.image_size
    return count_macs(network, torch.zeros(1, space.data.in_channels, size, size))


@pytest.mark.parametrize("metric", ["params", "flops"])
def test_costs_add_up_to_the_network(space, metric):
    table = space.cost_table(metric)
    assert table.metric == metric
    for group in ("normal", "reduce"):
        assert table.per_group[group].shape == (14, 8)
        assert torch.all(table.per_group[group][:, 0] == 0)  # none
    archs = [ZOO["darts_v2"], ZOO["pcdarts"], *(space.sample(np.random.default_rng(s))
                                                for s in range(3))]
    for arch in archs:
        one_hot = space.one_hot(arch)
        chosen = sum(float((one_hot[g] * table.per_group[g]).sum()) for g in one_hot)
        exact = _exact(space, arch, metric)
        assert table.constant + chosen == exact
        assert float(table.expected(one_hot)) == pytest.approx(exact)


def test_params_cost_of_sep_conv_by_hand(space):
    table = space.cost_table("params").per_group
    # normal cells at layers 0, 2, 4 have C = 4, 8, 16; sep_conv_3x3 has 2 * (9C + C^2 + 2C)
    expected = sum(2 * (9 * C + C * C + 2 * C) for C in (4, 8, 16))
    assert torch.all(table["normal"][:, 4] == expected)
    assert torch.all(table["normal"][:, 3] == 0)  # identity skip
    # reduce: stride-2 skip on the input edges is a FactorizedReduce (C = 8, 16)
    fr = sum(2 * (C * C // 2) + 2 * C for C in (8, 16))
    assert table["reduce"][0, 3] == fr and table["reduce"][4, 3] == 0  # n3<-2 is stride 1


def test_unknown_cost_metric(space):
    with pytest.raises(ConfigError, match="unknown cost metric 'energy'.*params, flops, latency"):
        space.cost_table("energy")


def test_plot_writes_png_pdf_and_dot(space, tmp_path):
    paths = space.plot(ZOO["darts_v2"], str(tmp_path / "cell"))
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == [
        "cell_normal.dot", "cell_normal.pdf", "cell_normal.png",
        "cell_reduce.dot", "cell_reduce.pdf", "cell_reduce.png",
    ]
    starts = {"png": b"\x89PNG", "pdf": b"%PDF", "dot": b'digraph "'}
    for path in paths:
        assert Path(path).read_bytes().startswith(starts[path.rsplit(".", 1)[1]])
