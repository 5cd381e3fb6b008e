"""DARTS cell specs: checking, the derivation rule and the published ``Genotype(...)`` strings.

A spec is a dict ``{"normal": [[op, input], ...], "normal_concat": [2, 3, 4, 5], "reduce": [...],
"reduce_concat": [...]}``: two ``[op, input]`` pairs per intermediate node, node ``i`` (numbered
from 2; 0 and 1 are the cell inputs) reading from two distinct earlier states ``0 .. i - 1``.

Two optional parts (RC-DARTS):

* **levels**: ``"normal_2"``, ``"normal_3"``, ... (each with its ``_concat``) are the normal cells
  of the deeper depth levels; ``"normal"`` is level 1. The keys are valid Python identifiers, so
  the genotype string simply has more fields: ``Genotype(normal=[...], normal_concat=...,
  normal_2=[...], normal_2_concat=..., reduce=[...], reduce_concat=...)``.
* **connection**: ``"connection"`` names the connection-cell op (one of
  :data:`CONNECTION_CHOICES`) that replaces the 1x1 preprocessing in front of every cell; in the
  string ``connection='conv_1x1_g2'``.

A **fixed reduction cell** (GDAS (FRC), ``space.reduction_cell = "gdas_frc"``) is recorded as the
string ``"reduce": "gdas_frc"`` in place of the pairs, without ``reduce_concat`` (the cell is not
searched, see :mod:`~nascore.spaces.darts.fixed_cells`); in the string ``reduce='gdas_frc'``.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from nascore.errors import MalformedArchitecture
from nascore.spaces.darts.ops import CONNECTION_CHOICES, PRIMITIVES

CELL_TYPES = ("normal", "reduce")
NORMAL, REDUCE = CELL_TYPES
ZERO = "none"
#: ``space.reduction_cell`` values: a searched reduction cell, or GDAS's fixed one (then the
#: spec's ``"reduce"`` is the string ``"gdas_frc"``).
SEARCHED, GDAS_FRC = "searched", "gdas_frc"
REDUCTION_CELLS = (SEARCHED, GDAS_FRC)
#: The fixed cells a spec may name in place of a cell's pairs, per cell key.
FIXED_CELLS = {"reduce": (GDAS_FRC,)}
#: The spec key (and decision-group name) of the connection cell.
CONNECTION = "connection"
#: The ops a derived cell may use (everything but the zero op).
OP_CHOICES: tuple[str, ...] = tuple(p for p in PRIMITIVES if p != ZERO)
#: The positional fields of ``Genotype(...)`` (levels and connection are keywords only).
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
_LEVEL_KEY = re.compile(rf"^{NORMAL}_([0-9]+)$")


def level_key(level: int) -> str:
    """The cell key of normal-cell depth level ``level`` (1-based): ``normal``, ``normal_2``..."""
    return NORMAL if level == 1 else f"{NORMAL}_{level}"


def cell_keys(levels: int = 1) -> list[str]:
    """The cell keys of a layout with ``levels`` normal-cell levels, in spec order:
    ``normal``, ``normal_2`` .. ``normal_<levels>``, ``reduce``."""
    return [level_key(level) for level in range(1, levels + 1)] + [REDUCE]


def is_cell_key(key: str) -> bool:
    """Whether ``key`` names a cell (``normal``, ``normal_<i>`` with i >= 2, ``reduce``)."""
    match = _LEVEL_KEY.match(key)
    return key in CELL_TYPES or (match is not None and int(match.group(1)) >= 2)


def cell_type_of(key: str) -> str:
    """``"reduce"`` for the reduction cell key, ``"normal"`` for every level key."""
    return REDUCE if key == REDUCE else NORMAL


def levels_of(keys: Iterable[str]) -> int:
    """The number of normal-cell levels among ``keys`` (spec keys or group names); raises
    :class:`MalformedArchitecture` unless they are ``normal``, ``normal_2`` .. without gaps."""
    found = sorted(
        {int(m.group(1)) for key in keys if (m := _LEVEL_KEY.match(key)) and int(m.group(1)) >= 2}
    )
    expected = list(range(2, len(found) + 2))
    if found != expected:
        missing = next(level for level in expected if level not in found)
        raise MalformedArchitecture(
            f"darts levels must be numbered normal_2 .. normal_{len(found) + 1} without gaps; "
            f"normal_{missing} is missing"
        )
    return len(found) + 1


def cell_edges(nodes: int) -> list[tuple[int, int]]:
    """``(node, input)`` of every supernet edge in order; nodes numbered from 2."""
    return [(node, source) for node in range(2, nodes + 2) for source in range(node)]


def edge_names(nodes: int) -> list[str]:
    """Edge names ``"n<node><-<input>"`` in supernet order (14 for 4 nodes)."""
    return [f"n{node}<-{source}" for node, source in cell_edges(nodes)]


def _check_cell(cell: str, pairs: Any, nodes: int) -> list[list[Any]]:
    if not isinstance(pairs, (list, tuple)):
        raise MalformedArchitecture(f"darts {cell} cell must be a list of (op, input) pairs")
    if len(pairs) != 2 * nodes:
        raise MalformedArchitecture(
            f"darts {cell} cell has {len(pairs)} (op, input) pairs; "
            f"{nodes} nodes need {2 * nodes}"
        )
    checked: list[list[Any]] = []
    for position, pair in enumerate(pairs):
        node = position // 2 + 2
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise MalformedArchitecture(f"darts {cell} cell: {pair!r} is not an (op, input) pair")
        op, source = pair
        if op not in OP_CHOICES:
            problem = "a derived cell cannot keep op" if op == ZERO else "unknown op"
            raise MalformedArchitecture(
                f"darts {cell} cell: {problem} {op!r}; choose from {', '.join(OP_CHOICES)}"
            )
        if isinstance(source, bool) or not isinstance(source, int) or not 0 <= source < node:
            raise MalformedArchitecture(
                f"darts {cell} cell: node {node} reads input {source!r}, "
                f"but only inputs 0..{node - 1} exist"
            )
        checked.append([op, source])
    for node in range(nodes):
        if checked[2 * node][1] == checked[2 * node + 1][1]:
            raise MalformedArchitecture(
                f"darts {cell} cell: node {node + 2} reads input {checked[2 * node][1]} twice; "
                "its two inputs must differ"
            )
    return checked


def spec_fields(levels: int = 1, connection: bool = False) -> list[str]:
    """The keys of a spec with ``levels`` normal levels (and a connection cell)."""
    fields = [f for key in cell_keys(levels) for f in (key, f"{key}_concat")]
    return fields + ([CONNECTION] if connection else [])


def check_connection(value: Any) -> str:
    """The checked connection-cell op name."""
    if value not in CONNECTION_CHOICES:
        raise MalformedArchitecture(
            f"darts connection must be one of {', '.join(CONNECTION_CHOICES)}, got {value!r}"
        )
    return value


def _check_fixed(cell: str, name: Any, spec: Mapping[str, Any]) -> str:
    """The checked name of the fixed cell ``spec[cell]`` (no ``_concat`` with it)."""
    allowed = FIXED_CELLS.get(cell, ())
    if name not in allowed:
        raise MalformedArchitecture(
            f"darts {cell} cell must be a list of (op, input) pairs"
            + (f" or one of the fixed cells {', '.join(map(repr, allowed))}" if allowed else "")
            + f", got {name!r}"
        )
    if f"{cell}_concat" in spec:
        raise MalformedArchitecture(
            f"darts {cell}_concat does not apply to the fixed {cell} cell {name!r}; drop it"
        )
    return name


def check_spec(spec: Mapping[str, Any], nodes: int) -> dict[str, Any]:
    """The normalised spec, or :class:`MalformedArchitecture` naming the first problem. A cell
    may be a fixed cell's name (:data:`FIXED_CELLS`) instead of its pairs."""
    allowed = [k for k in spec if is_cell_key(k.removesuffix("_concat")) or k == CONNECTION]
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise MalformedArchitecture(
            f"darts architecture has unknown key {unknown[0]!r}; keys: {', '.join(_FIELDS)}, "
            f"optionally normal_2.. (levels) and {CONNECTION}"
        )
    levels = levels_of(k.removesuffix("_concat") for k in spec)
    full = list(range(2, nodes + 2))
    out: dict[str, Any] = {}
    for cell in cell_keys(levels):
        if cell not in spec:
            raise MalformedArchitecture(f"darts architecture lacks the {cell!r} cell")
        if isinstance(spec[cell], str):
            out[cell] = _check_fixed(cell, spec[cell], spec)
            continue
        out[cell] = _check_cell(cell, spec[cell], nodes)
        concat = spec.get(f"{cell}_concat", full)
        if list(concat) != full:
            raise MalformedArchitecture(
                f"darts {cell}_concat must be {full} (all intermediate nodes), got {concat!r}"
            )
        out[f"{cell}_concat"] = full
    if CONNECTION in spec:
        out[CONNECTION] = check_connection(spec[CONNECTION])
    return out


