"""Each package's public face: ``__all__`` in its ``__init__.py`` names exactly what the face
imports or defines, every name resolves, and the faces are pinned here, so that a change to one
shows up in review (modelled on httpx's tests/test_exported_members.py).

The packages are imported inside the tests, so a broken face fails only its own tests.
"""

from __future__ import annotations
import __future__

import importlib
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]

# Packages that are not faces: the top-level package (its version only) and Alembic's scripts.
NOT_FACES = frozenset({"agent", "agent.store.migrations", "agent.store.migrations.versions"})

# Exports that hide a submodule of the same name, on purpose: the console script otc-agent is
# agent.cli:main (pyproject.toml), so the function main hides the module agent.cli.main.
HIDES_ITS_MODULE = frozenset({("agent.cli", "main")})

# Every package's __all__, in the order ruff keeps it (constants, classes, then functions).
EXPORTED: dict[str, tuple[str, ...]] = {
    "agent.app": (
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
    ),
    "agent.cli": (
        "IntentDraft",
        "IntentMix",
        "main",
        "new_nonce",
        "sign_intent",
        "tamper_signature",
        "write_intent",
    ),
    "agent.config": (
        "ENV_PREFIX",
        "AgentConfig",
        "ConfigError",
        "MetricsConfig",
        "PoolsConfig",
        "TokensConfig",
        "load_config",
    ),
    "agent.dashboards": ("build_all", "queries", "render", "to_promql"),
    "agent.domain": (
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
    ),
    "agent.domain.allocation": (
        "BPS",
        "Allocation",
        "Curve",
        "Leg",
        "allocate",
        "brute_force",
        "min_out_shares",
    ),
    "agent.intake": (),
    "agent.intake.folder": (
        "Claim",
        "DirectoryIntake",
        "DirectoryItem",
        "IntakeLayout",
        "claim",
        "is_ignored",
        "list_claims",
        "parse_claim_name",
    ),
    "agent.intake.stream": ("StreamIntake", "StreamItem", "StreamSettings", "StreamUnavailable"),
    "agent.ledger": (
        "BUILT_DETAIL",
        "CHAIN_COLUMNS",
        "Final",
        "LegOutcome",
        "LegPreparer",
        "LegReport",
        "LegStatus",
        "Outcome",
        "Plan",
        "PlanKind",
        "PreparedTransaction",
        "Recorder",
        "Submission",
        "recorded_outcome",
        "render",
        "route_savings",
        "venue_set",
    ),
    "agent.metrics": (
        "SIZE_LABELS",
        "Metrics",
        "exported_sample_names",
        "size_bucket",
        "utilisation",
    ),
    "agent.net": (
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
    ),
    "agent.pipeline": (
        "DeadlineWaiter",
        "LegPlanner",
        "Pipeline",
        "PipelineSettings",
        "Routing",
        "verify_submission",
    ),
    "agent.pricing": (
        "BadPayload",
        "BinanceSource",
        "BreakerSettings",
        "CoinGeckoSource",
        "FailoverOracle",
        "FailoverSettings",
        "JupiterSource",
        "KrakenSource",
        "Observation",
        "PriceSource",
        "PriceSourceError",
        "PythSource",
        "RateLimited",
        "SourceBackoff",
        "SourceDisabled",
        "SourceKeys",
        "SourceUnavailable",
        "UnknownInstrument",
        "build_sources",
        "check_status",
        "convert_usdt",
        "parse_binance",
        "parse_coingecko",
        "parse_jupiter",
        "parse_kraken",
        "parse_pyth",
    ),
    "agent.settlement": (
        "ChainContext",
        "ChainExecutor",
        "ExecutionReport",
        "LegSigner",
        "PoolVaults",
        "PreparedLeg",
        "SettlementInDoubt",
        "Settler",
        "build_local_chain",
        "held_wallet_keys",
        "pool_authority",
    ),
    "agent.store": (
        "IntentRow",
        "LocalDexPoolRow",
        "OtcPoolRow",
        "PoolBookKeeper",
        "PriceSnapshotRow",
        "QuoteRow",
        "RouteLegRow",
        "RouteRow",
        "SqlPoolBooks",
        "Store",
        "StoreUnavailable",
        "SubmissionRecord",
        "SubmissionRow",
        "SystemMetricRow",
        "TradeRow",
        "WalletRegistry",
        "WalletRow",
        "WalletUsageRow",
        "latest_prices",
        "slippage_bps",
        "submissions_for",
    ),
    "agent.venues": (
        "BookKeeper",
        "LegFailed",
        "LocalDexPool",
        "LocalDexVenue",
        "OtcPool",
        "OtcVenue",
        "PoolBooks",
        "Venue",
    ),
    "agent.venues.jupiter": (
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
    ),
    "onchain": (
        "DEFAULT_ALLOWED_PROGRAMS",
        "JUPITER_V6_PROGRAM_ID",
        "LAMPORTS_PER_SIGNATURE",
        "LOOKUP_TABLE_PROGRAM_ID",
        "MAX_TRANSACTION_SIZE",
        "NATIVE_MINT",
        "SIGNING_DOMAIN",
        "TOKEN_PROGRAM_ID",
        "Blockhash",
        "Check",
        "Cluster",
        "ClusterBadResponse",
        "ClusterError",
        "ClusterRejected",
        "ClusterUnavailable",
        "ComputeBudget",
        "Confirmation",
        "DecodedSwap",
        "KeyFileError",
        "LocalCluster",
        "LocalnetServer",
        "MissingSigner",
        "OffchainMessage",
        "OffchainMessageError",
        "RpcCluster",
        "SwapExpectation",
        "SwapRefused",
        "TokenLeg",
        "UndecodableSwap",
        "VerifiedSwap",
        "account_names",
        "argument_names",
        "associated_token_address",
        "compile_v0",
        "create_ata_idempotent",
        "decode",
        "decode_swap",
        "derive_keypair",
        "encode_swap",
        "encode_v0",
        "encode_v1",
        "end_connections",
        "fee_lamports",
        "generate_keypair_file",
        "limit_from_simulation",
        "load_keypair",
        "program_authority",
        "resolve_lookup_tables",
        "settlement_instructions",
        "sign",
        "sign_v1",
        "signed_by",
        "to_base64",
        "verify",
        "verify_message",
        "verify_swap_instructions",
        "with_slippage",
        "wrap_sol",
        "write_keypair",
    ),
}


