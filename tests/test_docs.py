"""Docs that run: every ``nas`` command, ``--set``/``--budget``/``--constraint`` value, Python
block and import of README.md, docs/*.md and plugins/*/README.md still works.

Commands are checked in-process: click parses them (paths need not exist); ``nas run`` and
``nas config`` also resolve their config for the command's strategy and space and check that
the components fit (what ``nas run --dry-run`` checks before building anything), ``nas train``
resolves its train config. The README tour's searches run for real at a tiny size.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import sys
import tomllib
import types
import warnings
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
import torch

import nascore
from nascore import plugins
from nascore.cli import app
from nascore.config import ConfigError, Renamed, build_config, help_texts

sys.path.insert(0, str(Path(__file__).parent))
from docs_commands import (  # noqa: E402
    ROOT,
    Found,
    check_command,
    check_import,
    check_key,
    check_name,
    check_python,
    check_value,
    collect,
    collect_text,
    has_placeholder,
)

FOUND = collect()
EXAMPLE_DOC = ROOT / "docs" / "writing-a-plugin.md"


@pytest.fixture(autouse=True)
def same_threads() -> Iterator[None]:
    """``nas run`` sets torch's thread count for its run; later tests keep the worker's."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _by_kind(*kinds: str) -> list[Found]:
    return [f for f in FOUND if f.kind in kinds]


def _id(found: Found) -> str:
    return f"{found.where} {found.text[:70]}"


#: A file of the guide's example plugin: a line naming it (`` `nas_plugin_example/x.py`: ``),
#: then its Python block.
_EXAMPLE_FILE = re.compile(r"^`(nas_plugin_example[\w/]*)\.py`[^\n]*\n+```python\n(.*?)\n```",
                           re.DOTALL | re.MULTILINE)


@pytest.fixture(scope="module")
def with_example_plugin() -> Iterator[None]:
    """The registry with the guide's example plugin (docs/writing-a-plugin.md) built from its
    Python blocks, so that the guide's commands resolve and run too."""
    files = {path.replace("/", ".").removesuffix(".__init__"): code
             for path, code in _EXAMPLE_FILE.findall(EXAMPLE_DOC.read_text())}
    assert "nas_plugin_example" in files, "the guide's plugin module was not found"
    modules = []
    for name in sorted(files):  # the package before its modules
        module = types.ModuleType(name)
        module.__file__ = str(EXAMPLE_DOC)
        module.__path__ = []
        sys.modules[name] = module
        modules.append((module, files[name]))
        if "." in name:
            setattr(sys.modules[name.rsplit(".", 1)[0]], name.rsplit(".", 1)[1], module)
    for module, code in modules:
        exec(compile(code, str(EXAMPLE_DOC), "exec"), module.__dict__)
    entry = md.EntryPoint("example", "nas_plugin_example", plugins.ENTRY_POINT_GROUP)
    before = plugins._REGISTRY
    plugins._REGISTRY = plugins.discover([*md.entry_points(group=plugins.ENTRY_POINT_GROUP),
                                          entry])
    try:
        assert "hillclimb" in plugins._REGISTRY.names("strategy")
        yield
    finally:
        plugins._REGISTRY = before
        for name in files:
            del sys.modules[name]


def test_the_documents_are_found() -> None:
    kinds = {f.kind for f in FOUND}
    assert {"command", "set", "python", "toml", "import", "name", "key"} <= kinds
    assert len(_by_kind("command")) > 80


