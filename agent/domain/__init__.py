"""Pure logic, no I/O: intents, wallet policy, OTC and AMM pricing, quotes, routing and the
router, execution risk and network costs, Jupiter's impact model, tokens, outcomes and reasons.

The face names the values and functions the adapters, the pipeline and the app build on. It
imports nothing else of the project; the split solver has its own face,
:mod:`agent.domain.allocation`.
"""

from agent.domain.amm import (
    AmmReserves,
    constant_product_amounts,
    constant_product_out,
    rebalance_towards,
    slippage_threshold,
)
from agent.domain.costs import LAMPORTS_PER_SIGNATURE, lamports_in_token_units, leg_cost_lamports
from agent.domain.impact import ImpactModel, Observation, VirtualPool
from agent.domain.intent import (
    CLUSTER_NAMES,
    FORMAT_V0,
    FORMAT_V1,
    VENUE_NAMES,
    IntentMessage,
    check_timing,
    parse_envelope,
    parse_json_object,
    parse_message,
    signer_of,
)
from agent.domain.otc_pricing import (
    OtcBook,
    OtcInventory,
    OtcPoolParams,
    OtcPricer,
    OtcRejection,
    RejectReason,
    Side,
    quote_otc,
)
from agent.domain.outcomes import IntentRejected, Reason, Status
from agent.domain.policy import TradeTerms, WalletPolicy, check_trade, micros, resolve_tokens
from agent.domain.prices import PriceOracle, PricePoint, PriceUnavailable
from agent.domain.quotes import Quote, QuoteMiss, QuoteRequest
from agent.domain.risk import CoolDownPolicy
from agent.domain.router import MakerProfile, Router, RouterSettings
from agent.domain.routing import Candidate, Decision, Verdict, decide_single_venue, savings_bps
from agent.domain.tokens import MAX_AMOUNT, Token, TokenRegistry, from_base_units, to_base_units

__all__ = [
    "CLUSTER_NAMES",
    "FORMAT_V0",
    "FORMAT_V1",
    "LAMPORTS_PER_SIGNATURE",
    "MAX_AMOUNT",
    "VENUE_NAMES",
    "AmmReserves",
    "Candidate",
    "CoolDownPolicy",
    "Decision",
    "ImpactModel",
    "IntentMessage",
    "IntentRejected",
    "MakerProfile",
    "Observation",
    "OtcBook",
    "OtcInventory",
    "OtcPoolParams",
    "OtcPricer",
    "OtcRejection",
    "PriceOracle",
    "PricePoint",
    "PriceUnavailable",
    "Quote",
    "QuoteMiss",
    "QuoteRequest",
    "Reason",
    "RejectReason",
    "Router",
    "RouterSettings",
    "Side",
    "Status",
    "Token",
    "TokenRegistry",
    "TradeTerms",
    "Verdict",
    "VirtualPool",
    "WalletPolicy",
    "check_timing",
    "check_trade",
    "constant_product_amounts",
    "constant_product_out",
    "decide_single_venue",
    "from_base_units",
    "lamports_in_token_units",
    "leg_cost_lamports",
    "micros",
    "parse_envelope",
    "parse_json_object",
    "parse_message",
    "quote_otc",
    "rebalance_towards",
    "resolve_tokens",
    "savings_bps",
    "signer_of",
    "slippage_threshold",
    "to_base_units",
]
