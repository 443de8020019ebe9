"""Hypothesis strategies that break documents the way hostile or broken peers do.

A mutated document comes back as JSON *text*: several mutations (nesting deeper than
``json.dumps`` recurses, integers with more digits than ``int()`` converts, ``NaN`` literals,
duplicate keys) can only be written as raw text. :class:`Raw` marks such a fragment inside a
document until :func:`to_text` splices it in.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

__all__ = [
    "Raw",
    "byte_mutations",
    "fuzzing",
    "hostile_values",
    "json_documents",
    "mutated",
    "to_text",
]

NodePath = tuple[str | int, ...]
# A valid public key that belongs to nobody in the tests.
OTHER_KEY = "4kmSTKNmabNWDUFHG9qEnkFuV7dHPMc67x2fC94ZTxpE"


def fuzzing(max_examples: int) -> settings:
    """Hypothesis settings for a fuzz test: random exploration (no derandomize), no deadline
    (the machine is shared), and no complaint about large or slow-to-build inputs."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


@dataclass(frozen=True, slots=True)
class Raw:
    """JSON text spliced verbatim where a value would go."""

    text: str


def to_text(document: Any) -> str:
    """The document as JSON, Raw fragments spliced in (non-ASCII escaped, so lone surrogates
    survive as ``\\udxxx`` escapes)."""
    fragments: list[str] = []

    def swap(node: Any) -> Any:
        if isinstance(node, Raw):
            fragments.append(node.text)
            return f"\x00raw{len(fragments) - 1}\x00"
        if isinstance(node, dict):
            return {key: swap(value) for key, value in node.items()}
        if isinstance(node, list):
            return [swap(value) for value in node]
        return node

    text = json.dumps(swap(document))
    for index, fragment in enumerate(fragments):
        text = text.replace(json.dumps(f"\x00raw{index}\x00"), fragment, 1)
    return text


def _deep(depth: int, inner: str, kind: str) -> Raw:
    if kind == "list":
        return Raw("[" * depth + inner + "]" * depth)
    return Raw('{"a":' * depth + inner + "}" * depth)


SPECIAL_STRINGS = [
    "", " ", "0", "-1", "-0", "00017", "1.5", "1e3", "0x1f", "1_000", " 17", "17\n", "+5",
    "NaN", "Infinity", "-Infinity", "null", "true", "１２３", "٣", "\u00a0", "\ud800", "\udfff",
    "\x00", "../../etc/passwd", "<html>502</html>", "🚀" * 10, str(2**63), str(2**64),
    "9" * 30, "1" * 32, "0" * 44, "O" * 44, "l" * 43, OTHER_KEY, OTHER_KEY + "\n",
    "So11111111111111111111111111111111111111112",
    "7A74DEC1-BBAD-4CF9-89EF-A0ED655935C3", "{7a74dec1-bbad-4cf9-89ef-a0ed655935c3}",
]  # fmt: skip
RAW_NUMBERS = [
    "1e999999", "-1e999999", "1E+400", "-0", "0.0", "1.0", "0.1", "-0.0e0", "1e-400",
    "NaN", "Infinity", "-Infinity", "9" * 400, "9" * 4301, "1" + "0" * 10_000, "-" + "9" * 5000,
]  # fmt: skip
INTEGER_EDGES = [0, 1, -1, 255, 256, 10_000, 10_001, 2**31, 2**32, 2**40, 2**40 + 1, 2**53 + 1,
                 2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**64)]  # fmt: skip


def hostile_values() -> st.SearchStrategy[Any]:
    """Scalars, containers and raw fragments of every type a field should never hold."""
    return _HOSTILE


def _hostile_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(INTEGER_EDGES),
        st.integers(min_value=-(2**256), max_value=2**256),
        st.floats(),  # NaN and infinities included: json.dumps writes them as literals
        st.text(max_size=40),
        st.sampled_from(SPECIAL_STRINGS),
        st.sampled_from(RAW_NUMBERS).map(Raw),
        st.builds(lambda c, n: c * n, st.sampled_from("9aZ1é\\"), st.integers(1_000, 100_000)),
    )
    deep = st.builds(
        _deep,
        st.sampled_from([2, 50, 900, 1_100, 5_000, 50_000]),
        st.sampled_from(["1", '"x"', "null", "[]"]),
        st.sampled_from(["list", "object"]),
    )
    containers = st.one_of(
        st.builds(list),  # never st.just([]): a mutation would change the one shared instance
        st.builds(dict),
        scalars.map(lambda v: [v]),
        scalars.map(lambda v: {"x": v}),
        st.lists(scalars, max_size=3),
    )
    return st.one_of(scalars, scalars, deep, containers)