def _face(package: str) -> ModuleType:
    return importlib.import_module(package)


def _public_names(module: ModuleType) -> set[str]:
    """Names the face defines or imports, leaving out submodules and ``from __future__``."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, ModuleType)
        and value is not __future__.annotations
    }


def _packages() -> list[str]:
    found = []
    for top in ("agent", "onchain"):
        for init in sorted((REPO / top).rglob("__init__.py")):
            found.append(".".join(init.parent.relative_to(REPO).parts))
    return found


def test_every_package_has_a_face_in_the_table() -> None:
    """Every package of agent/ and onchain/ (but the top level and migrations) is pinned here."""
    packages = {name for name in _packages() if name not in NOT_FACES}
    assert packages == set(EXPORTED)


@pytest.mark.parametrize("package", sorted(EXPORTED))
def test_all_is_exactly_the_public_names_of_the_face(package: str) -> None:
    """``__all__`` lists each public name the face imports or defines, once, and nothing else."""
    module = _face(package)
    assert len(module.__all__) == len(set(module.__all__)), f"{package}.__all__ repeats a name"
    assert set(module.__all__) == _public_names(module)


@pytest.mark.parametrize("package", sorted(EXPORTED))
def test_all_is_pinned(package: str) -> None:
    """``__all__`` equals the sorted names this table expects of the package."""
    assert tuple(_face(package).__all__) == EXPORTED[package]


@pytest.mark.parametrize("package", sorted(EXPORTED))
def test_every_exported_name_resolves(package: str) -> None:
    """Every name in ``__all__`` is an attribute of the package, and none is a module."""
    module = _face(package)
    for name in module.__all__:
        assert not isinstance(getattr(module, name), ModuleType), f"{package}.{name}"


@pytest.mark.parametrize("package", sorted(EXPORTED))
def test_no_exported_name_hides_a_submodule(package: str) -> None:
    """No name in ``__all__`` (but the listed exceptions) is also the name of a submodule."""
    module = _face(package)
    hidden = [
        name
        for name in module.__all__
        if (package, name) not in HIDES_ITS_MODULE
        and importlib.util.find_spec(f"{package}.{name}") is not None
    ]
    assert not hidden, f"{package} exports {hidden}, which are also its submodules"
