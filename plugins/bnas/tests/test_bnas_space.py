"""The ``bnas`` space: the paper's search network, binarized ops from the op factory (supernet,
evaluation network, cost tables), full-precision stem / preprocessing after a reduction /
classifier / auxiliary head, binarized activations, L_A through the extra-loss mechanism and the
``bits`` metric."""

from __future__ import annotations

import attrs
import pytest
import torch
from nascore_bnas.binary import AMPLITUDE_THETA, BinaryConv2d, PCNNConv2d, XNORConv2d
from nascore_bnas.bits import BitsConstraint, model_bits
from nascore_bnas.space import BnasSpace, BnasSpaceConfig
from nascore_bnas.surgery import amplitude_loss
from torch import nn

from nascore import Architecture, ConfigError, DataInfo, EdgeWeights, SupernetOptions, registry
from nascore.extra_loss import pop_extra_loss
from nascore.spaces.darts.ops import PARAMETERIZED, PRIMITIVES
from nascore.training.network import build_network, describe_costs, network_costs

INFO = DataInfo(in_channels=3, image_size=8, num_classes=10)


def _space(**options) -> BnasSpace:
    return BnasSpace(BnasSpaceConfig(**{"channels": 4, **options}), INFO)


def _arch() -> Architecture:
    return Architecture("bnas", registry().get("architecture", "darts_v2").spec)


def _float_convs(network: nn.Module) -> set[str]:
    return {
        name for name, m in network.named_modules()
        if isinstance(m, nn.Conv2d) and not isinstance(m, BinaryConv2d)
    }


def test_defaults_are_the_papers_search_network():
    config = BnasSpaceConfig()
    assert (config.channels, config.layers, config.nodes) == (16, 6, 4)
    assert config.reductions is None  # cells 1 and 3 at the published 6 cells
    assert (config.binarize, config.scaling, config.binarize_activations) == (
        "pcnn", "channel", None)
    assert not config.activations_binarized and config.input_scaling
    assert attrs.evolve(config, binarize="xnor").activations_binarized
    assert config.amplitude_theta == AMPLITUDE_THETA
    supernet = BnasSpace(config, INFO).build_supernet(SupernetOptions(partial_channels=2))
    assert [cell.reduction for cell in supernet.cells] == [
        False, True, False, True, False, False]
    # deeper evaluation networks follow the DARTS rule (cells 6 and 13 of 20)
    network = BnasSpace(config, INFO).build_network(_arch(), channels=4, layers=20)
    assert [i for i, cell in enumerate(network.cells) if cell.reduction] == [6, 13]


@pytest.mark.parametrize("layers, reductions", [
    (6, [1, 3]), (3, [1, 2]), (4, [1, 2]), (5, [1, 3]), (8, [2, 5]),
])
def test_reductions_are_the_published_cells_at_6_and_the_darts_rule_elsewhere(layers, reductions):
    supernet = _space(layers=layers).build_supernet(SupernetOptions())
    assert [i for i, cell in enumerate(supernet.cells) if cell.reduction] == reductions


def test_too_few_layers_for_two_reductions_and_a_normal_cell_is_a_one_line_error():
    with pytest.raises(ConfigError, match="layers=2 leaves no normal cell.*layers >= 3") as info:
        BnasSpaceConfig(layers=2)
    assert "\n" not in str(info.value)
    # explicit reductions still work at any depth they fit
    assert BnasSpaceConfig(layers=2, reductions=(1,)).reductions == (1,)


def test_unknown_binarization_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match="binarize must be one of xnor, pcnn") as info:
        BnasSpaceConfig(binarize="ternary")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("mode", ["xnor", "pcnn"])
