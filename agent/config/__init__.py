"""The agent's configuration: frozen, typed, validated once at start.

:func:`load_config` reads the main TOML file, the tokens and pools files it names
(:class:`TokensConfig`, :class:`PoolsConfig`) and the environment overrides (variables starting
with :data:`ENV_PREFIX`) into an :class:`AgentConfig`; a problem raises :class:`ConfigError`
naming the key.
"""

from agent.config.catalogs import PoolsConfig, TokensConfig
from agent.config.env import ENV_PREFIX
from agent.config.loader import load_config
from agent.config.schema import AgentConfig, MetricsConfig
from agent.config.typed_build import ConfigError

__all__ = [
    "ENV_PREFIX",
    "AgentConfig",
    "ConfigError",
    "MetricsConfig",
    "PoolsConfig",
    "TokensConfig",
    "load_config",
]
