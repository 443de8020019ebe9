"""What every HTTP adapter shares: a request budget per account, a circuit breaker, the one
reading of Retry-After, strict JSON field readers, and the errors they raise.

Pricing, the venues and the metrics import this package; it imports nothing else of the
project, so no adapter depends on another through it.
"""

from agent.net.circuit_breaker import BreakerState, CircuitBreaker
from agent.net.errors import BadPayload, BudgetExhausted, CircuitOpen, NetError
from agent.net.json_fields import (
    EMPTY,
    as_amount,
    as_bool,
    as_decimal,
    as_list,
    as_object,
    as_pubkey,
    as_str,
    as_uint,
    extra_fields,
    is_finite_float,
    load_object,
    optional,
    required,
)
from agent.net.rate_budget import TokenBucket
from agent.net.retry_after import MAX_RETRY_AFTER_S, parse_retry_after

__all__ = [
    "EMPTY",
    "MAX_RETRY_AFTER_S",
    "BadPayload",
    "BreakerState",
    "BudgetExhausted",
    "CircuitBreaker",
    "CircuitOpen",
    "NetError",
    "TokenBucket",
    "as_amount",
    "as_bool",
    "as_decimal",
    "as_list",
    "as_object",
    "as_pubkey",
    "as_str",
    "as_uint",
    "extra_fields",
    "is_finite_float",
    "load_object",
    "optional",
    "parse_retry_after",
    "required",
]