def test_evaluation_network_binarizes_all_but_stem_preprocess_after_reduction_and_heads(mode):
    space = _space(binarize=mode, layers=6)
    network = space.build_network(_arch(), layers=6, auxiliary=True)
    after_reduction = [i for i in range(1, 6) if network.cells[i - 1].reduction]
    assert after_reduction == [2, 4]  # the search depth: reduction cells 1 and 3
    expected_float = {"stem.0", "auxiliary.features.0", "auxiliary.features.3"} | {
        f"cells.{i}.preprocess0.conv_{k}" for i in after_reduction for k in (1, 2)
    }
    assert _float_convs(network) == expected_float
    binary = [m for m in network.modules() if isinstance(m, BinaryConv2d)]
    assert binary and all(type(m) is {"xnor": XNORConv2d, "pcnn": PCNNConv2d}[mode]
                          for m in binary)
    # the ReLU-1x1conv-BN preprocessing is binarized, in every cell
    assert all(isinstance(cell.preprocess1[1], BinaryConv2d) for cell in network.cells)
    assert isinstance(network.cells[1].preprocess0[1], BinaryConv2d)
    assert isinstance(network.classifier, nn.Linear)


def test_supernet_ops_are_binarized_with_full_precision_stem_and_preprocess_after_reduction():
    space = _space(layers=3, reductions=(1,))
    supernet = space.build_supernet(SupernetOptions(partial_channels=2))
    assert _float_convs(supernet) == {
        "stem.0", "cells.2.preprocess0.conv_1", "cells.2.preprocess0.conv_2"}
    edge = supernet.cells[1].edges[0].mixed  # a stride-2 edge of the reduction cell
    assert edge.op_channels == supernet.cells[1].C // 2 == 4  # PC-DARTS: half the channels
    for name in PARAMETERIZED | {"skip_connect"}:
        convs = [m for m in edge.ops[name].modules() if isinstance(m, nn.Conv2d)]
        assert convs and all(isinstance(m, PCNNConv2d) for m in convs), name
        assert all(m.amplitude_theta == AMPLITUDE_THETA for m in convs)


def test_xnor_uses_the_configured_scaling():
    op = _space(binarize="xnor").op("sep_conv_3x3", 4, 1, True)
    assert {m.scaling for m in op.modules() if isinstance(m, XNORConv2d)} == {"channel"}
    op = _space(binarize="xnor", scaling="tensor").op("dil_conv_3x3", 4, 1, True)
    assert {m.scaling for m in op.modules() if isinstance(m, XNORConv2d)} == {"tensor"}


def test_xnor_binarizes_inputs_with_k_by_default_and_weights_only_on_request():
    op = _space(binarize="xnor").op("sep_conv_3x3", 4, 1, True)
    convs = [m for m in op.modules() if isinstance(m, XNORConv2d)]
    assert convs and all(m.binarize_input and m.input_scaling for m in convs)
    assert not any(isinstance(m, nn.ReLU) for m in op.modules())
    op = _space(binarize="xnor", binarize_activations=False).op("sep_conv_3x3", 4, 1, True)
    assert not any(m.binarize_input for m in op.modules() if isinstance(m, XNORConv2d))
    assert any(isinstance(m, nn.ReLU) for m in op.modules())
    op = _space(binarize="xnor", input_scaling=False).op("sep_conv_3x3", 4, 1, True)
    assert all(not m.input_scaling for m in op.modules() if isinstance(m, XNORConv2d))


def test_binarized_activations_binarize_conv_inputs_and_drop_the_relus_in_front():
    space = _space(binarize_activations=True, layers=3, reductions=(1,))
    op = space.op("sep_conv_3x3", 4, 1, True)
    assert not any(isinstance(m, nn.ReLU) for m in op.modules())
    assert all(m.binarize_input for m in op.modules() if isinstance(m, BinaryConv2d))
    # the sign is now the nonlinearity: the op sees negative inputs (not sign(ReLU(x)) = 1)
    torch.manual_seed(0)
    x = torch.randn(2, 4, 6, 6)
    with torch.no_grad():
        assert not torch.allclose(op.eval()(x), op(x.abs()))
    supernet = space.build_supernet(SupernetOptions())
    edges = [m for m in supernet.modules() if type(m).__name__ == "MixedEdge"]
    assert edges and all(isinstance(e.act.module, nn.Identity) for e in edges)
    preprocess = supernet.cells[0].preprocess1
    assert isinstance(preprocess[0], nn.Identity) and preprocess[1].binarize_input
    float_relus = [n for n, m in supernet.named_modules() if isinstance(m, nn.ReLU)]
    assert float_relus == ["cells.2.preprocess0.relu"]  # the full-precision FactorizedReduce


