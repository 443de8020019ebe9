"""Reading the configuration: the main TOML file (configs/local.toml, configs/devnet.toml), the
environment's overrides, then the tokens and pools files it names, resolved relative to the
main file's folder; everything validated once and frozen into an :class:`AgentConfig`."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from agent.config.catalogs import PoolsConfig, TokensConfig
from agent.config.env import apply_env_overrides, blame_override
from agent.config.schema import AgentConfig
from agent.config.typed_build import ConfigError, build

__all__ = ["DEFAULT_CONFIG", "load_config"]

DEFAULT_CONFIG = Path("configs/local.toml")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(str(path), "", "file not found") from None
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), "", f"not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), "", f"not valid TOML: {exc}") from None


def load_config(
    path: Path | None = None,
    *,
    home: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> AgentConfig:
    """Read, override, validate and freeze the whole configuration, tokens and pools included."""
    env = os.environ if environ is None else environ
    path = path or Path(env.get("OTC_AGENT_CONFIG", str(DEFAULT_CONFIG)))
    raw = apply_env_overrides(_read_toml(path), env, AgentConfig)
    source = str(path)
    try:
        config = build(AgentConfig, raw, source=source)
    except ConfigError as exc:
        raise blame_override(exc, env) from None
    database = config.database
    if env.get("DATABASE_URL"):
        database = replace(database, url=env["DATABASE_URL"])
    chosen_home = home or env.get("OTC_AGENT_HOME") or config.home
    config = replace(config, home=chosen_home, database=database, source_dir=str(path.parent))

    tokens_path = config.resolve(config.tokens.file)
    tokens = build(TokensConfig, _read_toml(tokens_path), source=str(tokens_path))
    pools_path = config.resolve(config.venues.otc.pools_file)
    pools = build(PoolsConfig, _read_toml(pools_path), source=str(pools_path))
    _check_references(config, tokens, pools, source, str(pools_path))
    return replace(config, tokens_config=tokens, pools_config=pools)


def _check_references(
    config: AgentConfig, tokens: TokensConfig, pools: PoolsConfig, source: str, pools_source: str
) -> None:
    symbols = {t.symbol for t in tokens.tokens}
    for kind, entries in (("otc", pools.otc), ("localdex", pools.localdex)):
        for index, pool in enumerate(entries):
            for side in ("base", "quote"):
                if getattr(pool, side) not in symbols:
                    key = f"{kind}[{index}].{side}"
                    raise ConfigError(pools_source, key, f"unknown token {getattr(pool, side)!r}")
    for index, wallet in enumerate(config.wallets):
        for pair in wallet.pairs:
            for symbol in pair.split("/"):
                if symbol not in symbols:
                    raise ConfigError(
                        source, f"wallets[{index}].pairs", f"unknown token {symbol!r}"
                    )
