"""What every HTTP adapter shares: a request budget per account, a circuit breaker, the one
reading of Retry-After, strict JSON field readers, and the errors they raise.

Pricing, the venues and the metrics import this package; it imports nothing else of the
project, so no adapter depends on another through it.
"""

from agent.net.circuit_breaker import BreakerState, CircuitBreaker
from agent.net.errors import BadPayload, BudgetExhausted, CircuitOpen, NetError
from agent.net.rate_budget import TokenBucket
from agent.net.retry_after import MAX_RETRY_AFTER_S, parse_retry_after

__all__ = [
    "MAX_RETRY_AFTER_S",
    "BadPayload",
    "BreakerState",
    "BudgetExhausted",
    "CircuitBreaker",
    "CircuitOpen",
    "NetError",
    "TokenBucket",
    "parse_retry_after",
]
