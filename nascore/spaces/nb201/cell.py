"""The NAS-Bench-201 cell: 4 nodes, 6 edges, 5 candidate ops, and its string form.

Node ``j`` sums ``op(node i)`` over its inputs ``i < j``; node 0 is the cell input and node 3 the
output. The edges are listed in the order of the benchmark's cell string::

    |op~0|+|op~0|op~1|+|op~0|op~1|op~2|
     n1<-0  n2<-0 n2<-1  n3<-0 n3<-1 n3<-2
"""

from __future__ import annotations

from collections.abc import Sequence

from nascore.errors import MalformedArchitecture

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_NODES = 4
#: ``(target node, input node)`` of every edge, in cell-string order.
EDGES = tuple((j, i) for j in range(1, NUM_NODES) for i in range(j))
EDGE_NAMES = tuple(f"n{j}<-{i}" for j, i in EDGES)

_EXAMPLE = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
)


def check_ops(ops: Sequence[str]) -> tuple[str, ...]:
    """Validate a list of 6 op names (one per edge, in :data:`EDGES` order)."""
    ops = tuple(ops)
    if len(ops) != len(EDGES):
        raise MalformedArchitecture(f"an nb201 cell has {len(EDGES)} edge ops, got {len(ops)}")
    for op in ops:
        if op not in OPS:
            raise MalformedArchitecture(f"unknown nb201 op {op!r}; ops: {', '.join(OPS)}")
    return ops


def format_cell(ops: Sequence[str]) -> str:
    """The benchmark's cell string of the 6 edge ops."""
    nodes = []
    k = 0
    for j in range(1, NUM_NODES):
        nodes.append("|" + "|".join(f"{ops[k + i]}~{i}" for i in range(j)) + "|")
        k += j
    return "+".join(nodes)


def parse_cell(text: str) -> tuple[str, ...]:
    """Read a cell string such as ``|nor_conv_3x3~0|+|...|`` into the 6 edge ops."""
    nodes = text.strip().split("+")
    if len(nodes) != NUM_NODES - 1:
        raise MalformedArchitecture(
            f"nb201 cell string needs {NUM_NODES - 1} '+'-separated nodes, e.g. {_EXAMPLE}"
        )
    ops: list[str] = []
    for j, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|") and len(node) > 1):
            raise MalformedArchitecture(f"nb201 node {j} {node!r} must look like |op~0|op~1|")
        items = node[1:-1].split("|")
        if len(items) != j:
            raise MalformedArchitecture(f"nb201 node {j} needs {j} inputs, got {node!r}")
        for i, item in enumerate(items):
            op, sep, source = item.partition("~")
            if not sep or source != str(i):
                raise MalformedArchitecture(
                    f"nb201 node {j} input {i} must read 'op~{i}', got {item!r}"
                )
            ops.append(op)
    return check_ops(ops)
