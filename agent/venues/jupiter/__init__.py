"""Jupiter venue: the HTTP client, its parsed responses, errors, rate limiter and breaker.

Typical wiring (one limiter for the whole process; Jupiter counts requests per account)::

    limiter = TokenBucket(rate_per_s=config.rps, burst=1)
    client = JupiterClient(config.base_url, http=http, api_key=config.api_key,
                           limiter=limiter, breaker=CircuitBreaker(), api=config.api)
    quote = await client.quote(SOL, USDC, 100_000_000, 50, max_wait_s=2.0)
"""

from agent.venues.jupiter.breaker import BreakerState, CircuitBreaker
from agent.venues.jupiter.client import DEFAULT_BASE_URL, JupiterClient, RetrySettings, SwapPlan
from agent.venues.jupiter.errors import (
    NO_ROUTE_CODES,
    BadPayload,
    BudgetExhausted,
    CircuitOpen,
    JupiterError,
    NoRoute,
    RateLimited,
    Rejected,
    Unauthorised,
    Unavailable,
    classify_response,
)
from agent.venues.jupiter.models import (
    AccountMeta,
    BuildResponse,
    Instruction,
    PlatformFee,
    QuoteResponse,
    RoutePlanStep,
    SwapInfo,
    SwapInstructions,
    parse_build,
    parse_quote,
    parse_swap_instructions,
)
from agent.venues.jupiter.rate_limit import TokenBucket

__all__ = [
    "DEFAULT_BASE_URL",
    "NO_ROUTE_CODES",
    "AccountMeta",
    "BadPayload",
    "BreakerState",
    "BudgetExhausted",
    "BuildResponse",
    "CircuitBreaker",
    "CircuitOpen",
    "Instruction",
    "JupiterClient",
    "JupiterError",
    "NoRoute",
    "PlatformFee",
    "QuoteResponse",
    "RateLimited",
    "Rejected",
    "RetrySettings",
    "RoutePlanStep",
    "SwapInfo",
    "SwapInstructions",
    "SwapPlan",
    "TokenBucket",
    "Unauthorised",
    "Unavailable",
    "classify_response",
    "parse_build",
    "parse_quote",
    "parse_swap_instructions",
]