def test_pcnn_amplitude_loss_is_recorded_by_the_convolutions_that_ran():
    space = _space(layers=3, reductions=(1,), amplitude_theta=0.5)
    network = space.build_network(_arch(), layers=3)
    x = torch.randn(2, 3, 8, 8)
    network.train()(x)
    expected = amplitude_loss(network, theta=0.5).detach()
    assert float(expected) > 0
    assert torch.allclose(pop_extra_loss(network), expected)
    network.eval()(x)
    assert pop_extra_loss(network) is None  # evaluation records nothing
    # Eq. 7 is "the complete loss function for BNAS": XNOR records L_A with A = mean |W| too
    xnor = _space(binarize="xnor", layers=3, reductions=(1,), amplitude_theta=0.5)
    network = xnor.build_network(_arch(), layers=3)
    network.train()(x)
    expected = amplitude_loss(network, theta=0.5).detach()
    assert float(expected) > 0
    assert torch.allclose(pop_extra_loss(network), expected)


def test_a_sampled_supernet_forward_records_only_the_sampled_ops():
    space = _space(layers=3, reductions=(1,), amplitude_theta=0.5)
    supernet = space.build_supernet(SupernetOptions(partial_channels=2))
    ran: list[PCNNConv2d] = []
    for m in supernet.modules():
        if isinstance(m, PCNNConv2d):
            m.register_forward_hook(lambda module, *_: ran.append(module))
    index = torch.full((14,), PRIMITIVES.index("dil_conv_3x3"))
    weights = {
        g.name: EdgeWeights(torch.nn.functional.one_hot(index, 8).float(), index=index)
        for g in supernet.groups
    }
    supernet.train()(torch.randn(2, 3, 8, 8), weights)
    recorded = supernet.extra_loss().detach()
    every = amplitude_loss(supernet, theta=0.5).detach()
    assert len(set(map(id, ran))) == len(ran)  # each conv ran once
    expected = torch.stack([m.amplitude_loss(0.5) for m in ran]).sum().detach()
    assert torch.allclose(recorded, expected) and float(recorded) < float(every)


def test_bits_cost_table_is_exact_for_a_derived_network():
    space = _space(layers=3, reductions=(1,))
    assert space.cost_metrics == ("params", "flops", "bits")
    table = space.cost_table("bits")
    arch = _arch()
    network = space.build_network(arch)
    assert table.exact(space.one_hot(arch)) == pytest.approx(model_bits(network))
    assert table.exact(space.one_hot(arch)) == pytest.approx(
        BitsConstraint(high=1.0).measure(network, torch.zeros(1, 3, 8, 8)))
    params = space.cost_table("params").exact(space.one_hot(arch))
    assert params == sum(p.numel() for p in network.parameters())
    assert table.exact(space.one_hot(arch)) < 32 * params
    assert BitsConstraint.metric == "bits"


def test_network_costs_report_the_bits_of_a_binarized_network():
    space = _space(layers=3, reductions=(1,))
    network, _ = build_network(space, _arch(), {"auxiliary": True}, quiet=True)
    costs = network_costs(network, INFO, space)
    assert costs["bits"] == model_bits(network, exclude=("auxiliary",))
    assert f"{costs['bits']:,} bits" in describe_costs(costs)
    darts = registry().get("space", "darts")
    plain = darts(attrs.evolve(darts.config_cls(), channels=4, layers=3), INFO)
    float_net = plain.build_network(registry().get("architecture", "darts_v2"))
    assert "bits" not in network_costs(float_net, INFO, plain)
    assert space.network_metrics(network) == {"bits": costs["bits"]}