def strongest_edges(
    scores: torch.Tensor, nodes: int, zero_index: int | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The DARTS rule on one cell's ``[edges, candidates]`` scores, as tensors.

    Returns ``(order, ops, kept)``: per node (row) the indices of its incoming edges from
    strongest to weakest (``[nodes, nodes + 1]``, padded with -1), each edge's argmax non-zero
    candidate (``[edges]``) and whether the rule keeps the edge (``[edges]`` bool: the 2 edges of
    each node with the largest best non-zero score, earlier edges winning ties, never an edge
    whose best non-zero score is ``-inf``).
    """
    scores = scores.detach().to(torch.float64)
    if zero_index is not None:
        scores = scores.clone()
        scores[:, zero_index] = -math.inf
    best, ops = scores.max(dim=1)
    index = torch.full((nodes, nodes + 1), -1, dtype=torch.long)
    for row, node in enumerate(range(2, nodes + 2)):
        start = node * (node - 1) // 2 - 1
        index[row, :node] = torch.arange(start, start + node)
    padded = torch.where(index >= 0, best[index.clamp(min=0)], torch.full_like(best[:1], -math.inf))
    order = index.gather(1, torch.sort(padded, dim=1, descending=True, stable=True).indices)
    top = order[:, :2].flatten()
    kept = torch.zeros_like(best, dtype=torch.bool)
    usable = top[(top >= 0)]
    kept[usable[best[usable] > -math.inf]] = True
    return order, ops, kept


def derive_cell(scores: torch.Tensor, nodes: int, zero_index: int | None) -> list[list[Any]]:
    """The DARTS rule on one cell's ``[edges, candidates]`` scores over :data:`PRIMITIVES`.

    Per node keep the 2 incoming edges with the largest best non-zero score (earlier edges win
    ties), each with its argmax non-zero op; ``-inf`` marks pruned candidates, which are never
    chosen.
    """
    order, ops, kept = strongest_edges(scores, nodes, zero_index)
    pairs: list[list[Any]] = []
    for row, node in enumerate(range(2, nodes + 2)):
        chosen = [int(e) for e in order[row, :2] if e >= 0 and bool(kept[e])]
        if len(chosen) < 2:
            raise MalformedArchitecture(
                f"cannot derive node {node}: fewer than 2 of its incoming edges keep an "
                "unpruned op other than 'none'"
            )
        first = node * (node - 1) // 2 - 1
        pairs += [[PRIMITIVES[int(ops[e])], e - first] for e in chosen]
    return pairs


def format_genotype(spec: Mapping[str, Any]) -> str:
    """The published ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=range(2, 6),
    ...)`` form (levels and the connection cell as further keyword fields; a fixed cell as
    ``reduce='gdas_frc'``)."""
    parts = []
    for cell in cell_keys(levels_of(spec)):
        if isinstance(spec[cell], str):
            parts.append(f"{cell}={spec[cell]!r}")
            continue
        pairs = ", ".join(f"({op!r}, {source})" for op, source in spec[cell])
        concat = list(spec[f"{cell}_concat"])
        parts.append(f"{cell}=[{pairs}]")
        parts.append(f"{cell}_concat=range({concat[0]}, {concat[-1] + 1})")
    if CONNECTION in spec:
        parts.append(f"{CONNECTION}={spec[CONNECTION]!r}")
    return f"Genotype({', '.join(parts)})"


def _literal(node: ast.expr, what: str) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise MalformedArchitecture(f"genotype {what} must be a literal list") from None


def _concat(node: ast.expr, what: str) -> list[int]:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        bounds = [_literal(arg, what) for arg in node.args]
        if node.keywords or not 1 <= len(bounds) <= 2 or not all(
            isinstance(b, int) for b in bounds
        ):
            raise MalformedArchitecture(f"genotype {what} must be range(a, b) or a list of ints")
        return list(range(*bounds))
    value = _literal(node, what)
    if not isinstance(value, (list, tuple)):
        raise MalformedArchitecture(f"genotype {what} must be range(a, b) or a list of ints")
    return list(value)


def _pairs(node: ast.expr, what: str) -> list[Any]:
    """A flat pair list from the flat form or the nested per-node form ``[[(op, in), (op, in)],
    ...]``."""
    value = _literal(node, what)
    if not isinstance(value, (list, tuple)):
        raise MalformedArchitecture(f"genotype {what} must be a list of (op, input) pairs")
    nested = bool(value) and all(
        isinstance(item, (list, tuple)) and item and isinstance(item[0], (list, tuple))
        for item in value
    )
    if not nested:
        return list(value)
    if any(len(item) != 2 for item in value):
        raise MalformedArchitecture(f"genotype {what}: each node needs exactly 2 (op, input) pairs")
    return [pair for item in value for pair in item]


def _genotype_call(text: str) -> ast.Call:
    try:
        module = ast.parse(text.strip())
    except SyntaxError as exc:
        raise MalformedArchitecture(f"genotype string is not valid Python: {exc.msg}") from None
    if len(module.body) == 1 and isinstance(module.body[0], (ast.Expr, ast.Assign)):
        call = module.body[0].value
        func = getattr(call, "func", None)
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if isinstance(call, ast.Call) and name == "Genotype":
            return call
    raise MalformedArchitecture(
        "expected one Genotype(normal=[...], normal_concat=..., reduce=[...], reduce_concat=...)"
    )


def parse_genotype(
    text: str, nodes: int = 4, defaults: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Read a ``Genotype(...)`` string (flat or nested cells, ``range`` or list concats, a fixed
    cell's name as a string, an optional ``NAME = `` prefix) into a checked spec; ``defaults``
    fill absent fields (e.g. ``{"reduce": "gdas_frc"}``). Uses :mod:`ast`, never ``eval``."""
    call = _genotype_call(text)
    if len(call.args) > len(_FIELDS):
        raise MalformedArchitecture(f"Genotype takes at most {len(_FIELDS)} fields")
    given: dict[str, ast.expr] = dict(zip(_FIELDS, call.args, strict=False))
    for keyword in call.keywords:
        name = keyword.arg or ""
        if not (is_cell_key(name.removesuffix("_concat")) or name == CONNECTION):
            raise MalformedArchitecture(
                f"Genotype has unknown field {keyword.arg!r}; fields: {', '.join(_FIELDS)}, "
                f"optionally normal_2.. (levels) and {CONNECTION}"
            )
        if keyword.arg in given:
            raise MalformedArchitecture(f"Genotype field {keyword.arg!r} is given twice")
        given[keyword.arg] = keyword.value
    spec: dict[str, Any] = {}
    for field, node in given.items():
        if field == CONNECTION:
            spec[field] = _connection(node)
        elif field.endswith("_concat"):
            spec[field] = _concat(node, field)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            spec[field] = node.value  # a fixed cell's name; check_spec checks it
        else:
            spec[field] = _pairs(node, field)
    for field, value in (defaults or {}).items():
        spec.setdefault(field, value)
    return check_spec(spec, nodes)


def _connection(node: ast.expr) -> str:
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        raise MalformedArchitecture(
            f"genotype {CONNECTION} must be a string literal, one of "
            f"{', '.join(CONNECTION_CHOICES)}"
        )
    return node.value

