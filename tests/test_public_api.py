"""The public API for plugins matches its snapshot, nascore/public_api.json."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from nascore import public_api
from nascore.public_api import REFRESH, compare, extends, signature


@pytest.fixture(scope="module")
def current() -> dict:
    return public_api.collect()


def test_snapshot_matches_the_code(current: dict) -> None:
    snapshot = public_api.load()
    breaks, additions = compare(snapshot, current)
    assert not breaks, "\n".join(breaks)
    assert not additions, "\n".join(additions)
    assert snapshot["plugin_api_version"] == public_api.api_version(), (
        f"public_api.json records plugin API {snapshot['plugin_api_version']}; run `{REFRESH}`"
    )


def test_every_recorded_break_is_in_the_changelog() -> None:
    changelog = (Path(public_api.__file__).parent.parent / "CHANGELOG.md").read_text()
    for entry in public_api.load()["breaks"]:
        assert entry["name"].rpartition(".")[2] in changelog, entry


def test_a_removed_name_is_one_line_naming_it_and_the_fix(current: dict) -> None:
    old = copy.deepcopy(current)
    old["plugin_api_version"] = 1
    new = copy.deepcopy(current)
    del new["modules"]["nascore.nn"]["MixedEdge"]
    breaks, additions = compare(old, new)
    assert breaks == [
        "nascore.nn.MixedEdge: removed; restore it or keep a deprecated alias "
        "(nascore.deprecated.moved); to break plugins on purpose raise PLUGIN_API_VERSION, say "
        f"so in CHANGELOG.md and run `{REFRESH}`"
    ]
    assert additions == []


def test_additions_only_need_a_refresh(current: dict) -> None:
    old = copy.deepcopy(current)
    del old["modules"]["nascore.nn"]["cat_channels"]
    breaks, additions = compare(old, current)
    assert breaks == []
    assert additions == [f"nascore.nn.cat_channels: new public name; run `{REFRESH}`"]


def test_base_class_methods_keep_their_signature(current: dict) -> None:
    new = copy.deepcopy(current)
    members = new["objects"]["nascore.oneshot.part.Part"]["members"]
    members["loss_term"] = "(self, split)"
    members["begin_epoch"] = "(self, epoch, step=...)"
    del members["state_dict"]
    breaks, additions = compare(current, new)
    assert [line.split(";")[0] for line in breaks] == [
        "nascore.oneshot.part.Part.loss_term: signature (self, split, selections) changed to "
        "(self, split)",
        "nascore.oneshot.part.Part.state_dict: removed",
    ]
    assert additions == [
        "nascore.oneshot.part.Part.begin_epoch: signature (self, epoch) extended to (self, "
        "epoch, step=...), a method plugins may override: check the core never passes the new "
        f"parameters to it; run `{REFRESH}`"
    ]


def test_a_moved_definition_still_reexported_is_no_break(current: dict) -> None:
    new = copy.deepcopy(current)
    record = new["objects"].pop("nascore.nn.blocks.drop_path")
    new["objects"]["nascore.nn.paths.drop_path"] = record
    for names in new["modules"].values():
        for name, key in names.items():
            if key == "nascore.nn.blocks.drop_path":
                names[name] = "nascore.nn.paths.drop_path"
    breaks, additions = compare(current, new)
    assert breaks == [] and "nascore.nn.drop_path: now nascore.nn.paths.drop_path" in \
        "\n".join(additions)


def test_removing_a_deprecated_alias_breaks(current: dict) -> None:
    new = copy.deepcopy(current)
    del new["deprecated"]["nascore.nn"]["SepConv"]
    breaks, _ = compare(current, new)
    assert [line.split(";")[0] for line in breaks] == [
        "nascore.nn.SepConv: deprecated alias of nascore.spaces.darts.ops.SepConv removed"
    ]


@pytest.mark.parametrize(("old", "new", "compatible"), [
    ("(a, b=...)", "(a, b=..., c=...)", True),
    ("(a, b)", "(a, b=...)", True),
    ("(a, *, b=...)", "(a, *, b=..., c=...)", True),
    ("(a, b=...)", "(a, b)", False),
    ("(a, b)", "(b, a)", False),
    ("(a, b)", "(a, c)", False),
    ("(a)", "(a, c)", False),
    ("(a, **kwargs)", "(a)", False),
    ("(a, b=...)", "(a, *, b=...)", False),
])
def test_extends(old: str, new: str, compatible: bool) -> None:
    assert extends(old, new) is compatible


def test_signature_text() -> None:
    def f(a, /, b, *args, c=1, **kwargs): ...
    def g(a, *, b, c=2): ...

    assert signature(f) == "(a, /, b, *args, c=..., **kwargs)"
    assert signature(g) == "(a, *, b, c=...)"


def test_write_refuses_a_break_without_a_version_bump(tmp_path: Path, current: dict,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = tmp_path / "public_api.json"
    changelog = tmp_path / "CHANGELOG.md"
    old = copy.deepcopy(current)
    old["modules"]["nascore.nn"]["Gone"] = "value: int"
    snapshot.write_text(public_api.json.dumps({"plugin_api_version": 1, **old, "breaks": []}))
    monkeypatch.setattr(public_api, "collect", lambda: current)
    monkeypatch.setattr(public_api, "api_version", lambda: 1)
    problems = public_api.write(snapshot, changelog)
    assert [p.split(";")[0] for p in problems] == ["nascore.nn.Gone: removed"]
    monkeypatch.setattr(public_api, "api_version", lambda: 2)
    changelog.write_text("nothing yet")
    assert public_api.write(snapshot, changelog) == [
        f"nascore.nn.Gone: breaks plugin API 1; name it in CHANGELOG.md before `{REFRESH}`"
    ]
    changelog.write_text("### Removed\n- `nascore.nn.Gone` (plugin API 2)")
    assert public_api.write(snapshot, changelog) == []
    written = public_api.load(snapshot)
    assert written["plugin_api_version"] == 2
    assert written["breaks"] == [{"plugin_api_version": 2, "name": "nascore.nn.Gone"}]
