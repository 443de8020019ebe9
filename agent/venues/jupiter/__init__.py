"""Jupiter venue: the HTTP client, its parsed responses and errors, and :class:`JupiterVenue`,
the venue the router asks, which builds verified swaps (:class:`BuiltSwap`) for the executor.

The request budget and the circuit breaker come from :mod:`agent.net`. Typical wiring (one
limiter for the whole process; Jupiter counts requests per account)::

    limiter = TokenBucket(rate_per_s=config.rps, burst=1)
    client = JupiterClient(config.base_url, http=http, api_key=config.api_key,
                           limiter=limiter, breaker=CircuitBreaker(), api=config.api)
    quote = await client.quote(SOL, USDC, 100_000_000, 50, max_wait_s=2.0)
"""

from agent.venues.jupiter.client import DEFAULT_BASE_URL, JUPITER_RETRIES, JupiterClient, SwapPlan
from agent.venues.jupiter.errors import (
    ERROR_KINDS,
    NO_ROUTE_CODES,
    VENUE_ERRORS,
    JupiterError,
    NoRoute,
    Rejected,
    Unauthorised,
    Unavailable,
    classify_response,
    error_kind,
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
from agent.venues.jupiter.swaps import BuiltSwap, SwapOrder, SwapSettings
from agent.venues.jupiter.venue import JupiterVenue

__all__ = [
    "DEFAULT_BASE_URL",
    "ERROR_KINDS",
    "JUPITER_RETRIES",
    "NO_ROUTE_CODES",
    "VENUE_ERRORS",
    "AccountMeta",
    "BuildResponse",
    "BuiltSwap",
    "Instruction",
    "JupiterClient",
    "JupiterError",
    "JupiterVenue",
    "NoRoute",
    "PlatformFee",
    "QuoteResponse",
    "Rejected",
    "RoutePlanStep",
    "SwapInfo",
    "SwapInstructions",
    "SwapOrder",
    "SwapPlan",
    "SwapSettings",
    "Unauthorised",
    "Unavailable",
    "classify_response",
    "error_kind",
    "parse_build",
    "parse_quote",
    "parse_swap_instructions",
]
