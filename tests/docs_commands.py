"""What the documentation promises: every ``nas`` command, ``--set``/``--budget``/``--constraint``
setting, Python snippet and import in README.md, docs/*.md and plugins/*/README.md, and the checks
that they still work (used by ``tests/test_docs.py``).

A command is *concrete* when every argument is a real value; one with a placeholder (``RUN``,
``N``, ``NAME``, ``...``) is only checked structurally (its options exist, its concrete
``--set`` keys resolve for some installed component).
"""

from __future__ import annotations

import ast
import copy
import importlib
import re
import shlex
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import click

ROOT = Path(__file__).resolve().parents[1]
SHELL = {"", "bash", "sh", "shell", "console"}
_FENCE = re.compile(r"^(\s*)(```+)\s*([\w+-]*)")
_SPAN = re.compile(r"(?<!`)`([^`]+)`(?!`)")
_PLACEHOLDER = re.compile(r"\.\.\.|\b[A-Z][A-Z_]*\b|<\w+>|^\[-|^[^[=]*\]$")
_DOTTED = re.compile(r"^(nascore(?:_\w+)?(?:\.\w+)+)(\(.*\))?$")
_ASSIGN = re.compile(r"^([A-Z_][A-Z0-9_]*)=(.*)$")
#: A heading over a table of settings, keys in its first column: ``## Options (`--set
#: strategy.KEY=VALUE`)``.
_KEY_TABLE = re.compile(r"`--set (\w+)\.KEY=VALUE`")
#: Dotted names in the docs that are entry-point groups, not modules.
ENTRY_POINT_GROUPS = {"nascore.plugins", "nascore.commands"}


@attrs.frozen
class Found:
    """One checkable thing in a document: ``kind`` is ``command``, ``set``, ``budget``,
    ``constraint``, ``python`` or ``toml`` (a fenced block), ``import``, ``name`` (a dotted
    reference) or ``key`` (``section.key`` from a table of settings);
    ``where`` is ``path:line``; ``inline`` marks code spans in running text."""

    kind: str
    text: str
    where: str
    inline: bool = False
    args: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.where}: {self.text}"


