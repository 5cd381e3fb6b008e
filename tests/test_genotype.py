"""Genotype strings of the darts space: the published form, the nested form, malformed strings."""

from __future__ import annotations

import pytest

from nascore.architecture import Architecture
from nascore.errors import MalformedArchitecture
from nascore.space import DataInfo
from nascore.spaces.darts import DartsSpace, DartsSpaceConfig
from nascore.spaces.darts.zoo import ZOO

# As published with DARTS (second order, CIFAR-10).
DARTS_V2 = (
    "DARTS_V2 = Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
    "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
    "('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
DARTS_V2_NORMAL = [
    ["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0], ["sep_conv_3x3", 1],
    ["sep_conv_3x3", 1], ["skip_connect", 0], ["skip_connect", 0], ["dil_conv_3x3", 2],
]
DARTS_V2_REDUCE = [
    ["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 1],
    ["max_pool_3x3", 0], ["skip_connect", 2], ["skip_connect", 2], ["max_pool_3x3", 1],
]


@pytest.fixture
def space():
    return DartsSpace(DartsSpaceConfig(), DataInfo(3, 32, 10))


def test_published_darts_v2_parses(space):
    arch = space.parse(DARTS_V2)
    assert arch == Architecture("darts", {
        "normal": DARTS_V2_NORMAL, "normal_concat": [2, 3, 4, 5],
        "reduce": DARTS_V2_REDUCE, "reduce_concat": [2, 3, 4, 5],
    })
    assert arch == ZOO["darts_v2"]


def test_format_writes_published_form_and_round_trips(space):
    arch = space.parse(DARTS_V2)
    text = space.format(arch)
    assert text == (
        "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), "
        "('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), "
        "('dil_conv_3x3', 2)], normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), "
        "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
        "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
        "reduce_concat=range(2, 6))"
    )
    assert space.parse(text) == arch
    for name, published in ZOO.items():
        assert space.parse(space.format(published)) == published, name


def test_nested_per_node_form(space):
    nested = [DARTS_V2_NORMAL[i : i + 2] for i in range(0, 8, 2)]
    text = (
        f"Genotype(normal={[[tuple(p) for p in node] for node in nested]}, "
        f"normal_concat=range(2, 6), reduce={[tuple(p) for p in DARTS_V2_REDUCE]}, "
        "reduce_concat=range(2, 6))"
    )
    assert space.parse(text) == ZOO["darts_v2"]


def test_positional_fields_and_module_prefix(space):
    text = (
        f"genotypes.Genotype({[tuple(p) for p in DARTS_V2_NORMAL]}, [2, 3, 4, 5], "
        f"{[tuple(p) for p in DARTS_V2_REDUCE]}, range(2, 6))"
    )
    assert space.parse(text) == ZOO["darts_v2"]


def _with_normal(pairs: str, concat: str = "range(2, 6)") -> str:
    reduce = ", ".join(f"({op!r}, {i})" for op, i in DARTS_V2_REDUCE)
    return f"Genotype(normal=[{pairs}], normal_concat={concat}, reduce=[{reduce}])"


GOOD = "('sep_conv_3x3', 0), ('sep_conv_3x3', 1)"
MALFORMED = {
    "unknown op": (_with_normal("('conv_7x7', 0), ('sep_conv_3x3', 1)" + (", " + GOOD) * 3),
                   "unknown op 'conv_7x7'"),
    "none op": (_with_normal("('none', 0), ('sep_conv_3x3', 1)" + (", " + GOOD) * 3),
                "cannot keep op 'none'"),
    "input too large": (_with_normal("('sep_conv_3x3', 2), ('sep_conv_3x3', 1)"
                                     + (", " + GOOD) * 3), "node 2 reads input 2"),
    "wrong count": (_with_normal(", ".join([GOOD] * 3)), "has 6 (op, input) pairs"),
    "same input twice": (_with_normal("('sep_conv_3x3', 1), ('sep_conv_3x3', 1)"
                                      + (", " + GOOD) * 3), "reads input 1 twice"),
    "bad concat": (_with_normal(", ".join([GOOD] * 4), "[2, 3]"), "normal_concat must be"),
    "not a genotype": ("print('hello')", "expected one Genotype"),
    "syntax": ("Genotype(normal=[(", "not valid Python"),
    "unknown field": ("Genotype(normal=[], colour='red')", "unknown field 'colour'"),
    "code instead of a list": (
        "Genotype(normal=__import__('os').system('echo owned'), normal_concat=range(2, 6), "
        "reduce=[], reduce_concat=range(2, 6))", "must be a literal list"),
    "missing reduce": (f"Genotype(normal=[{', '.join([GOOD] * 4)}])", "lacks the 'reduce' cell"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_strings_raise_one_line(space, case, capfd):
    text, message = MALFORMED[case]
    with pytest.raises(MalformedArchitecture) as info:
        space.parse(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert "owned" not in capfd.readouterr().out  # never evaluated


def test_validate_rejects_other_spaces_and_bad_specs(space):
    with pytest.raises(MalformedArchitecture, match="not 'darts'"):
        space.validate(Architecture("nb201", dict(ZOO["darts_v2"].spec)))
    spec = dict(ZOO["darts_v2"].spec)
    spec["normal"] = [["sep_conv_3x3", True]] + spec["normal"][1:]
    with pytest.raises(MalformedArchitecture, match="reads input True"):
        space.validate(Architecture("darts", spec))
    with pytest.raises(MalformedArchitecture, match="unknown key 'colour'"):
        space.validate(Architecture("darts", {**ZOO["darts_v2"].spec, "colour": 1}))


def test_zoo_holds_the_four_published_cells():
    assert set(ZOO) == {"darts_v1", "darts_v2", "pcdarts", "pcdarts_imagenet"}
    assert ZOO["darts_v1"].spec["normal"][7] == ["skip_connect", 2]
    assert ZOO["darts_v1"].spec["reduce"][7] == ["avg_pool_3x3", 0]
    assert ZOO["pcdarts"].spec["normal"][:2] == [["sep_conv_3x3", 1], ["skip_connect", 0]]
    assert ZOO["pcdarts"].spec["reduce"][5] == ["sep_conv_3x3", 3]
    assert ZOO["pcdarts_imagenet"].spec["normal"][7] == ["dil_conv_5x5", 4]
    assert ZOO["pcdarts_imagenet"].spec["reduce"][2] == ["dil_conv_5x5", 2]
