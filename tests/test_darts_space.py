"""The darts space: decision groups, derivation, discrete decisions and the supernet."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nascore.errors import ConfigError, MalformedArchitecture
from nascore.nn import MixedEdge
from nascore.space import DataInfo, DecisionGroup, EdgeWeights, Selection, SupernetOptions
from nascore.spaces.darts import DartsSpace, DartsSpaceConfig, OpEdge
from nascore.spaces.darts.ops import PRIMITIVES, supernet_op
from nascore.spaces.darts.zoo import ZOO


@pytest.fixture
def space():
    """The reference tiny configuration: C=4, 5 cells, digits-like 1x8x8 inputs."""
    return DartsSpace(DartsSpaceConfig(channels=4, layers=5), DataInfo(1, 8, 10))


def _uniform(space, **extra):
    return {
        g.name: EdgeWeights(torch.full(g.shape, 1 / g.shape[1]), **extra)
        for g in space.decision_groups()
    }


def _op_edges(supernet):
    return [m for m in supernet.modules() if isinstance(m, OpEdge)]


def _count_calls(supernet):
    """Per (OpEdge, candidate) forward-call counts."""
    calls = {}
    for edge in _op_edges(supernet):
        for name, op in edge.mixed.ops.items():
            key = (id(edge), name)
            calls[key] = 0
            op.register_forward_hook(lambda *_, key=key: calls.__setitem__(key, calls[key] + 1))
    return calls


def test_decision_groups(space):
    groups = space.decision_groups()
    assert [g.name for g in groups] == ["normal", "reduce"]
    for g in groups:
        assert g.shape == (14, 8)
        assert g.candidates == PRIMITIVES
        assert g.role == "op" and g.zero == "none" and g.zero_index == 0
        assert g.edges[:5] == ("n2<-0", "n2<-1", "n3<-0", "n3<-1", "n3<-2")
        assert g.edges[-1] == "n5<-4"
    assert space.capabilities == {"supernet", "sample", "mutate", "encode", "network", "cost"}


# -- derivation --------------------------------------------------------------------------------


def _scores():
    """Hand-made scores; columns follow PRIMITIVES (0 none, 1 max, 2 avg, 3 skip, 4 sep3, 5 sep5,
    6 dil3, 7 dil5)."""
    s = torch.full((14, 8), -1.0)
    s[0, 4] = 5.0  # n2<-0 sep_conv_3x3
    s[1, 1] = 3.0  # n2<-1 max_pool_3x3
    s[2, 0] = 10.0  # n3<-0: none is ignored ...
    s[2, 3] = 2.0  # ... its best real op is skip_connect (2)
    s[3, 5] = 1.0  # n3<-1 sep_conv_5x5 (1): loses
    s[4, 7] = 4.0  # n3<-2 dil_conv_5x5 (4)
    s[6, 4] = -math.inf  # n4<-1: sep_conv_3x3 pruned ...
    s[6, 2] = 0.5  # ... so avg_pool_3x3 (0.5) is its best
    s[8, 3] = 2.5  # n4<-3 skip_connect
    return s  # n5: all -1, ties -> first two edges, first op (max_pool_3x3)


def test_derive_applies_the_darts_rule(space):
    arch = space.derive({"normal": _scores(), "reduce": _scores()})
    expected = [
        ["sep_conv_3x3", 0], ["max_pool_3x3", 1],
        ["dil_conv_5x5", 2], ["skip_connect", 0],
        ["skip_connect", 3], ["avg_pool_3x3", 1],
        ["max_pool_3x3", 0], ["max_pool_3x3", 1],
    ]
    assert arch.spec["normal"] == expected and arch.spec["reduce"] == expected
    assert arch.spec["normal_concat"] == [2, 3, 4, 5]
    assert space.validate(arch) == arch


def test_derive_with_too_few_unpruned_edges_raises(space):
    s = _scores()
    s[1, 1:] = -math.inf  # n2<-1 keeps only none
    with pytest.raises(MalformedArchitecture, match="node 2"):
        space.derive({"normal": s, "reduce": _scores()})


# -- discrete decisions ----------------------------------------------------------------------


def test_decisions_layout(space):
    decisions = space.decisions()
    assert len(decisions) == 32
    assert decisions[0].name == "normal.n2.input_a" and decisions[0].candidates == (0, 1)
    assert decisions[1].candidates == tuple(p for p in PRIMITIVES if p != "none")
    assert decisions[-1].name == "reduce.n5.op_b"
    assert decisions[-2].candidates == (0, 1, 2, 3, 4)


def test_encode_decode_round_trip(space):
    assert space.decode(space.encode(ZOO["darts_v2"])) == ZOO["darts_v2"]
    rng = np.random.default_rng(0)
    for _ in range(20):
        arch = space.sample(rng)
        assert space.validate(arch) == arch
        assert space.decode(space.encode(arch)) == arch


def test_mutate_changes_exactly_one_decision(space):
    rng = np.random.default_rng(1)
    for _ in range(20):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        diff = np.array(space.encode(arch)) != np.array(space.encode(child))
        assert diff.sum() == 1


def test_decode_rejects_invalid_choices(space):
    choices = space.encode(ZOO["darts_v2"])
    same_inputs = list(choices)
    same_inputs[2] = same_inputs[0]  # n2 input_b = input_a
    with pytest.raises(MalformedArchitecture, match="twice"):
        space.decode(same_inputs)
    out_of_range = list(choices)
    out_of_range[0] = 2  # n2 has inputs 0 and 1 only
    with pytest.raises(MalformedArchitecture, match="out of range"):
        space.decode(out_of_range)
    with pytest.raises(MalformedArchitecture, match="32 choices"):
        space.decode(choices[:-1])


# -- supernet --------------------------------------------------------------------------------


def test_supernet_layout(space):
    supernet = space.build_supernet(SupernetOptions())
    assert [c.cell_type for c in supernet.cells] == ["normal", "reduce", "normal", "reduce",
                                                     "normal"]
    assert supernet.stem[0].out_channels == 12
    assert all(len(c.edges) == 14 for c in supernet.cells)
    bns = [m for m in supernet.cells.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(bn.affine for bn in bns)
    pool = supernet.cells[0].edges[0].mixed.ops["max_pool_3x3"]
    assert isinstance(pool[1], nn.BatchNorm2d)
    strides = [e.mixed.stride for e in supernet.cells[1].edges]
    assert strides == [2, 2, 2, 2, 1, 2, 2, 1, 1, 2, 2, 1, 1, 1]


def test_reference_config_forward_backward_reaches_every_alpha(space):
    torch.manual_seed(0)
    supernet = space.build_supernet(SupernetOptions())
    alphas = {g.name: (1e-3 * torch.randn(g.shape)).requires_grad_() for g in
              space.decision_groups()}
    x = torch.randn(16, 1, 8, 8)

    def step():
        weights = {n: EdgeWeights(torch.softmax(a, -1)) for n, a in alphas.items()}
        logits = supernet(x, weights)
        logits.logsumexp(1).mean().backward()
        return logits

    logits = step()
    assert logits.shape == (16, 10)
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in alphas.values())


def test_sampled_index_runs_one_op_per_edge(space):
    supernet = space.build_supernet(SupernetOptions())
    calls = _count_calls(supernet)
    gen = torch.Generator().manual_seed(0)
    weights = {}
    for g in space.decision_groups():
        index = torch.randint(1, 8, (14,), generator=gen)
        index[3] = 0  # one edge samples "none": nothing runs there
        weights[g.name] = EdgeWeights(torch.nn.functional.one_hot(index, 8).float(), index=index)
    supernet(torch.randn(4, 1, 8, 8), weights)
    for cell in supernet.cells:
        index = weights[cell.cell_type].index
        for e, edge in enumerate(cell.edges):
            ran = {name for name in edge.mixed.ops if calls[(id(edge), name)]}
            assert ran == ({PRIMITIVES[int(index[e])]} - {"none"})
            assert all(calls[(id(edge), n)] <= 1 for n in edge.mixed.ops)


def test_masked_candidates_never_run(space):
    supernet = space.build_supernet(SupernetOptions())
    calls = _count_calls(supernet)
    mask = torch.ones(14, 8, dtype=torch.bool)
    mask[:, PRIMITIVES.index("sep_conv_5x5")] = False
    mask[:, PRIMITIVES.index("avg_pool_3x3")] = False
    supernet(torch.randn(4, 1, 8, 8), _uniform(space, mask=mask))
    for (_, name), count in calls.items():
        assert count == (0 if name in ("sep_conv_5x5", "avg_pool_3x3") else 1), name


def test_all_none_gives_zero_nodes(space):
    supernet = space.build_supernet(SupernetOptions())
    index = torch.zeros(14, dtype=torch.long)
    weights = {g.name: EdgeWeights(torch.ones(14, 8), index=index) for g in
               space.decision_groups()}
    logits = supernet(torch.randn(4, 1, 8, 8), weights)
    # every node is zeros, so only the classifier bias remains
    assert torch.allclose(logits, supernet.classifier.bias.expand(4, 10))


def test_group_scale(space):
    supernet = space.build_supernet(SupernetOptions())
    x = torch.randn(4, 1, 8, 8)
    zero = supernet(x, _uniform(space, edge_scale=torch.zeros(14)))
    assert torch.allclose(zero, supernet.classifier.bias.expand(4, 10))
    ones = supernet(x, _uniform(space, edge_scale=torch.ones(14)))
    assert torch.allclose(ones, supernet(x, _uniform(space)), atol=1e-6)


@pytest.mark.parametrize("K", [2, 4])
def test_partial_channels(space, K):
    supernet = space.build_supernet(SupernetOptions(partial_channels=K))
    edge = supernet.cells[0].edges[0]
    assert edge.mixed.ops["sep_conv_3x3"][0][1].in_channels == 4 // K
    alphas = {g.name: torch.zeros(g.shape, requires_grad=True) for g in space.decision_groups()}
    weights = {n: EdgeWeights(torch.softmax(a, -1)) for n, a in alphas.items()}
    supernet(torch.randn(4, 1, 8, 8), weights).sum().backward()
    assert all(a.grad.abs().sum() > 0 for a in alphas.values())
    full = space.build_supernet(SupernetOptions())
    assert sum(p.numel() for p in supernet.parameters()) < sum(p.numel() for p in
                                                               full.parameters())


@pytest.mark.parametrize("stride", [1, 2])
def test_op_edge_shares_one_relu_with_the_math_of_one_relu_per_op(stride):
    edge = OpEdge(4, stride)
    assert sum(isinstance(m, nn.ReLU) for m in edge.modules()) == 1 + 2 + (stride == 2)
    reference = MixedEdge(PRIMITIVES, 4, stride, supernet_op)  # a ReLU in front of every op
    reference.load_state_dict(edge.mixed.state_dict())
    x = torch.randn(4, 4, 7, 7)
    w = torch.softmax(torch.randn(8), 0)
    assert torch.allclose(edge(x, {"op": Selection(w)}), reference(x, Selection(w)), atol=1e-6)


def test_proxy_overrides_size(space):
    supernet = space.build_supernet(SupernetOptions(proxy={"channels": 8, "layers": 3}))
    assert len(supernet.cells) == 3
    assert supernet.stem[0].out_channels == 24
    with pytest.raises(ConfigError, match="proxy keys"):
        space.build_supernet(SupernetOptions(proxy={"image_size": 16}))


def test_missing_group_weights_raise(space):
    supernet = space.build_supernet(SupernetOptions())
    with pytest.raises(ValueError, match="reduce"):
        supernet(torch.randn(2, 1, 8, 8), {"normal": _uniform(space)["normal"]})


# -- extension point -------------------------------------------------------------------------


class _RecordingEdge(nn.Module):
    """An edge that records the selections it receives and mixes two fixed activations."""

    seen: list = []

    def __init__(self, C, stride, cell_type, edge_index):
        super().__init__()
        self.where = (cell_type, edge_index)
        self.op = OpEdge(C, stride)

    def forward(self, x, selections):
        _RecordingEdge.seen.append((self.where, selections))
        act = selections["activation"].weights
        return self.op(act[0] * torch.relu(x) + act[1] * torch.tanh(x), selections)


class _ActSpace(DartsSpace):
    """A subclass as a plugin would write it: an extra activation group per cell type."""

    def decision_groups(self):
        groups = super().decision_groups()
        return groups + [
            DecisionGroup(f"{g.name}.act", g.edges, ("relu", "tanh"), role="activation", stage=1)
            for g in groups
        ]

    def search_edge(self, C, stride, cell_type, edge_index, options):
        return _RecordingEdge(C, stride, cell_type, edge_index)


def test_subclass_supplies_edges_and_extra_groups():
    space = _ActSpace(DartsSpaceConfig(channels=4, layers=3), DataInfo(1, 8, 10))
    supernet = space.build_supernet(SupernetOptions())
    weights = {
        g.name: EdgeWeights(torch.rand(g.shape, requires_grad=True)) for g in
        space.decision_groups()
    }
    _RecordingEdge.seen.clear()
    supernet(torch.randn(2, 1, 8, 8), weights).sum().backward()
    assert len(_RecordingEdge.seen) == 3 * 14
    for (cell_type, edge), selections in _RecordingEdge.seen:
        assert set(selections) == {"op", "activation"}
        assert torch.equal(selections["op"].weights, weights[cell_type].weights[edge])
        assert torch.equal(selections["activation"].weights,
                           weights[f"{cell_type}.act"].weights[edge])
    assert weights["normal.act"].weights.grad.abs().sum() > 0
