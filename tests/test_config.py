"""Config building, coercion, overrides and TOML output."""

from __future__ import annotations

import tomllib

import attrs
import pytest

from nascore.config import apply_overrides, build_config, dump_toml, field, positive
from nascore.errors import ConfigError


@attrs.frozen
class Example:
    epochs: int = field(5, "epochs", validator=positive)
    lr: float = field(0.1, "learning rate")
    name: str = field("x")
    flag: bool = field(False)
    sizes: tuple[int, ...] = field((1, 2))
    limit: float | None = field(None)


def test_defaults_and_coercion_from_strings() -> None:
    cfg = build_config(Example, {"epochs": "7", "lr": "1e-3", "flag": "true", "sizes": "3,4",
                                 "limit": 2})
    assert cfg == Example(epochs=7, lr=0.001, flag=True, sizes=(3, 4), limit=2.0)
    assert isinstance(cfg.limit, float)


def test_unknown_key_lists_valid_keys() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key strategy\.epoch; valid keys: "
                                          r"strategy\.epochs"):
        build_config(Example, {"epoch": 3}, "strategy")


@pytest.mark.parametrize(
    ("data", "message"),
    [({"epochs": 0}, "epochs must be positive"), ({"epochs": 1.5}, "must be an integer"),
     ({"flag": "maybe"}, "true or false"), ({"lr": "fast"}, "must be a number")],
)
def test_invalid_values_name_the_key(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config(Example, data, "strategy")


def test_overrides_parse_toml_values() -> None:
    tree = {"strategy": {}, "space": {}}
    apply_overrides(tree, ["strategy.lr=0.5", "space.name=abc", "strategy.sizes=[1, 2, 3]"])
    assert tree == {"strategy": {"lr": 0.5, "sizes": [1, 2, 3]}, "space": {"name": "abc"}}
    with pytest.raises(ConfigError, match="section.key=value"):
        apply_overrides(tree, ["lr=3"])
    with pytest.raises(ConfigError, match="unknown config section 'model'"):
        apply_overrides(tree, ["model.x=1"])


def test_dump_toml_round_trips_and_comments_unset_values() -> None:
    tree = {"run": {"seed": 3, "name": 'a"b', "limit": None, "items": ["x", "y"], "on": True}}
    text = dump_toml(tree, {"run.seed": "the seed"})
    assert "# limit = (unset)" in text
    assert "seed = 3  # the seed" in text
    assert tomllib.loads(text) == {"run": {"seed": 3, "name": 'a"b', "items": ["x", "y"],
                                           "on": True}}
