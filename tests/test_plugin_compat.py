"""A plugin written once against plugin API 1 (``tests/compat_plugin_api1``, frozen: never edited
when the API changes), installed unchanged, loads, searches, resumes, trains and exports; plugins
cost nothing until a command needs them, and a plugin that fails in any way is skipped."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file
from torch import nn

from nascore import plugins
from nascore.cli.app import main
from nascore.cli.lazy import declared_commands
from nascore.errors import UsageError
from nascore.exporters.timm_api import with_timm_api

COMPAT = Path(__file__).parent / "compat_plugin_api1"

#: One distribution with three more plugins: one that quits at import (and declares a command
#: there), one of a future plugin API and one whose command comes only from its hook.
EXTRAS = {
    "pyproject.toml": """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "nas-plugin-extras"
version = "0.0.1"

[project.entry-points."nascore.plugins"]
quits = "nas_plugin_quits"
future = "nas_plugin_future"
hooked = "nas_plugin_hooked"

[project.entry-points."nascore.commands"]
quit = "nas_plugin_quits:QUIT"

[tool.setuptools]
py-modules = ["nas_plugin_quits", "nas_plugin_future", "nas_plugin_hooked"]
""",
    "nas_plugin_quits.py": "import sys\n\nsys.exit('no GPU here')\n",
    "nas_plugin_future.py": "NASCORE_PLUGIN_API = 99\n",
    "nas_plugin_hooked.py": """
import click

from nascore import hookimpl

NASCORE_PLUGIN_API = 1


@click.command("hello")
def hello():
    click.echo("hello from a hook")


@hookimpl
def nascore_commands():
    return [hello]
""",
}

#: Flags of the tiny one-shot search and training on the plugin's space.
TINY = ["--epochs", "1", "--batch-size", "16", "--channels", "4", "--set", "data.subset=64"]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, install_plugin) -> Path:
    """A folder with the frozen API-1 plugin and the extras installed as distributions."""
    root = tmp_path_factory.mktemp("compat")
    source = root / "compat"
    shutil.copytree(COMPAT, source)  # the build leaves files beside the sources
    extras = root / "extras"
    extras.mkdir()
    for name, text in EXTRAS.items():
        (extras / name).write_text(text)
    target = root / "site"
    install_plugin(source, target)
    install_plugin(extras, target)
    return target


@pytest.fixture(scope="module")
def installed(site: Path) -> Iterator[Path]:
    """The plugins of ``site`` visible to this process's registry and CLI."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(site))
        plugins.reset_registry()
        declared_commands.cache_clear()
        yield site
    plugins.reset_registry()
    declared_commands.cache_clear()


