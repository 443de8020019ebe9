"""The typed loader: TOML-shaped data into frozen dataclasses, naming the key on every error."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

import pytest

from agent.config.typed_build import ConfigError, InvalidValue, build

SOURCE = "configs/test.toml"


@dataclass(frozen=True)
class Inner:
    flag: bool = False
    count: int = 1
    ratio: float = 1.0
    price: Decimal = Decimal(0)
    name: str = ""
    mode: Literal["paper", "dry-run", "send"] = "paper"
    tags: tuple[str, ...] = ()
    modes: tuple[Literal["a", "b"], ...] = ()
    table: dict[str, int] = field(default_factory=dict)

    def check(self) -> None:
        if self.count > 100:
            raise InvalidValue("count", f"must be at most 100 (got {self.count})")


@dataclass(frozen=True)
class Item:
    id: str
    size: int = 0


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    items: tuple[Item, ...] = ()
    hidden: str = field(default="internal", metadata={"internal": True})


def load(data: Any) -> Outer:
    return build(Outer, data, source=SOURCE)


def problem(data: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(data)
    return info.value


@pytest.mark.parametrize(
    ("data", "attribute", "expected"),
    [
        pytest.param({"flag": True}, "flag", True, id="bool"),
        pytest.param({"count": -3}, "count", -3, id="int"),
        pytest.param({"ratio": 2}, "ratio", 2.0, id="int as float"),
        pytest.param({"ratio": 0.25}, "ratio", 0.25, id="float"),
        pytest.param({"price": 0.1}, "price", Decimal("0.1"), id="float as exact decimal"),
        pytest.param({"price": "2.50"}, "price", Decimal("2.50"), id="string as decimal"),
        pytest.param({"price": 7}, "price", Decimal(7), id="int as decimal"),
        pytest.param({"price": "1e-9"}, "price", Decimal("1e-9"), id="exponent decimal"),
        pytest.param({"name": "x"}, "name", "x", id="str"),
        pytest.param({"mode": "dry-run"}, "mode", "dry-run", id="literal"),
        pytest.param({"tags": ["a", "b"]}, "tags", ("a", "b"), id="tuple"),
        pytest.param({"modes": ["b", "a"]}, "modes", ("b", "a"), id="tuple of literals"),
        pytest.param({"table": {"x": 1}}, "table", MappingProxyType({"x": 1}), id="dict"),
        pytest.param({}, "count", 1, id="default"),
    ],
)
def test_build_converts_each_type(data: dict[str, Any], attribute: str, expected: Any) -> None:
    """Each supported annotation converts its TOML value to the declared Python type."""
    value = getattr(load({"inner": data}).inner, attribute)
    assert (value, type(value)) == (expected, type(expected))


@pytest.mark.parametrize(
    ("data", "key", "problem_text"),
    [
        pytest.param({"flag": 1}, "inner.flag", "must be true or false (got 1)", id="int for bool"),
        pytest.param({"flag": "true"}, "inner.flag", "must be true or false", id="str for bool"),
        pytest.param({"count": True}, "inner.count", "must be an integer (got True)", id="bool"),
        pytest.param({"count": 1.5}, "inner.count", "must be an integer (got 1.5)", id="float"),
        pytest.param({"count": "8"}, "inner.count", "must be an integer (got '8')", id="str"),
        pytest.param({"ratio": True}, "inner.ratio", "must be a number (got True)", id="bool r"),
        pytest.param({"ratio": "1"}, "inner.ratio", "must be a number", id="str for float"),
        pytest.param({"ratio": float("nan")}, "inner.ratio", "must be a finite number", id="nan"),
        pytest.param({"ratio": float("inf")}, "inner.ratio", "must be a finite number", id="inf"),
        pytest.param({"price": "abc"}, "inner.price", "must be a decimal number", id="text"),
        pytest.param({"price": True}, "inner.price", "must be a decimal number", id="bool price"),
        pytest.param({"price": [1]}, "inner.price", "must be a decimal number", id="list price"),
        pytest.param({"price": "NaN"}, "inner.price", "must be a finite number", id="NaN price"),
        pytest.param({"price": float("inf")}, "inner.price", "must be a finite number", id="inf p"),
        pytest.param({"name": 5}, "inner.name", "must be a string (got 5)", id="int for str"),
        pytest.param(
            {"mode": "fast"},
            "inner.mode",
            "must be one of paper, dry-run, send (got 'fast')",
            id="literal choice",
        ),
        pytest.param({"mode": ["paper"]}, "inner.mode", "must be one of", id="literal list"),
        pytest.param({"tags": "a"}, "inner.tags", "must be a list (got str)", id="str for list"),
        pytest.param({"tags": ["a", 1]}, "inner.tags[1]", "must be a string", id="list item"),
        pytest.param({"modes": ["a", "c"]}, "inner.modes[1]", "must be one of a, b", id="item"),
        pytest.param({"table": [1]}, "inner.table", "must be a table (got list)", id="dict"),
        pytest.param({"table": {"x": "1"}}, "inner.table.x", "must be an integer", id="dict v"),
        pytest.param({"surprise": 1}, "inner.surprise", "unknown key", id="unknown key"),
        pytest.param({"count": 101}, "inner.count", "must be at most 100 (got 101)", id="check"),
    ],
)
def test_build_names_the_key_of_a_bad_value(
    data: dict[str, Any], key: str, problem_text: str
) -> None:
    """A wrong value is a ConfigError naming the source, the full key path and the problem."""
    error = problem({"inner": data})
    assert (error.source, error.key) == (SOURCE, key)
    assert problem_text in error.problem
    assert str(error).startswith(f"{SOURCE}: {key}: ")


@pytest.mark.parametrize(
    ("data", "key", "problem_text"),
    [
        pytest.param({"inner": 3}, "inner", "must be a table (got int)", id="scalar for table"),
        pytest.param({"items": [{"size": 1}]}, "items[0].id", "is required", id="required"),
        pytest.param(
            {"items": [{"id": "a"}, {"id": "b", "size": "x"}]},
            "items[1].size",
            "must be an integer",
            id="second table in a list",
        ),
        pytest.param({"items": ["a"]}, "items[0]", "must be a table (got str)", id="list item"),
        pytest.param({"hidden": "x"}, "hidden", "unknown key", id="internal field"),
        pytest.param({"b": 1, "a": 2}, "a", "unknown key", id="first unknown key by name"),
    ],
)
def test_build_key_paths_through_lists_and_tables(
    data: dict[str, Any], key: str, problem_text: str
) -> None:
    """Key paths name list indexes and nested tables; internal fields cannot be set."""
    error = problem(data)
    assert error.key == key
    assert problem_text in error.problem


def test_build_top_level_must_be_a_table() -> None:
    """A document that is not a table is refused without a key."""
    error = problem([1, 2])
    assert (error.key, str(error)) == ("", f"{SOURCE}: must be a table (got list)")


def test_build_returns_frozen_read_only_values() -> None:
    """Built configurations are frozen, and their tables cannot be changed in place."""
    outer = load({"inner": {"table": {"x": 1}}, "items": [{"id": "a", "size": 2}]})
    assert outer.items == (Item("a", 2),)
    assert outer.hidden == "internal"
    with pytest.raises(dataclasses.FrozenInstanceError):
        outer.inner.count = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        outer.inner.table["y"] = 2  # type: ignore[index]


def test_build_rejects_an_unsupported_annotation() -> None:
    """An annotation the loader does not know is a programming error, not a ConfigError."""

    @dataclass(frozen=True)
    class Odd:
        value: set[int]

    with pytest.raises(TypeError, match="unsupported configuration type"):
        build(Odd, {"value": [1]}, source=SOURCE)


@pytest.mark.parametrize(
    ("error", "text"),
    [
        pytest.param(
            ConfigError("a.toml", "x.y", "is required"), "a.toml: x.y: is required", id="key"
        ),
        pytest.param(
            ConfigError("a.toml", "", "file not found"), "a.toml: file not found", id="no key"
        ),
    ],
)
def test_config_error_text(error: ConfigError, text: str) -> None:
    """ConfigError reads as source, key and problem separated by colons."""
    assert str(error) == text


def test_invalid_value_carries_field_and_problem() -> None:
    """InvalidValue keeps the field and the problem for the loader to prefix."""
    error = InvalidValue("count", "too big")
    assert (error.field, error.problem, str(error)) == ("count", "too big", "count: too big")
