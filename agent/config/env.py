"""Environment overrides of the configuration: ``OTC_AGENT__SECTION__KEY=value`` sets any key,
read as TOML where that fits the key's type, and an error in one names the variable."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from typing import Any, get_type_hints

from agent.config.typed_build import ConfigError

__all__ = ["ENV_PREFIX", "apply_env_overrides", "blame_override"]

ENV_PREFIX = "OTC_AGENT__"


def _parse_env_value(raw: str) -> Any:
    """Read an override as a TOML value when it is one (numbers, booleans, lists), else text."""
    try:
        return tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        return raw


def apply_env_overrides(
    data: dict[str, Any], environ: Mapping[str, str], root: type
) -> dict[str, Any]:
    """Return a copy of ``data`` with OTC_AGENT__SECTION__KEY variables applied; ``root`` is
    the dataclass the data is for, whose annotations say which keys hold text."""
    merged: dict[str, Any] = _deep_copy(data)
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if not all(path):
            raise ConfigError(name, "", "malformed override name")
        node = merged
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(name, ".".join(path), "cannot override inside a non-table")
            node = child
        value = _parse_env_value(environ[name])
        if not isinstance(value, str) and _override_type(root, path) is str:
            # A text key keeps the text as given: an API key 123456 or a seed 2024-01-01.
            value = environ[name]
        node[path[-1]] = value
    return merged


def _override_type(root: type, path: list[str]) -> Any:
    """The annotation of the key an override names, or None if it names none."""
    tp: Any = root
    for part in path:
        if not (dataclasses.is_dataclass(tp) and isinstance(tp, type)):
            return None
        fields = dataclasses.fields(tp)
        names = {f.name for f in fields if f.init and not f.metadata.get("internal")}
        if part not in names:
            return None
        tp = get_type_hints(tp)[part]
    return tp


def blame_override(error: ConfigError, environ: Mapping[str, str]) -> ConfigError:
    """Name the environment variable, not the file, when an override holds the bad value."""
    for name in sorted(environ, reverse=True):
        if not name.startswith(ENV_PREFIX):
            continue
        key = ".".join(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        if error.key == key or error.key.startswith((f"{key}.", f"{key}[")):
            return ConfigError(name, error.key, error.problem)
    return error


def _deep_copy(data: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in data.items()}