def documents() -> list[Path]:
    """README.md, docs/*.md and plugins/*/README.md."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
            *sorted((ROOT / "plugins").glob("*/README.md"))]


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def collect(paths: Sequence[Path] | None = None) -> list[Found]:
    """Everything checkable in ``paths`` (default: :func:`documents`)."""
    found: list[Found] = []
    for path in paths or documents():
        found += collect_text(path.read_text(), path)
    return found


def collect_text(text: str, path: Path) -> list[Found]:
    """Everything checkable in one Markdown text."""
    found: list[Found] = []
    prose: list[tuple[int, str]] = []
    lines = text.splitlines()
    table_section = None  # the section of a heading "... (`--set SECTION.KEY=VALUE`)"
    key_table = False  # in a table whose first column holds keys
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            prose.append((i + 1, lines[i]))
            if lines[i].startswith("#"):
                heading = _KEY_TABLE.search(lines[i])
                table_section = heading.group(1) if heading else None
            elif table_section and lines[i].startswith("|"):
                first = lines[i].strip("|").split("|")[0]
                if not lines[i - 1].startswith("|"):  # a table's header: a table of settings?
                    key_table = first.strip().lower() in ("key", "keys", "setting", "settings")
                elif key_table:
                    found += [Found("key", f"{table_section}.{key}", _where(path, i + 1))
                              for key in re.findall(r"`([a-z_][a-z0-9_]*)`", first)]
            i += 1
            continue
        fence, lang, start = match.group(2), match.group(3).lower(), i + 1
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        i += 1
        if lang in SHELL:
            found += _shell_block(body, path, start + 1)
        elif lang in ("python", "toml"):
            found.append(Found(lang, "\n".join(body), _where(path, start + 1)))
    found += _spans(prose, path)
    return found


def _shell_block(body: list[str], path: Path, first: int) -> list[Found]:
    found: list[Found] = []
    variables: dict[str, str] = {}
    joined: list[tuple[int, str]] = []
    for number, line in enumerate(body, first):
        if joined and joined[-1][1].endswith("\\"):
            joined[-1] = (joined[-1][0], joined[-1][1][:-1] + " " + line.strip())
        else:
            joined.append((number, line.strip()))
    for number, line in joined:
        for words in _commands(line, variables):
            args = _nas_args(words)
            if args is not None:
                found.append(Found("command", " ".join(["nas", *args]), _where(path, number),
                                   args=tuple(args)))
    return found


def _commands(line: str, variables: dict[str, str]) -> Iterator[list[str]]:
    """The simple commands of one shell line (split at ``&&``, ``;``, ``|``), with ``$VAR``
    expanded from earlier ``VAR="..."`` lines of the block."""
    try:
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
    except ValueError:
        return
    current: list[str] = []
    for token in [*tokens, ";"]:
        if token in (";", "&&", "||", "|", "&"):
            if len(current) == 1 and _ASSIGN.match(current[0]):
                name, value = _ASSIGN.match(current[0]).groups()
                variables[name] = value
            elif current:
                yield current
            current = []
            continue
        if token.startswith("$") and token[1:] in variables:
            current += shlex.split(variables[token[1:]])
        else:
            current.append(token)


def _nas_args(words: list[str]) -> list[str] | None:
    """The arguments after ``nas`` (or ``.venv/bin/nas``, ``python -m nascore``, ``torchrun ...
    -m nascore``) in a command, or None for other programs."""
    while words and _ASSIGN.match(words[0]):  # OMP_NUM_THREADS=1 nas ...
        words = words[1:]
    if not words:
        return None
    if words[0] == "nas" or words[0].endswith("/nas"):
        return words[1:]
    if "-m" in words and words.index("-m") + 1 < len(words) and \
            words[words.index("-m") + 1] == "nascore":
        return words[words.index("-m") + 2:]
    return None


def _spans(prose: list[tuple[int, str]], path: Path) -> list[Found]:
    """Code spans of running text (which may wrap over lines)."""
    text = "\n".join(line for _n, line in prose)
    starts, offset = [], 0
    for number, line in prose:
        starts.append((offset, number))
        offset += len(line) + 1
    found: list[Found] = []
    for match in _SPAN.finditer(text):
        span = " ".join(match.group(1).split())
        number = next(n for start, n in reversed(starts) if start <= match.start())
        where = _where(path, number)
        found += _classify_span(span, where)
    return found


def _classify_span(span: str, where: str) -> list[Found]:
    if span.startswith("nas "):
        try:
            words = shlex.split(span)
        except ValueError:
            words = span.split()
        return [Found("command", span, where, True, tuple(words[1:]))]
    if span.startswith("--"):
        try:
            words = shlex.split(span)
        except ValueError:
            words = span.split()
        return list(_option_values(words, where))
    if re.match(r"^(import \w|from [\w.]+ import )", span):
        return [Found("import", span, where, True)]
    dotted = _DOTTED.match(span)
    if dotted and dotted.group(1) not in ENTRY_POINT_GROUPS:
        return [Found("name", dotted.group(1), where, True)]
    return []


def _option_values(words: Sequence[str], where: str) -> Iterator[Found]:
    """``--set``, ``--budget`` and ``--constraint`` values among ``words``."""
    kinds = {"--set": "set", "--budget": "budget", "--constraint": "constraint"}
    for option, value in zip(words, words[1:], strict=False):
        if option in kinds:
            yield Found(kinds[option], value, where, True)


def has_placeholder(args: Sequence[str]) -> bool:
    """Whether a command shows a placeholder instead of a value (``RUN``, ``N``, ``...``)."""
    return any(_PLACEHOLDER.search(arg) for arg in args)


# -- checks --------------------------------------------------------------------------------------
def cli() -> click.Group:
    """The ``nas`` group with every registered command attached."""
    from nascore.cli import app

    attach = getattr(app, "_attach_commands", None)  # older CLIs attach plugin commands first
    if attach is not None:
        attach()
    return app.main


def split_command(args: Sequence[str]) -> tuple[click.Command, list[str], list[str]]:
    """``(command, its path, its arguments)`` for ``nas ARGS`` (groups descended)."""
    command: click.Command = cli()
    names: list[str] = []
    rest = list(args)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-") \
            and not has_placeholder(rest[:1]):
        sub = command.get_command(click.Context(command), rest[0])
        if sub is None:
            raise click.UsageError(f"no command {' '.join(['nas', *names, rest[0]])}")
        names.append(rest.pop(0))
        command = getattr(sub, "real", sub)  # a LazyCommand stands in for its target
    return command, names, rest


def parse_only(command: click.Command, args: Sequence[str], name: str = "nas") -> dict[str, Any]:
    """Click's parse of ``args`` (types, choices, required arguments) without running anything;
    paths need not exist."""
    relaxed = copy.copy(command)
    relaxed.params = []
    for param in command.params:
        param = copy.copy(param)
        if isinstance(param.type, click.Path):
            param.type = copy.copy(param.type)
            param.type.exists = False
        relaxed.params.append(param)
    try:
        with relaxed.make_context(name, list(args)) as ctx:
            return dict(ctx.params)
    except click.exceptions.Exit as exc:  # --help
        if exc.exit_code:
            raise
        return {}


def options_of(command: click.Command) -> set[str]:
    """Every option string of a command (``--help`` included)."""
    names = {"--help", "-h"}
    for param in command.params:
        names.update(getattr(param, "opts", ()))
        names.update(getattr(param, "secondary_opts", ()))
    return names


def check_command(found: Found) -> str:
    """Check one documented command; returns what was checked (raises on failure)."""
    command, names, rest = split_command(found.args)
    if isinstance(command, click.Group):
        if rest and rest[0].startswith("-"):  # the group's own options: nas --version
            parse_only(command, rest, " ".join(["nas", *names]))
        elif rest and not has_placeholder(rest[:1]):
            raise click.UsageError(f"nas {' '.join(names)} has no command {rest[0]}")
        return "group"
    if found.inline and not rest:  # a command named in running text: `nas show`
        return "exists"
    sectioned = names in (["run"], ["config"], ["resume"], ["train"])
    # running text shows parts of commands (`nas export --weights best`): check their options;
    # a span that names a strategy is a whole command
    if has_placeholder(found.args) or found.inline and "--strategy" not in rest:
        unknown = [w.split("=")[0] for w in rest if w.startswith("--")
                   and w.split("=")[0] not in options_of(command)]
        if unknown:
            raise click.UsageError(f"nas {' '.join(names)} has no option {unknown[0]}")
        for value in _option_values(rest, found.where) if sectioned else ():
            if not has_placeholder([value.text]):
                check_value(value)
        return "structure"
    params = parse_only(command, rest, " ".join(["nas", *names]))
    if names in (["run"], ["config"]):
        run_tree(params)
        return "resolved"
    if names == ["train"]:
        train_tree(params)
        return "resolved"
    if names == ["compare"] and not params.get("resume_dir"):
        check_study_command(params)
        return "resolved"
    for value in _option_values(rest, found.where) if sectioned else ():
        check_value(value)
    return "parsed"


def run_tree(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The resolved and checked config of ``nas run``/``nas config`` options (what ``nas run
    --dry-run`` checks before building anything)."""
    from nascore.cli.app import _resolve
    from nascore.runner import FLAG_TARGETS, check_config

    known = {*FLAG_TARGETS, "constraints", "config_file", "overrides"}
    options = {k: v for k, v in params.items() if k in known}
    for key in ("budget", "config_file"):  # a file an earlier command of the docs writes
        value = options.get(key)
        if value and str(value).endswith(".toml") and not Path(value).is_file():
            options[key] = None
    tree = _resolve(options)
    check_config(tree)
    return tree


