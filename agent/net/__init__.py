"""What every HTTP adapter shares: a request budget per account, a circuit breaker, the one
reading of Retry-After, one retry policy, strict JSON field readers, and the errors they
raise.

Pricing, the venues and the metrics import this package; it imports nothing else of agent,
so no adapter depends on another through it. The Retry-After reading and the JSON readers are
and the retry policy are :mod:`onchain.wire`'s, re-exported here: the RPC client in onchain reads its answers with the
same ones, and onchain never imports agent.
"""

from agent.net.circuit_breaker import BreakerState, CircuitBreaker
from agent.net.errors import BudgetExhausted, CircuitOpen, NetError, RateLimited
from agent.net.rate_budget import TokenBucket
from onchain.wire import (
    EMPTY,
    MAX_DIGITS,
    MAX_RETRY_AFTER_S,
    BadPayload,
    RetryPolicy,
    as_amount,
    as_bool,
    as_decimal,
    as_list,
    as_number,
    as_object,
    as_pubkey,
    as_str,
    as_uint,
    extra_fields,
    is_finite_float,
    load_object,
    optional,
    parse_retry_after,
    required,
)

__all__ = [
    "EMPTY",
    "MAX_DIGITS",
    "MAX_RETRY_AFTER_S",
    "BadPayload",
    "BreakerState",
    "BudgetExhausted",
    "CircuitBreaker",
    "CircuitOpen",
    "NetError",
    "RateLimited",
    "RetryPolicy",
    "TokenBucket",
    "as_amount",
    "as_bool",
    "as_decimal",
    "as_list",
    "as_number",
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