def nas(*args: str | Path) -> str:
    """``nas ARGS`` in this process; its standard output (it must succeed)."""
    result = CliRunner().invoke(main, [str(arg) for arg in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.stdout


def test_start_up_imports_no_plugin_module_and_help_lists_declared_commands(site: Path) -> None:
    probe = (
        "import sys\nfrom nascore.cli import entry\n"
        "for args in (['--version'], ['--help'], ['bench', '--help']):\n"
        "    try:\n        entry(args)\n    except SystemExit:\n        pass\n"
        "heavy = ('torch', 'numpy', 'nas_plugin_compat', 'nas_plugin_quits', 'nas_plugin_hooked')\n"
        "print([name for name in heavy if name in sys.modules], file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"},
                          check=True)
    skipped, imported = proc.stderr.strip().splitlines()[-2:]
    assert imported == "[]", proc.stderr
    assert skipped == ("nas: skipped plugin command quit (nas_plugin_quits:QUIT): "
                       "SystemExit: no GPU here")
    commands, bench = proc.stdout.split("Commands:")[1:]
    assert "\n  bpe " in commands  # mipbpe's command, declared as a nascore.commands entry point
    assert "\n  budgets " in bench and "\n  supernet " in bench


def _listing(out: str, plugin: str) -> tuple[str, list[str]]:
    """The header line of ``plugin`` in ``nas plugins`` and its indented lines."""
    header, *rest = out.split(f"\n{plugin}  (", 1)[1].split("\n")
    lines = []
    for line in rest:
        if not line.startswith("    "):
            break
        lines.append(line.strip())
    return header, lines


def test_plugins_shows_api_versions_and_skips_failing_plugins(installed: Path) -> None:
    out = nas("plugins")
    header, lines = _listing(out, "compat")
    assert header == "nas-plugin-compat-api1 0.1.0, module nas_plugin_compat, plugin API 1)"
    assert lines == ["constraint: latency", "part: sharpen", "space: chain",
                     "strategy: localsearch"]
    assert _listing(out, "quits") == ("nas-plugin-extras 0.0.1, module nas_plugin_quits)",
                                      ["FAILED TO LOAD: SystemExit: no GPU here"])
    header, [line] = _listing(out, "future")
    assert header.endswith("plugin API 99)")
    assert line.startswith("FAILED TO LOAD: refused: it declares plugin API 99, but nascore "
                           "supports plugin API ") and line.endswith("; upgrade nascore")
    assert nas("hello") == "hello from a hook\n"  # a hook-only command (API 1) still runs


def test_older_supported_api_loads_with_a_note_and_unsupported_ones_are_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(plugins, "PLUGIN_API_VERSION", 2)
    monkeypatch.setattr(plugins, "SUPPORTED_PLUGIN_APIS", (1, 2))
    assert plugins.check_api(2) == (None, None)
    refusal, note = plugins.check_api(1)
    assert refusal is None and note == "written for plugin API 1; nascore speaks 2 and still " \
                                       "supports 1"
    refusal, note = plugins.check_api(0)
    assert note is None and refusal.startswith("refused: it declares plugin API 0, but nascore "
                                               "supports plugin API 1, 2 only; upgrade the plugin")
    assert "no NASCORE_PLUGIN_API" in plugins.check_api(None)[0]


def _queries(run: Path) -> list[str]:
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    return [event["arch"] for event in events if event["type"] == "query"]


def test_plugin_strategy_on_nb201_resumes_as_if_never_stopped(installed: Path,
                                                              tmp_path: Path) -> None:
    """The strategy keeps state of its own in an attribute named like the base's internals."""
    search = ["run", "--strategy", "localsearch", "--space", "nb201", "--estimator", "nb201",
              "--set", "strategy.queries_per_epoch=4", "--quiet"]
    nas(*search, "--set", "strategy.queries=12", "--out", tmp_path / "whole")
    nas(*search, "--set", "strategy.queries=6", "--out", tmp_path / "parts")
    nas("resume", tmp_path / "parts", "--set", "strategy.queries=12", "--quiet")
    whole = _queries(tmp_path / "whole")
    assert len(whole) == 12 and len(set(whole)) > 1
    assert _queries(tmp_path / "parts") == whole
    assert (tmp_path / "parts" / "architecture.json").read_text() == \
           (tmp_path / "whole" / "architecture.json").read_text()


@pytest.fixture(scope="module")
def trained(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """darts with the plugin's part on the plugin's space, then `nas train` (tiny): the train
    run."""
    run = tmp_path_factory.mktemp("darts") / "run"
    nas("run", "--strategy", "darts", "--space", "chain", *TINY, "--set",
        'strategy.parts=["sharpen"]', "--out", run, "--quiet")
    assert json.loads((run / "architecture.json").read_text())["space"] == "chain"
    nas("train", run, *TINY, "--quiet")
    assert "test_acc" in json.loads((run / "train" / "result.json").read_text())
    return run / "train"


@pytest.mark.slow
def test_plugin_network_exports_to_timm_onnx_and_pt2(trained: Path) -> None:
    import timm

    import nascore.timm  # noqa: F401  (registers nascore's models with timm)

    nas("export", trained, "--format", "timm")
    model = timm.create_model(f"local-dir:{trained / 'export-timm'}", pretrained=True).eval()
    weights = load_file(trained / "last.safetensors")
    assert all(torch.equal(model.state_dict()[key], value) for key, value in weights.items())
    x = torch.randn(2, 1, 8, 8)
    features = model.forward_features(x)
    assert model.num_features == features.shape[1] == 4
    assert torch.allclose(model.forward_head(features), model(x))
    assert model.pretrained_cfg["classifier"] == "classifier"
    model.reset_classifier(3)
    assert model(x).shape == (2, 3)
    for fmt, name in (("onnx", "model.onnx"), ("pt2", "model.pt2")):
        assert f"wrote {trained / name}" in nas("export", trained, "--format", fmt)


def test_timm_export_refuses_a_network_without_a_linear_classifier() -> None:
    network = nn.Sequential(nn.Conv2d(1, 10, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    with pytest.raises(UsageError, match=r"^space 'cells' networks \(Sequential\) lack timm's "
                                         r"model API \(num_features, get_classifier, "
                                         r"reset_classifier, forward_features, forward_head\) "
                                         r"and end in no nn.Linear with 10 outputs"):
        with_timm_api(network, 10, "cells")
