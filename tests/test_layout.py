"""The shape of the code: methods are short declarations, core modules import one way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import nascore
from nascore.testing import code_lines

ROOT = Path(nascore.__file__).parent


@pytest.mark.parametrize("name", ["darts", "pcdarts", "gdas"])
def test_builtin_one_shot_strategies_are_short_declarations(name: str) -> None:
    assert code_lines(ROOT / "strategies" / f"{name}.py") <= 40


def test_code_lines_skip_docstrings_comments_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text('"""Doc\n\nstring."""\n\n# comment\nx = (1,\n     2)\n\n\ndef f():\n'
                    '    """Doc."""\n    return x\n')
    assert code_lines(path) == 4  # x = (1, / 2) / def f(): / return x


def _module_imports(path: Path) -> set[str]:
    """Modules ``path`` imports at import time (not under TYPE_CHECKING, not in functions)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for child in ast.walk(node) if not isinstance(node, ast.FunctionDef | ast.ClassDef) \
                else []:
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.add(child.module)
                found.update(f"{child.module}.{a.name}" for a in child.names)
            elif isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
    return {name for name in found if name.startswith("nascore")}


def test_core_modules_import_each_other_without_cycles() -> None:
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {name: {m for m in _module_imports(path) if m in modules and m != name}
             for name, path in modules.items()}
    # a package's __init__ re-exporting its modules is not a cycle through the package
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, stack: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle.extend(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, [*stack, nxt]):
                return True
        state[node] = 2
        return False

    for module in sorted(graph):
        if state.get(module) is None and visit(module, [module]):
            break
    assert not cycle, " -> ".join(cycle)
