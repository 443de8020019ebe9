"""Build frozen, typed dataclasses from TOML-shaped data, naming the exact key on every error.

The loader understands the annotations the configuration uses: str, int, bool, float,
Decimal, Literal[...], tuple[T, ...], dict[str, T] (frozen into a read-only mapping) and
nested dataclasses. A dataclass may define ``check(self) -> None`` raising
:class:`InvalidValue` for cross-field rules; the loader prefixes the key path.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

T = TypeVar("T")


class ConfigError(Exception):
    """A configuration file or override is invalid; the program cannot start with it."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {problem}")


class InvalidValue(ValueError):
    """Raised by a dataclass ``check`` for a rule that involves one of its fields."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


def build(cls: type[T], data: Any, *, source: str, key: str = "") -> T:
    """Convert ``data`` (parsed TOML) into ``cls``, raising ConfigError on the first problem."""
    return typing.cast(T, _convert(cls, data, source, key))


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _convert(tp: Any, value: Any, source: str, key: str) -> Any:
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _build_dataclass(tp, value, source, key)
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            choices = ", ".join(str(a) for a in allowed)
            raise ConfigError(source, key, f"must be one of {choices} (got {value!r})")
        return value
    if origin is tuple:
        item_type = get_args(tp)[0]
        if not isinstance(value, list | tuple):
            raise ConfigError(source, key, f"must be a list (got {type(value).__name__})")
        return tuple(
            _convert(item_type, item, source, f"{key}[{index}]") for index, item in enumerate(value)
        )
    if origin is dict:
        value_type = get_args(tp)[1]
        if not isinstance(value, Mapping):
            raise ConfigError(source, key, f"must be a table (got {type(value).__name__})")
        return types.MappingProxyType(
            {str(k): _convert(value_type, v, source, _join(key, str(k))) for k, v in value.items()}
        )
    return _convert_scalar(tp, value, source, key)


def _convert_scalar(tp: Any, value: Any, source: str, key: str) -> Any:
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(source, key, f"must be true or false (got {value!r})")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(source, key, f"must be an integer (got {value!r})")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(source, key, f"must be a number (got {value!r})")
        if not math.isfinite(value):  # TOML has nan and inf; no interval or rate may be either
            raise ConfigError(source, key, f"must be a finite number (got {value!r})")
        return float(value)
    if tp is Decimal:
        # TOML floats are read back through their shortest repr so "0.1" stays 0.1 exactly.
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ConfigError(source, key, f"must be a decimal number (got {value!r})")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise ConfigError(source, key, f"must be a decimal number (got {value!r})") from None
        if not number.is_finite():
            raise ConfigError(source, key, f"must be a finite number (got {value!r})")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(source, key, f"must be a string (got {value!r})")
        return value
    raise TypeError(f"unsupported configuration type {tp!r} at {key}")


def _build_dataclass(cls: type, value: Any, source: str, key: str) -> Any:
    if not isinstance(value, Mapping):
        raise ConfigError(source, key, f"must be a table (got {type(value).__name__})")
    hints = get_type_hints(cls)
    fields = {
        f.name: f for f in dataclasses.fields(cls) if f.init and not f.metadata.get("internal")
    }
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise ConfigError(source, _join(key, unknown[0]), "unknown key")
    kwargs: dict[str, Any] = {}
    for name, field in fields.items():
        if name in value:
            kwargs[name] = _convert(hints[name], value[name], source, _join(key, name))
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(source, _join(key, name), "is required")
    instance = cls(**kwargs)
    check = getattr(instance, "check", None)
    if check is not None:
        try:
            check()
        except InvalidValue as exc:
            raise ConfigError(source, _join(key, exc.field), exc.problem) from None
    return instance