def train_tree(params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The resolved ``[train]``/``[data]``/``[space]`` tree of ``nas train`` options."""
    from nascore.training.source import resolve_tree

    flags = {k: params.get(k) for k in ("epochs", "batch_size", "channels", "layers", "lr",
                                         "seed", "log_every", "dataset", "data_dir", "device")}
    return resolve_tree({}, params.get("space") or "darts", None, flags,
                        list(params.get("overrides", ())))


def check_study_command(params: Mapping[str, Any]) -> None:
    """``nas compare`` options: every row's search config and the retraining config resolve
    (what the command checks before it writes anything)."""
    from nascore.cli.compare import SEARCH_FLAGS
    from nascore.compare import check_study, plan_study

    flags = {k: v for k, v in params.items() if k in SEARCH_FLAGS and v is not None}
    check_study(plan_study(params["space"], params["strategies"].split(","), params["seeds"],
                           params["random_count"], flags, params["overrides"],
                           params["train_overrides"]))


def section_keys(section: str) -> set[str]:
    """Every key some installed component accepts in ``section`` (deprecated names too)."""
    from nascore.budget import Budget
    from nascore.config import renamed_keys
    from nascore.data import DataConfig
    from nascore.executors import ExecutorConfig
    from nascore.plugins import registry
    from nascore.runner import RunConfig
    from nascore.training.recipe import TrainConfig

    reg = registry()
    classes: list[type] = {
        "run": [RunConfig], "data": [DataConfig], "budget": [Budget],
        "executor": [ExecutorConfig], "train": [TrainConfig],
        "space": [reg.get("space", n).config_cls for n in reg.names("space")],
        "estimator": [reg.get("estimator", n).config_cls for n in reg.names("estimator")],
    }.get(section, [])
    if section == "strategy":
        for name in reg.names("strategy"):
            strategy = reg.get("strategy", name)
            classes.append(strategy.config_class({}))
        for kind in ("part", "constraint_handler"):
            classes += [reg.get(kind, n).config_cls for n in reg.names(kind)]
    keys: set[str] = set()
    for cls in classes:
        if cls is not None:
            keys |= {f.name for f in attrs.fields(cls)} | set(renamed_keys(cls))
    return keys


def check_value(found: Found) -> None:
    """A ``--set``, ``--budget`` or ``--constraint`` value out of context: the key exists in
    some installed component of its section (and its value parses for one that has it), the
    budget is registered (or a .toml path), the constraint parses."""
    from nascore.config import ConfigError
    from nascore.plugins import registry
    from nascore.runner import parse_constraint

    if has_placeholder([found.text]):
        return
    if found.kind == "budget":
        if not found.text.endswith(".toml"):
            registry().get("budget", found.text)
        return
    if found.kind == "constraint":
        parse_constraint(found.text)
        return
    key, sep, _value = found.text.partition("=")
    section, dot, name = key.partition(".")
    if _PLACEHOLDER.search(key):
        return
    if not sep:
        raise ConfigError(f"--set expects section.key=value, got {found.text!r}")
    if not dot:  # `nas bench supernet --set KEY=VALUE` sets strategy keys
        section, name = "strategy", key
    if section in ("strategy", "space", "run", "data", "budget", "executor", "estimator",
                   "train") and name not in section_keys(section):
        raise ConfigError(f"no installed component has the setting {key}")


def check_key(found: Found) -> None:
    """A key of a settings table: a plugin README's table lists its own component's settings
    (when the plugin provides one component of that kind), other docs any component's."""
    from nascore.config import ConfigError, renamed_keys
    from nascore.plugins import registry

    section, _dot, name = found.text.partition(".")
    plugin = re.match(r"plugins/(\w+)/README.md", found.where)
    kind = {"space": "space", "strategy": "strategy", "estimator": "estimator"}.get(section)
    record = next((r for r in registry().plugins if plugin and r.name == plugin.group(1)), None)
    registry().collect_all()
    owned = record.provides.get(kind, []) if record is not None and kind else []
    if len(owned) != 1:
        check_value(Found("set", f"{found.text}=1", found.where))
        return
    component = registry().get(kind, owned[0])
    cls = component.config_class({}) if kind == "strategy" else component.config_cls
    if name not in {f.name for f in attrs.fields(cls)} | set(renamed_keys(cls)):
        raise ConfigError(f"{kind} {owned[0]} has no setting {found.text}")


def check_python(found: Found) -> list[str]:
    """A fenced Python block compiles and its top-level imports import; returns the imported
    names."""
    tree = ast.parse(found.text, found.where)
    return [check_import_node(node) for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))]


def check_import(found: Found) -> str:
    """An inline ``import x`` / ``from x import y`` span imports."""
    text = found.text.split(";")[0].split("#")[0].strip()
    node = ast.parse(text).body[0]
    return check_import_node(node)


def check_import_node(node: ast.Import | ast.ImportFrom) -> str:
    """Import what one import statement names (and each name it takes from a module)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            importlib.import_module(alias.name)
        return ", ".join(a.name for a in node.names)
    module = importlib.import_module(node.module or "")
    for alias in node.names:
        if alias.name != "*" and not hasattr(module, alias.name):
            importlib.import_module(f"{node.module}.{alias.name}")  # a submodule, or fail
    return f"{node.module}: {', '.join(a.name for a in node.names)}"


def check_name(found: Found) -> None:
    """A dotted ``nascore...`` reference names a module or an attribute of one."""
    parts = found.text.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for part in parts[cut:]:
            if not hasattr(target, part):
                try:
                    target = importlib.import_module(f"{target.__name__}.{part}")
                    continue
                except (ModuleNotFoundError, AttributeError):
                    raise AttributeError(f"{found.text}: no {part!r} in {target!r}") from None
            target = getattr(target, part)
        return
    raise ModuleNotFoundError(found.text)