# Built once: a strategy re-created for every draw is validated again every time.
_HOSTILE = _hostile_values()


def json_documents() -> st.SearchStrategy[Any]:
    """Arbitrary JSON values (objects most of the time), as parsers see them after decoding."""
    leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
        ),
        max_leaves=25,
    )


def _paths(node: Any, prefix: NodePath = ()) -> list[NodePath]:
    found: list[NodePath] = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _parent(document: Any, path: NodePath) -> Any:
    node = document
    for step in path[:-1]:
        node = node[step]
    return node


def _get(document: Any, path: NodePath) -> Any:
    return _parent(document, path)[path[-1]] if path else document


def _with_duplicate_key(node: dict[str, Any], value: Any) -> Raw:
    """The object with its first key repeated at the end (strict parsers must refuse it)."""
    key = next(iter(node))
    body = to_text(node)
    return Raw(f"{body[:-1]}, {json.dumps(key)}: {to_text(value)}}}")


def _retyped(value: Any) -> Any:
    """The same content in a neighbouring type: "17" <-> 17 -> 17.0, list <-> object."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return str(value) if abs(value) < 10**4000 else float("inf")
    if isinstance(value, str):
        return int(value) if value.isascii() and value.isdigit() and len(value) < 4000 else [value]
    if isinstance(value, float):
        return str(value)
    if isinstance(value, list):
        return dict(enumerate(map(str, value))) if value else {}
    if isinstance(value, dict):
        return list(value.values())
    return 0


OPERATIONS = ("drop", "replace", "replace", "retype", "wrap", "add_key", "duplicate_key", "rename")
_OPERATION = st.sampled_from(OPERATIONS)
_NEW_KEY = st.sampled_from(["x", "", "Amount", "amount ", "__proto__"])
_WRAP = st.sampled_from([0, 1])


@st.composite
def mutated(draw: st.DrawFn, document: Any, max_mutations: int = 3) -> str:
    """JSON text of `document` after one to `max_mutations` structural mutations."""
    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, max_mutations))):
        paths = _paths(doc)
        path = paths[draw(st.integers(0, len(paths) - 1))]
        node = _get(doc, path)
        operation = draw(_OPERATION)
        if isinstance(node, Raw):
            operation = "replace"
        if operation == "drop" and path:
            parent = _parent(doc, path)
            del parent[path[-1]]
            continue
        if operation == "add_key" and isinstance(node, dict):
            node[draw(_NEW_KEY)] = draw(_HOSTILE)
            continue
        if operation == "rename" and path and isinstance(path[-1], str):
            parent = _parent(doc, path)
            renamed = (path[-1].upper(), path[-1] + " ", "_" + path[-1])[draw(st.integers(0, 2))]
            parent[renamed] = parent.pop(path[-1])
            continue
        if operation == "duplicate_key" and isinstance(node, dict) and node:
            replacement: Any = _with_duplicate_key(node, draw(_HOSTILE))
        elif operation == "retype":
            replacement = _retyped(node)
        elif operation == "wrap":
            replacement = [node] if draw(_WRAP) == 0 else {"value": node}
        else:
            replacement = draw(_HOSTILE)
        if path:
            _parent(doc, path)[path[-1]] = replacement
        else:
            doc = replacement
    return to_text(doc)


def _flip(data: bytes, position: int, value: int) -> bytes:
    return data[:position] + bytes([value]) + data[position + 1 :]


BYTE_OPERATIONS: dict[str, Callable[[bytes, int, int], bytes]] = {
    "flip": lambda d, p, v: _flip(d, p % len(d), v) if d else bytes([v]),
    "xor_bit": lambda d, p, v: _flip(d, p % len(d), d[p % len(d)] ^ (1 << (v % 8))) if d else d,
    "insert": lambda d, p, v: d[: p % (len(d) + 1)] + bytes([v]) + d[p % (len(d) + 1) :],
    "delete": lambda d, p, _v: d[: p % len(d)] + d[p % len(d) + 1 :] if d else d,
    "truncate": lambda d, p, _v: d[: p % (len(d) + 1)],
    "repeat": lambda d, p, _v: d[: p % (len(d) + 1)] + d[p % (len(d) + 1) :] * 2,
}


_BYTE_OPERATION = st.sampled_from(sorted(BYTE_OPERATIONS))


@st.composite
def byte_mutations(draw: st.DrawFn, data: bytes) -> tuple[str, bytes]:
    """One byte-level mutation of `data`: its name and the result."""
    name = draw(_BYTE_OPERATION)
    position = draw(st.integers(0, max(0, len(data) * 2)))
    value = draw(st.integers(0, 255))
    return name, BYTE_OPERATIONS[name](data, position, value)
