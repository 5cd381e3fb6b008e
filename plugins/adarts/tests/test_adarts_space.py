"""The ``adarts`` space: groups and counts, derive, genotype strings, networks, costs, configs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from nascore_adarts.activations import DEFAULT_ACTIVATIONS, RReLU, SharedActivation, Swish
from nascore_adarts.edge import FactorizedEdge
from torch import nn

from nascore import (
    Architecture,
    ConfigError,
    DataInfo,
    InfeasibleError,
    MalformedArchitecture,
    SupernetOptions,
    count_macs,
    count_params,
)
from nascore.plugins import discover
from nascore.spaces.darts import DartsSpace, DartsSpaceConfig
from nascore.spaces.darts.ops import PARAMETERIZED, PRIMITIVES

DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)

# A hand-made architecture exercising activations with parameters (prelu, swish).
ARCH = Architecture(
    "adarts",
    {
        "normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ["dil_conv_5x5", 2],
                   ["max_pool_3x3", 0], ["sep_conv_5x5", 3], ["dil_conv_3x3", 0],
                   ["skip_connect", 4], ["sep_conv_3x3", 1]],
        "normal_concat": [2, 3, 4, 5],
        "reduce": [["dil_conv_3x3", 0], ["sep_conv_5x5", 1], ["avg_pool_3x3", 2],
                   ["sep_conv_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 3],
                   ["dil_conv_5x5", 4], ["avg_pool_3x3", 0]],
        "reduce_concat": [2, 3, 4, 5],
        "normal_act": ["selu", None, "swish", None, "prelu", "elu", None, "celu"],
        "reduce_act": ["prelu", "swish", None, "relu6", None, None, "rrelu", None],
    },
)


# -- groups and counts ----------------------------------------------------------------------------
def test_factorized_groups_grow_linearly_while_operators_multiply(make_space) -> None:
    space = make_space()
    groups = {g.name: g for g in space.decision_groups()}
    assert [(n, g.shape, g.role, g.stage, g.zero) for n, g in groups.items()] == [
        ("normal", (14, 8), "op", 0, "none"),
        ("reduce", (14, 8), "op", 0, "none"),
        ("normal.act", (14, 9), "activation", 1, None),
        ("reduce.act", (14, 9), "activation", 1, None),
    ]
    assert groups["normal.act"].candidates == DEFAULT_ACTIVATIONS
    assert groups["normal.act"].edges == groups["normal"].edges
    # 8 + 9 architecture parameters per edge, 14 edges, 2 cell types
    assert sum(math.prod(g.shape) for g in groups.values()) == (8 + 9) * 14 * 2 == 476
    # 4 parameterized ops x 9 activations + 4 non-parameterized = 40 operators per edge
    operators = space.final_operators()
    assert len(operators) == 9 * 4 + 4 == 40 and "sep_conv_3x3+selu" in operators
    # the paper's space sizes: DARTS 1.1e18, A-DARTS 9.3e29 (7 and 39 non-zero ops per pair)
    inputs = math.prod(math.comb(node, 2) for node in range(2, 6))
    darts_size = (inputs * 7**8) ** 2
    adarts_size = (inputs * (len(operators) - 1) ** 8) ** 2
    assert f"{darts_size:.1e}" == "1.1e+18" and f"{adarts_size:.1e}" == "9.3e+29"


def test_fixed_activation_removes_the_activation_groups(make_space) -> None:
    space = make_space(fixed_activation="selu")
    assert [g.name for g in space.decision_groups()] == ["normal", "reduce"]
    assert len(space.final_operators()) == 8


def test_plugin_registers_the_space_through_its_entry_point() -> None:
    registry = discover()
    record = next(p for p in registry.plugins if p.name == "adarts")
    assert record.error is None and record.distribution == "nas-plugin-adarts"
    assert registry.get("space", "adarts").__name__ == "ADartsSpace"


# -- derive -----------------------------------------------------------------------------------
def _hand_scores() -> dict[str, torch.Tensor]:
    op = {name: k for k, name in enumerate(PRIMITIVES)}
    act = {name: k for k, name in enumerate(DEFAULT_ACTIVATIONS)}
    normal = torch.full((14, 8), 0.01)
    normal[:, op["none"]] = 0.9  # never chosen
    # edges: node 2: 0-1; node 3: 2-4; node 4: 5-8; node 5: 9-13
    for edge, name, value in [
        (0, "sep_conv_3x3", 0.5), (1, "skip_connect", 0.4),
        (2, "max_pool_3x3", 0.3), (3, "avg_pool_3x3", 0.1), (4, "dil_conv_5x5", 0.6),
        (5, "dil_conv_3x3", 0.2), (8, "sep_conv_5x5", 0.7),
        (10, "sep_conv_3x3", 0.5), (13, "skip_connect", 0.8),
    ]:
        normal[edge, op[name]] = value
    normal_act = torch.zeros(14, 9)
    for edge, name in [(0, "selu"), (1, "elu"), (4, "swish"), (8, "prelu"), (5, "elu"),
                       (10, "celu")]:
        normal_act[edge, act[name]] = 1.0
    reduce_act = torch.zeros(14, 9)
    reduce_act[:, act["relu6"]] = 0.5
    reduce_act[:, act["selu"]] = -math.inf  # pruned
    return {"normal": normal, "reduce": normal.clone(), "normal.act": normal_act,
            "reduce.act": reduce_act}


NORMAL = [["sep_conv_3x3", 0], ["skip_connect", 1], ["dil_conv_5x5", 2], ["max_pool_3x3", 0],
          ["sep_conv_5x5", 3], ["dil_conv_3x3", 0], ["skip_connect", 4], ["sep_conv_3x3", 1]]


def test_derive_keeps_the_darts_rule_and_the_argmax_activation_of_kept_edges(make_space) -> None:
    space = make_space()
    arch = space.derive(_hand_scores())
    assert arch.space == "adarts"
    assert arch.spec["normal"] == NORMAL and arch.spec["reduce"] == NORMAL
    assert arch.spec["normal_act"] == ["selu", None, "swish", None, "prelu", "elu", None, "celu"]
    assert arch.spec["reduce_act"] == ["relu6", None, "relu6", None, "relu6", "relu6", None,
                                       "relu6"]
    assert space.validate(arch) == arch


def test_derive_with_fixed_activations(make_space) -> None:
    scores = {k: v for k, v in _hand_scores().items() if "." not in k}
    arch = make_space(fixed_activation="prelu").derive(scores)
    assert arch.spec["normal_act"] == ["prelu", None, "prelu", None, "prelu", "prelu", None,
                                       "prelu"]
    per_edge = {"normal": [DEFAULT_ACTIVATIONS[e % 9] for e in range(14)],
                "reduce": ["swish"] * 14}
    arch = make_space(activation_config=per_edge).derive(scores)
    # kept parameterized edges of the normal cell: 0, 4, 8, 5, 10
    assert arch.spec["normal_act"] == ["relu", None, "rrelu", None, "swish", "elu", None, "relu6"]
    assert set(arch.spec["reduce_act"]) == {"swish", None}


def test_require_skip_in_normal_rejects_a_normal_cell_without_skip(make_space) -> None:
    scores = _hand_scores()
    assert make_space(require_skip_in_normal=True).derive(scores).spec["normal"] == NORMAL
    scores["normal"][:, PRIMITIVES.index("skip_connect")] = 0.0
    assert make_space().derive(scores)  # off by default
    with pytest.raises(InfeasibleError, match="normal cell has no skip_connect"):
        make_space(require_skip_in_normal=True).derive(scores)


# -- architectures and genotype strings ------------------------------------------------------------
def test_format_parse_round_trip(make_space) -> None:
    space = make_space()
    text = space.format(ARCH)
    assert text.startswith(
        "Genotype(normal=[('sep_conv_3x3', 0, 'selu'), ('skip_connect', 1), "
        "('dil_conv_5x5', 2, 'swish'),"
    )
    assert "reduce_concat=range(2, 6))" in text
    assert space.parse(text) == space.validate(ARCH)


def test_parse_reads_a_plain_darts_genotype_as_relu_and_nested_forms(make_space) -> None:
    space = make_space()
    arch = space.parse(DARTS_V2)
    assert arch.spec["normal_act"] == ["relu"] * 5 + [None, None, "relu"]
    assert arch.spec["reduce_act"] == [None] * 8
    nested = (
        "G = Genotype(normal=[[('sep_conv_3x3', 0, 'elu'), ('skip_connect', 1)], "
        "[('sep_conv_5x5', 2, 'swish'), ('max_pool_3x3', 0)], [('sep_conv_3x3', 1), "
        "('dil_conv_3x3', 0, 'selu')], [('skip_connect', 4), ('avg_pool_3x3', 0)]], "
        "normal_concat=range(2, 6), reduce=[[('max_pool_3x3', 0), ('max_pool_3x3', 1)], "
        "[('skip_connect', 2), ('max_pool_3x3', 1)], [('max_pool_3x3', 0), ('skip_connect', 2)], "
        "[('skip_connect', 2), ('dil_conv_5x5', 1, 'prelu')]], reduce_concat=range(2, 6))"
    )
    arch = space.parse(nested)
    assert arch.spec["normal_act"] == ["elu", None, "swish", None, "relu", "selu", None, None]
    assert arch.spec["reduce_act"] == [None] * 7 + ["prelu"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (DARTS_V2.replace("('skip_connect', 0)", "('skip_connect', 0, 'elu')", 1),
         r"normal_act\[5\]: skip_connect has no activation"),
        (DARTS_V2.replace("('sep_conv_3x3', 0)", "('sep_conv_3x3', 0, 'gelu')", 1),
         r"normal_act\[0\]: sep_conv_3x3 needs an activation from relu, "),
        (DARTS_V2.replace("('sep_conv_3x3', 0)", "('sep_conv_3x3', 0, f(x))", 1),
         "activation of item 0 must be a string literal"),
        ("Genotype(normal=[", "not valid Python syntax"),
        (DARTS_V2.replace("('dil_conv_3x3', 2)", "('dil_conv_3x3', 7, 'elu')"),
         "node 5 reads input 7"),
    ],
)
def test_malformed_genotypes_are_one_line_errors(text: str, message: str, make_space) -> None:
    with pytest.raises(MalformedArchitecture, match=message) as info:
        make_space().parse(text)
    assert "\n" not in str(info.value)


def test_validate_fills_relu_and_rejects_bad_activation_lists(make_space) -> None:
    space = make_space()
    darts_spec = {k: v for k, v in ARCH.spec.items() if not k.endswith("_act")}
    filled = space.validate(Architecture("adarts", darts_spec))
    assert filled.spec["normal_act"] == ["relu", None, "relu", None, "relu", "relu", None, "relu"]
    bad = {**ARCH.spec, "reduce_act": ARCH.spec["reduce_act"][:-1]}
    with pytest.raises(MalformedArchitecture, match="reduce_act must be a list of 8"):
        space.validate(Architecture("adarts", bad))
    with pytest.raises(MalformedArchitecture, match="for space 'darts', not 'adarts'"):
        space.validate(Architecture("darts", darts_spec))


def test_encode_decode_sample_and_mutate(make_space) -> None:
    space = make_space()
    assert len(space.decisions()) == 32 + 16  # darts' 4 per node, + 2 activations
    assert space.decode(space.encode(ARCH)) == space.validate(ARCH)
    rng = np.random.default_rng(0)
    for _ in range(5):
        arch = space.sample(rng)
        assert space.validate(arch) == arch
        child = space.mutate(arch, rng)
        assert child != arch and space.validate(child) == child
    choices = space.encode(ARCH)
    choices[-1] = 9
    with pytest.raises(MalformedArchitecture, match="activation choice 9 is out of range"):
        space.decode(choices)
    with pytest.raises(MalformedArchitecture, match="not among the candidates"):
        make_space(activations="relu,selu").encode(ARCH)
    fixed = make_space(fixed_activation="elu")
    arch = fixed.decode(fixed.encode(ARCH))
    assert set(arch.spec["normal_act"]) == {"elu", None}


# -- networks -------------------------------------------------------------------------------------
def _activation_of(op: nn.Module) -> list[nn.Module]:
    """The activation modules of a parameterized op (at every site, shared sites resolved)."""
    convs = (nn.Conv2d, nn.BatchNorm2d, nn.Sequential, SharedActivation)
    return [m for m in op.modules() if not isinstance(m, convs)] + [
        m._shared[0] for m in op.modules() if isinstance(m, SharedActivation)
    ]


@pytest.mark.parametrize("sites", ["edge_input", "every_relu"])
def test_build_network_uses_the_chosen_activation_on_every_edge(make_space, sites) -> None:
    space = make_space(activation_sites=sites)
    torch.manual_seed(0)
    net = space.build_network(ARCH)
    for cell in net.cells:
        cell_type = "reduce" if cell.reduction else "normal"
        for position, op in enumerate(cell.ops):
            act = ARCH.spec[f"{cell_type}_act"][position]
            name = ARCH.spec[cell_type][position][0]
            if act is None:
                assert name not in PARAMETERIZED
                continue
            found = _activation_of(op)  # the leading site first
            assert len(found) == (2 if name.startswith("sep") else 1)
            expected = {"selu": nn.SELU, "swish": Swish, "prelu": nn.PReLU, "elu": nn.ELU,
                        "celu": nn.CELU, "relu6": nn.ReLU6, "rrelu": RReLU}[act]
            assert type(found[0]) is expected
            if sites == "every_relu":
                assert all(s is found[0] for s in found)  # one module per op, at every site
            else:  # the paper: the chosen activation in front, a sep conv's middle one ReLU
                assert all(type(s) is nn.ReLU for s in found[1:])
    x = torch.randn(4, 1, 8, 8)
    net(x).logsumexp(1).sum().backward()
    swishes = [m for m in net.modules() if isinstance(m, Swish)]
    assert swishes and all(m.b.grad is not None for m in swishes)
    # a DARTS network of the same cells has fewer parameters: PReLU and Swish add one each
    darts = DartsSpace(DartsSpaceConfig(channels=4, layers=3), DataInfo(1, 8, 10))
    darts_arch = Architecture("darts", {k: v for k, v in ARCH.spec.items() if "act" not in k})
    n_learnable = sum(
        sum(a in ("prelu", "swish") for a in ARCH.spec[f"{c}_act"]) * n
        for c, n in (("normal", 1), ("reduce", 2))  # 3 layers: reductions at 1 and 2
    )
    assert count_params(net) == count_params(darts.build_network(darts_arch)) + n_learnable


@pytest.mark.parametrize("sites", ["edge_input", "every_relu"])
def test_cost_tables_include_the_activation_and_match_measured_networks(make_space, sites) -> None:
    x = torch.zeros(1, 1, 8, 8)
    for space in (make_space(activation_sites=sites),
                  make_space(fixed_activation="swish", activation_sites=sites)):
        arch = space.validate(ARCH) if space.searches_activations else space.derive(
            {k: v for k, v in _hand_scores().items() if "." not in k}
        )
        net = space.build_network(arch)
        params = space.cost_table("params")
        flops = space.cost_table("flops")
        assert float(params.expected(space.one_hot(arch))) == count_params(net)
        assert float(flops.expected(space.one_hot(arch))) == count_macs(net, x)
    table = make_space().cost_table("params").per_group["normal.act"]
    learnable = [DEFAULT_ACTIVATIONS.index(n) for n in ("prelu", "swish")]
    assert torch.all(table[:, learnable] == 1) and table.sum() == 2 * 14


# -- configs --------------------------------------------------------------------------------------
def test_fixed_modes_build_supernets_with_fixed_activations(tmp_path, make_space) -> None:
    space = make_space(fixed_activation="selu")
    supernet = space.build_supernet(SupernetOptions())
    edges = [m for m in supernet.modules() if isinstance(m, FactorizedEdge)]
    assert edges and all(isinstance(e.activation, nn.SELU) and not e.searched for e in edges)
    per_edge = {"normal": ["elu"] * 13 + ["celu"], "reduce": ["prelu"] * 14}
    path = tmp_path / "config_a.json"
    path.write_text(json.dumps(per_edge))
    space = make_space(activation_config=str(path))
    assert space.edge_activations == per_edge
    supernet = space.build_supernet(SupernetOptions())
    assert type(supernet.cells[0].edges[13].activation) is nn.CELU
    assert type(supernet.cells[1].edges[0].activation) is nn.PReLU  # cell 1 reduces


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"activations": "relu,gelu"}, "^space.activations: unknown activation 'gelu'"),
        ({"activations": "relu,relu"}, "^space.activations lists a name twice"),
        ({"fixed_activation": "tanh"}, "^space.fixed_activation: unknown activation 'tanh'"),
        ({"fixed_activation": "elu", "activation_config": {"normal": [], "reduce": []}},
         "exclude each other"),
        ({"activation_config": {"normal": ["elu"] * 14}}, "exactly 'normal' and 'reduce'"),
        ({"activation_config": {"normal": ["elu"] * 13, "reduce": ["elu"] * 14}},
         "^space.activation_config.normal must list 14 activations"),
        ({"activation_config": {"normal": ["elu"] * 14, "reduce": ["elu"] * 13 + ["gelu"]}},
         "^space.activation_config.reduce: unknown activation 'gelu'"),
        ({"activation_config": "/nonexistent/config.json"}, "does not exist"),
        ({"activation_sites": "everywhere"}, "activation_sites must be one of edge_input, "),
    ],
)
def test_bad_configs_are_one_line_config_errors(overrides: dict, message: str, make_space) -> None:
    with pytest.raises(ConfigError, match=message):
        make_space(**overrides)


def test_plot_labels_edges_with_their_activation(tmp_path, make_space) -> None:
    paths = make_space().plot(ARCH, str(tmp_path / "cell"))
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == [
        "cell_normal.dot", "cell_normal.pdf", "cell_normal.png",
        "cell_reduce.dot", "cell_reduce.pdf", "cell_reduce.png",
    ]
    dot = (tmp_path / "cell_normal.dot").read_text()
    assert '"c_{k-2}" -> "0" [label="sep_conv_3x3 (selu)"];' in dot
    assert '"c_{k-1}" -> "0" [label="skip_connect"];' in dot
