"""A-DARTS architecture specs and genotype strings: the DARTS spec plus one activation per op.

A spec is a ``darts`` spec with ``"normal_act"`` and ``"reduce_act"``: lists aligned with the
``[op, input]`` pairs of ``"normal"``/``"reduce"``, holding the activation of each parameterized
op and ``None`` for the others. The genotype string writes the activation as a third item of the
parameterized pairs::

    Genotype(normal=[('sep_conv_3x3', 0, 'selu'), ('skip_connect', 1), ...], normal_concat=...)

A plain DARTS genotype reads as ReLU on every parameterized op. Multi-level architectures have
one activation list per normal-cell level (``"normal_2_act"`` for the cell ``"normal_2"``).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any

from nascore import MalformedArchitecture
from nascore.spaces.darts import format_genotype, is_cell_key, parse_genotype
from nascore.spaces.darts.ops import PARAMETERIZED
from nascore_adarts.activations import ACTIVATIONS, DEFAULT_ACTIVATION

#: The published order of the Genotype fields (for positional arguments).
_GENOTYPE_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")


def act_key(cell_type: str) -> str:
    """The spec key of a cell type's activations: ``"normal_act"`` or ``"reduce_act"``."""
    return f"{cell_type}_act"


def cells_of(spec: Mapping[str, Any]) -> list[str]:
    """The cell keys of a spec (``normal``, ``normal_2`` .., ``reduce``), in spec order."""
    return [key for key in spec if is_cell_key(key)]


def split_spec(spec: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(darts part, {cell key: activations or None})`` of an adarts spec; an activation list
    of a cell the spec does not have is a :class:`MalformedArchitecture`."""
    darts = {k: v for k, v in spec.items() if not k.endswith("_act")}
    cells = cells_of(darts)
    stray = sorted(set(spec) - set(darts) - {act_key(c) for c in cells})
    if stray:
        raise MalformedArchitecture(
            f"adarts architecture has {stray[0]!r} but no cell {stray[0].removesuffix('_act')!r}"
        )
    return darts, {c: spec.get(act_key(c)) for c in cells}


def check_activations(cell_type: str, pairs: Sequence[Sequence[Any]], acts: Any) -> list[Any]:
    """The checked activation list of one cell; ``acts=None`` means ReLU on every parameterized op.

    Parameterized ops need a known activation, the other ops ``None``.
    """
    if acts is None:
        acts = [DEFAULT_ACTIVATION if op in PARAMETERIZED else None for op, _ in pairs]
    key = act_key(cell_type)
    if not isinstance(acts, (list, tuple)) or len(acts) != len(pairs):
        raise MalformedArchitecture(
            f"adarts {key} must be a list of {len(pairs)} activations aligned with {cell_type}"
        )
    for position, ((op, _source), act) in enumerate(zip(pairs, acts, strict=True)):
        if op in PARAMETERIZED and act not in ACTIVATIONS:
            raise MalformedArchitecture(
                f"adarts {key}[{position}]: {op} needs an activation from "
                f"{', '.join(ACTIVATIONS)}, got {act!r}"
            )
        if op not in PARAMETERIZED and act is not None:
            raise MalformedArchitecture(
                f"adarts {key}[{position}]: {op} has no activation; use null, not {act!r}"
            )
    return list(acts)


class _CellItems(ast.NodeVisitor):
    """The ``(op, input[, activation])`` item nodes of each cell of a ``Genotype(...)`` call, in
    source order (flat or nested per-node lists alike)."""

    def __init__(self) -> None:
        self.items: dict[str, list[ast.Tuple | ast.List]] = {}
        self._cell: str | None = None

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name != "Genotype":
            self.generic_visit(node)
            return
        fields = list(zip(_GENOTYPE_FIELDS, node.args, strict=False))
        fields += [(k.arg, k.value) for k in node.keywords]
        for field, value in fields:
            if field is not None and is_cell_key(field):
                self.items.setdefault(field, [])
                self._cell = field
                self.visit(value)
                self._cell = None

    def _item(self, node: ast.Tuple | ast.List) -> None:
        first = node.elts[0] if node.elts else None
        if self._cell and isinstance(first, ast.Constant) and isinstance(first.value, str):
            self.items[self._cell].append(node)
        else:
            self.generic_visit(node)

    visit_Tuple = _item
    visit_List = _item


def _cell_items(tree: ast.AST) -> dict[str, list[ast.Tuple | ast.List]]:
    collector = _CellItems()
    collector.visit(tree)
    return collector.items


def format_adarts_genotype(spec: Mapping[str, Any]) -> str:
    """The DARTS ``Genotype(...)`` string of a checked spec, with the activation as the third item
    of every parameterized pair."""
    tree = ast.parse(format_genotype(spec))
    for cell_type, items in _cell_items(tree).items():
        for item, act in zip(items, spec[act_key(cell_type)], strict=True):
            if act is not None:
                item.elts.append(ast.Constant(act))
    return ast.unparse(tree)


def parse_adarts_genotype(text: str, nodes: int) -> dict[str, Any]:
    """Read a genotype string with ``(op, input, activation)`` items (or a plain DARTS genotype:
    ReLU everywhere) into a checked spec. Uses :mod:`ast`, never ``eval``."""
    try:
        tree = ast.parse(text.strip())
    except SyntaxError as exc:
        raise MalformedArchitecture(
            f"genotype string is not valid Python syntax: {exc.msg}"
        ) from None
    acts: dict[str, list[Any]] = {}
    for cell_type, items in _cell_items(tree).items():
        acts[cell_type] = []
        for item in items:
            if len(item.elts) != 3:
                acts[cell_type].append(None)
                continue
            try:
                act = ast.literal_eval(item.elts.pop())
            except ValueError:
                raise MalformedArchitecture(
                    f"genotype {cell_type}: the activation of item {len(acts[cell_type])} "
                    "must be a string literal"
                ) from None
            acts[cell_type].append(act)
    spec = parse_genotype(ast.unparse(tree), nodes)
    for cell_type in cells_of(spec):
        pairs, given = spec[cell_type], acts[cell_type]
        if len(given) != len(pairs):
            raise MalformedArchitecture(
                f"genotype {cell_type}: write its pairs as literal (op, input[, activation]) items"
            )
        filled = [
            DEFAULT_ACTIVATION if act is None and op in PARAMETERIZED else act
            for (op, _source), act in zip(pairs, given, strict=True)
        ]
        spec[act_key(cell_type)] = check_activations(cell_type, pairs, filled)
    return spec