@pytest.mark.parametrize("found", _by_kind("command"), ids=_id)
def test_command(found: Found, with_example_plugin: None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        check_command(found)


@pytest.mark.parametrize("found", _by_kind("set", "budget", "constraint"), ids=_id)
def test_setting(found: Found, with_example_plugin: None) -> None:
    check_value(found)


@pytest.mark.parametrize("found", _by_kind("key"), ids=_id)
def test_settings_table_key(found: Found) -> None:
    check_key(found)


@pytest.fixture
def deprecated_names_allowed() -> Iterator[None]:
    """Docs may name deprecated aliases (saying so): they still work."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


@pytest.mark.parametrize("found", _by_kind("python"), ids=_id)
def test_python_block(found: Found, with_example_plugin: None,
                      deprecated_names_allowed: None) -> None:
    check_python(found)


@pytest.mark.parametrize("found", _by_kind("toml"), ids=_id)
def test_toml_block(found: Found) -> None:
    tomllib.loads(found.text)


@pytest.mark.parametrize("found", _by_kind("import"), ids=_id)
def test_import(found: Found, deprecated_names_allowed: None) -> None:
    check_import(found)


@pytest.mark.parametrize("found", _by_kind("name"), ids=_id)
def test_dotted_name(found: Found, deprecated_names_allowed: None) -> None:
    check_name(found)


# -- the collector and the checks themselves -----------------------------------------------------
SAMPLE = '''
Run `nas run --strategy darts --space darts --set strategy.lr=0.1` or `--budget tiny`, and
`import nascore.timm`; `nascore.search` searches.

```bash
TINY="--epochs 1 --channels 4"
nas run --strategy gdas --space darts $TINY   # a comment
./install.sh && .venv/bin/nas plugins ; nas show RUN
torchrun --nproc-per-node 2 -m nascore run --strategy darts \\
    --space darts
```

```python
import nascore
```

## Options (`--set strategy.KEY=VALUE`)

| key | default |
|---|---|
| `lr`, `arch_lr` | 0.025 (`none`) |
'''


def test_collector_finds_commands_settings_and_code() -> None:
    found = collect_text(SAMPLE, ROOT / "README.md")
    commands = [f.text for f in found if f.kind == "command"]
    assert commands == [
        "nas run --strategy gdas --space darts --epochs 1 --channels 4",
        "nas plugins", "nas show RUN", "nas run --strategy darts --space darts",
        "nas run --strategy darts --space darts --set strategy.lr=0.1",
    ]
    assert [(f.kind, f.text) for f in found if f.kind not in ("command",)] == [
        ("python", "import nascore"), ("key", "strategy.lr"), ("key", "strategy.arch_lr"),
        ("budget", "tiny"), ("import", "import nascore.timm"), ("name", "nascore.search"),
        ("set", "strategy.KEY=VALUE"),   # a placeholder: check_value accepts it
    ]
    assert has_placeholder(["show", "RUN"])
    assert not has_placeholder(["--constraint", "params:1M..2M"])


def _doc_command(text: str) -> Found:
    return next(f for f in collect_text(f"```bash\n{text}\n```\n", ROOT / "README.md")
                if f.kind == "command")


def test_a_broken_command_fails() -> None:
    for text in ("nas run --strategy darts --space darts --set strategy.no_such_key=1",
                 "nas run --strategy darts --space darts --epochs many",
                 "nas run --strategy evolution --space darts",           # needs an estimator
                 "nas run --strategy darts --space darts --constraint params:3..1",
                 "nas frobnicate", "nas train --arch darts_v2 --set train.no_such_key=1"):
        with pytest.raises(Exception):  # noqa: B017 (click's or nascore's error)
            check_command(_doc_command(text))
    for text in ("strategy.no_such_key=1", "no_value", "space.no_such_key=2"):
        with pytest.raises(ConfigError):
            check_value(Found("set", text, "x"))
    with pytest.raises(Exception):  # noqa: B017
        check_name(Found("name", "nascore_mipbpe.budgetfile.read_budget_file", "x"))
    with pytest.raises(ImportError):
        check_import(Found("import", "from nascore import NoSuchName", "x"))
    check_key(Found("key", "strategy.indicator_lambda", "plugins/eoinas/README.md:1"))
    with pytest.raises(ConfigError, match="strategy eoinas has no setting strategy.lr_scale"):
        check_key(Found("key", "strategy.lr_scale", "plugins/eoinas/README.md:1"))


# -- renamed settings: the docs test fails without an alias and passes with one ----------------
def _configs() -> tuple[type, type, type]:
    @attrs.frozen
    class Documented:
        learning_rate: float = nascore.field(0.1, "the documented name")

    @attrs.frozen
    class Renamed_:
        lr: float = nascore.field(0.1, "the key after a rename")

    @attrs.frozen
    class Aliased:
        renamed_keys = {"learning_rate": "lr"}
        lr: float = nascore.field(0.1, "the key after a rename, with its alias")

    return Documented, Renamed_, Aliased


def _space_with(config_cls: type) -> type:
    darts = plugins.registry().get("space", "darts")
    return type("DocSpace", (darts,), {"name": "docspace", "config_cls": config_cls})


def test_a_renamed_key_without_alias_fails_the_docs_check(monkeypatch) -> None:
    found = _doc_command("nas config --strategy darts --space docspace "
                         "--set space.learning_rate=0.5")
    for cls, works in zip(_configs(), (True, False, True), strict=True):
        reg = plugins.discover()
        reg.add("space", "docspace", _space_with(cls), "docs-test")
        monkeypatch.setattr(plugins, "_REGISTRY", reg)
        if works:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                assert check_command(found) == "resolved"
            assert [w.category for w in caught] == ([DeprecationWarning] if cls.__name__ ==
                                                    "Aliased" else [])
        else:
            with pytest.raises(ConfigError, match="unknown config key space.learning_rate"):
                check_command(found)


def test_nas_warns_about_a_deprecated_key_in_one_line(monkeypatch, capsys) -> None:
    reg = plugins.discover()
    reg.add("space", "docspace", _space_with(_configs()[2]), "docs-test")
    monkeypatch.setattr(plugins, "_REGISTRY", reg)
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    with warnings.catch_warnings():
        app.entry(["config", "--strategy", "darts", "--space", "docspace",
                   "--set", "space.learning_rate=0.5"])
    out = capsys.readouterr()
    assert "warning: config key space.learning_rate is deprecated: use space.lr\n" in out.err
    assert "lr = 0.5  # the key after a rename, with its alias [deprecated alias: " \
           "learning_rate]" in out.out


def test_aliases_rename_convert_and_show_in_nas_config() -> None:
    @attrs.frozen
    class Config:
        renamed_keys = {"old": "new", "soft": Renamed("hard", "0.2", lambda v: not v)}
        new: int = nascore.field(1, "the new key")
        hard: bool = nascore.field(True, "hard sampling")

    with pytest.warns(DeprecationWarning, match="x.old is deprecated: use x.new"):
        assert build_config(Config, {"old": 5}, "x") == Config(new=5, hard=True)
    with pytest.warns(DeprecationWarning, match="x.soft is deprecated since 0.2"):
        assert build_config(Config, {"soft": "true"}, "x").hard is False
    with pytest.raises(ConfigError, match="give only x.new"):
        build_config(Config, {"old": 5, "new": 6}, "x")
    helps = help_texts(Config, "x")
    assert helps["x.new"] == "the new key [deprecated alias: old]"
    assert "deprecated alias: soft (converted)" in helps["x.hard"]


def test_composed_strategy_configs_keep_aliases() -> None:
    from nascore.oneshot import one_shot_strategy

    strategy = one_shot_strategy("docs_alias", renamed={"step_lr": "lr"})
    with pytest.warns(DeprecationWarning, match="strategy.step_lr"):
        config = strategy.configure({"step_lr": 0.5})
    assert config.lr == 0.5
    with pytest.raises(TypeError, match="rename no field"):
        one_shot_strategy("docs_alias_wrong", renamed={"a": "no_such_field"})


# -- nas run --dry-run ---------------------------------------------------------------------------
@pytest.mark.slow
def test_dry_run_checks_and_writes_nothing(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    app.main.main(["run", "--strategy", "darts", "--space", "darts", "--channels", "4",
                   "--layers", "3", "--constraint", "params:..1M", "--dry-run",
                   "--out", "runs/d"], standalone_mode=False)
    out = capsys.readouterr()
    assert "components fit" in out.out and "constraint params:..1M" in out.out
    assert "nothing written" in out.err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(nascore.NascoreError, match="outside what space darts reaches"):
        app.main.main(["run", "--strategy", "darts", "--space", "darts", "--channels", "4",
                       "--layers", "3", "--constraint", "params:..10", "--dry-run"],
                      standalone_mode=False)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    with pytest.raises(nascore.NascoreError, match="taken already exists"):
        app.main.main(["run", "--strategy", "darts", "--space", "darts", "--dry-run",
                       "--out", "taken"], standalone_mode=False)
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    # a discrete search's dry run starts no workers
    app.main.main(["run", "--strategy", "random", "--space", "darts", "--estimator", "train",
                   "--budget", "tiny", "--executor", "ray", "--workers", "2", "--dry-run"],
                  standalone_mode=False)
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()


# -- the README tour, for real at a tiny size ----------------------------------------------------
def _tour() -> list[Found]:
    """The searches (``nas run``) of the README's "A tour" block."""
    lines = (ROOT / "README.md").read_text().splitlines()
    first = lines.index("## A tour") + 1
    last = next(i for i in range(first + 2, len(lines)) if lines[i].startswith("```")) + 1
    return [f for f in collect([ROOT / "README.md"]) if f.kind == "command" and not f.inline
            and first < int(f.where.rsplit(":", 1)[1]) <= last and f.args[:1] == ("run",)]


#: Tour lines not run for real, and why: they are dry-run instead (CIFAR-10 lines at their
#: documented size on digits resized to 32x32, so that their constraints mean the same).
NOT_RUN = {
    "--data-dir ~/data": "needs CIFAR-10 under ~/data (nascore never downloads)",
    "--nproc": "launches torchrun processes (tests/test_distributed.py runs 2 ranks)",
}
ONE_SHOT_TINY = ["--epochs", "2", "--channels", "4", "--layers", "3", "--batch-size", "32",
                 "--set", "data.subset=64"]
#: What else a strategy needs to be tiny (BNAS samples and scores architectures per stage).
STRATEGY_TINY = {
    "bnas": ["--set", "strategy.reduction_after=2", "--set", "strategy.reduction_weights_only=1",
             "--set", "strategy.reduction_rounds=1", "--set", "strategy.reduction_batch_size=32",
             "--set", "strategy.reduction_valid_images=32"],
}
DISCRETE_TINY = ["--set", "data.subset=64", "--set", "strategy.queries=3"]
BUDGET_TINY = ["--set", "budget.epochs=1", "--set", "budget.channels=4", "--set",
               "budget.layers=3", "--set", "budget.batch_size=64"]


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def _without(args: list[str], *names: str) -> list[str]:
    """``args`` without the options ``names`` and their values."""
    out = list(args)
    for name in names:
        if name in out:
            del out[out.index(name):out.index(name) + 2]
    return out


def _tiny(found: Found) -> list[str]:
    """The tour line at a tiny size (and inline instead of on Ray workers)."""
    args = list(found.args)
    reg = plugins.registry()
    name = _option(args, "--strategy")
    if reg.get("strategy", name).kind == "one-shot":
        return [*args, *ONE_SHOT_TINY, *STRATEGY_TINY.get(name, ())]
    space = attrs.fields_dict(reg.get("space", _option(args, "--space")).config_cls)
    tiny = [*DISCRETE_TINY, *(BUDGET_TINY if "--budget" in args else ())]
    tiny += [*(["--channels", "4"] if "channels" in space else ()),
             *(["--layers", "3"] if "layers" in space else ())]
    if "--executor" in args:  # starting Ray takes longer than the search
        args = _without(args, "--executor", "--workers")
    return [*args, *tiny]


@pytest.mark.slow
@pytest.mark.parametrize("found", _tour(), ids=_id)
def test_tour_search_runs_tiny(found: Found, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    args = _tiny(found)
    reason = next((why for key, why in NOT_RUN.items() if key in found.text), None)
    if reason is not None:
        if "--data-dir" in found.args:  # at the documented size, on digits at CIFAR's 32x32
            stand_in = [*_without(list(found.args), "--dataset", "--data-dir"),
                        "--set", "data.image_size=32"]
            if not Path("~/data/cifar-10-batches-py").expanduser().exists():
                with pytest.raises(nascore.NascoreError, match="cifar10 not found"):
                    app.main.main([*found.args, "--dry-run"], standalone_mode=False)
        else:
            stand_in = _without(args, "--nproc")
        app.main.main([*stand_in, "--dry-run"], standalone_mode=False)
        assert list(tmp_path.iterdir()) == []
        pytest.skip(f"not run for real: {reason}; its dry run passed")
    app.main.main([*args, "--out", str(tmp_path / "run"), "--quiet"], standalone_mode=False)
    assert (tmp_path / "run" / "result.json").is_file()
    assert capsys.readouterr().out.strip()


# -- the plugin guide's example, for real at a tiny size ------------------------------------------
GUIDE_TINY = {
    "hillclimb": [("--set", "strategy.queries=3"), ("--set", "data.subset=128"),
                  ("--set", "budget.epochs=1"), ("--set", "budget.channels=4"),
                  ("--set", "budget.layers=3")],
    "darts": [("--epochs", "1"), ("--batch-size", "32"), ("--set", "data.subset=128")],
}


def _guide() -> list[Found]:
    return [f for f in collect([EXAMPLE_DOC]) if f.kind == "command" and not f.inline
            and f.args[:1] == ("run",)]


@pytest.mark.slow
@pytest.mark.parametrize("found", _guide(), ids=_id)
def test_guide_search_runs_tiny(found: Found, with_example_plugin: None, tmp_path,
                                monkeypatch) -> None:
    """The guide's example plugin works with itself and the built-ins, as it says."""
    monkeypatch.chdir(tmp_path)
    args = list(found.args)
    tiny = [word for flag, value in GUIDE_TINY[_option(args, "--strategy")]
            if "--budget" in args or not value.startswith("budget.") for word in (flag, value)]
    app.main.main([*args, *tiny, "--out", "run", "--quiet"], standalone_mode=False)
    assert (tmp_path / "run" / "result.json").is_file()
