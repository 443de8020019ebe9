"""The daemon and its assembly: every part built from the configuration and wired together.

:func:`build_runtime` turns an :class:`~agent.config.AgentConfig` into a :class:`Runtime`, each
part handed its collaborators through its constructor; :class:`Daemon` runs it (workers, feeders,
scheduled jobs, the :class:`MetricsServer`). The ``build_*`` part builders, the logging set-up
and the malloc arena cap are what the CLI, the benchmarks and the tests reuse.
"""

from agent.app.assembly import Runtime, build_runtime
from agent.app.builders import build_localdex_pools, build_oracle, build_otc_pools, build_tokens
from agent.app.daemon import Daemon
from agent.app.health_server import MetricsServer
from agent.app.logs import configure_logging, redact_secrets
from agent.app.malloc_arenas import limit_malloc_arenas
from agent.app.run_stats import RunStats

__all__ = [
    "Daemon",
    "MetricsServer",
    "RunStats",
    "Runtime",
    "build_localdex_pools",
    "build_oracle",
    "build_otc_pools",
    "build_runtime",
    "build_tokens",
    "configure_logging",
    "limit_malloc_arenas",
    "redact_secrets",
]
