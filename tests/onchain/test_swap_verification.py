"""verify_swap_instructions and verify_message against honest and forged Jupiter answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from typing import Any

import httpx
import pytest
from solders.compute_budget import request_heap_frame, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.system_program import AssignParams, CreateAccountParams, assign, create_account
from solders.system_program import TransferParams as SystemTransferParams
from solders.system_program import transfer as system_transfer
from spl.token.instructions import (
    ApproveParams,
    AuthorityType,
    BurnParams,
    CloseAccountParams,
    SetAuthorityParams,
    SyncNativeParams,
    TransferParams,
    approve,
    burn,
    close_account,
    create_idempotent_associated_token_account,
    get_associated_token_address,
    set_authority,
    sync_native,
    transfer,
)

from onchain.jupiter_program import (
    JUPITER_V6_PROGRAM_ID,
    account_names,
    argument_names,
    encode_swap,
)
from onchain.spl_decode import MEMO_PROGRAM_IDS, TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from onchain.swap_verification import (
    DEFAULT_ALLOWED_PROGRAMS,
    Check,
    SwapExpectation,
    SwapRefused,
    verify_message,
    verify_swap_instructions,
)
from tests.support import jupiter_tamper as tamper
from tests.support.fake_jupiter import SOL, USDC, FakeJupiter, swap_instructions_doc
from tests.support.jupiter_tamper import STRANGER, instructions_of, rewrite_swap, swap_of

WALLET = Keypair.from_seed(bytes([5]) * 32).pubkey()
SOL_KEY, USDC_KEY = Pubkey.from_string(SOL), Pubkey.from_string(USDC)
WSOL_ATA = get_associated_token_address(WALLET, SOL_KEY)
USDC_ATA = get_associated_token_address(WALLET, USDC_KEY)
PRICE = 10_000  # the fake's default compute-unit price
GUARANTEED = 170_000_000 * 9_950 // 10_000  # what _quote's swap guarantees at 50 bps
STRANGE_MINT = Keypair.from_seed(bytes([11]) * 32).pubkey()
OTC_PROGRAM = Keypair.from_seed(bytes([12]) * 32).pubkey()
MEMO = sorted(MEMO_PROGRAM_IDS, key=str)
COMPUTE_BUDGET = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
Doc = dict[str, Any]
Build = Callable[[Doc], list[Instruction]]


def _quote(sell: str = SOL, buy: str = USDC, amount: int = 10**9, out: int = 170_000_000) -> Doc:
    return {
        "inputMint": sell, "outputMint": buy, "inAmount": str(amount), "outAmount": str(out),
        "otherAmountThreshold": str(out * 9_950 // 10_000), "slippageBps": 50, "platformFee": None,
        "routePlan": [{"swapInfo": {"ammKey": "5BKxfWMbmYBAEWvyPZS9esPducUba9GqyMjtLCfbaqyF"}}],
    }  # fmt: skip


def _doc(api: str = "v1", sell: str = SOL, buy: str = USDC) -> Doc:
    return swap_instructions_doc(_quote(sell, buy), str(WALLET), v2=api == "v2")


def _expect(quote: Doc | None = None, **overrides: Any) -> SwapExpectation:
    q = quote or _quote()
    expect = SwapExpectation(
        wallet=WALLET,
        input_mint=Pubkey.from_string(q["inputMint"]),
        output_mint=Pubkey.from_string(q["outputMint"]),
        in_amount=int(q["inAmount"]),
        min_out=int(q["otherAmountThreshold"]),
        max_slippage_bps=50,
        max_compute_unit_price_micro_lamports=PRICE,
    )
    return replace(expect, **overrides)


def _refusal(instructions: Sequence[Instruction], expect: SwapExpectation) -> Check | None:
    try:
        verify_swap_instructions(instructions, expect)
    except SwapRefused as refused:
        assert str(refused) == f"{refused.check}: {refused.detail}"
        return refused.check
    return None


# --- honest answers ---------------------------------------------------------------------------
@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize(("sell", "buy"), [(SOL, USDC), (USDC, SOL)], ids=["SOL-USDC", "USDC-SOL"])
def test_honest_answer_passes(api: str, sell: str, buy: str) -> None:
    """The fake's honest instructions verify, reporting the budget and the wallet's accounts."""
    quote = _quote(sell, buy)
    doc = swap_instructions_doc(quote, str(WALLET), v2=api == "v2")
    verified = verify_swap_instructions(instructions_of(doc), _expect(quote))
    assert verified.swap.in_amount == 10**9 and verified.swap.version == api
    assert (verified.compute_unit_limit, verified.compute_unit_price_micro_lamports) == (
        1_400_000,
        PRICE,
    )
    assert verified.source_account == get_associated_token_address(WALLET, Pubkey.from_string(sell))
    assert verified.destination_account == get_associated_token_address(
        WALLET, Pubkey.from_string(buy)
    )
    assert doc["cleanupInstruction"] is not None  # the wSOL account is closed to the wallet


@pytest.fixture(name="served")
async def _served() -> AsyncIterator[tuple[FakeJupiter, httpx.AsyncClient]]:
    fake = FakeJupiter()
    fake.add_pair(SOL, USDC, 1_000_000 * 10**9, 170_000_000 * 10**6)
    await fake.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{fake.port}") as http:
            yield fake, http
    finally:
        await fake.aclose()


async def _fetch(http: httpx.AsyncClient, api: str, sell: str, buy: str) -> tuple[Doc, Doc]:
    """(quote, instructions document) for WALLET over HTTP, as the agent would ask."""
    params = {"inputMint": sell, "outputMint": buy, "amount": str(10**9), "slippageBps": "50"}
    if api == "v2":
        body = (await http.get("/swap/v2/build", params=params | {"taker": str(WALLET)})).json()
        return body, body
    quote = (await http.get("/swap/v1/quote", params=params)).json()
    posted = {"quoteResponse": quote, "userPublicKey": str(WALLET)}
    return quote, (await http.post("/swap/v1/swap-instructions", json=posted)).json()


@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize(("sell", "buy"), [(SOL, USDC), (USDC, SOL)], ids=["SOL-USDC", "USDC-SOL"])
async def test_served_answer_is_for_the_posted_user(
    served: tuple[FakeJupiter, httpx.AsyncClient], api: str, sell: str, buy: str
) -> None:
    """Over HTTP the fake builds for the posted user and the quote's mints, and that verifies."""
    _, http = served
    quote, doc = await _fetch(http, api, sell, buy)
    verified = verify_swap_instructions(instructions_of(doc), _expect(quote))
    assert verified.swap.accounts["user_transfer_authority"] == WALLET


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_served_answer_goes_through_tamper(
    served: tuple[FakeJupiter, httpx.AsyncClient], api: str
) -> None:
    """FakeJupiter.tamper rewrites the served instructions, and the forgery is refused."""
    fake, http = served
    fake.tamper = tamper.extra_transfer_to_stranger
    quote, doc = await _fetch(http, api, SOL, USDC)
    assert _refusal(instructions_of(doc), _expect(quote)) is Check.FOREIGN_TRANSFER


# --- each forgery, refused for what it is ---------------------------------------------------
@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize(
    ("forge", "check"),
    [
        (tamper.extra_transfer_to_stranger, Check.FOREIGN_TRANSFER),
        (tamper.extra_token_transfer, Check.FOREIGN_TRANSFER),
        (tamper.changed_in_amount, Check.IN_AMOUNT),
        (tamper.lowered_quoted_out, Check.QUOTED_OUT),
        (tamper.raised_slippage, Check.SLIPPAGE),
        (tamper.foreign_signer, Check.FOREIGN_SIGNER),
        (tamper.unknown_program, Check.PROGRAM_NOT_ALLOWED),
        (tamper.approve_to_stranger, Check.FOREIGN_APPROVE),
        (tamper.oversized_compute_price, Check.COMPUTE_PRICE),
        (tamper.destination_owned_by_stranger, Check.DESTINATION_ACCOUNT),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_forgery_is_refused_with_its_check(
    api: str, forge: Callable[[Doc], Doc], check: Check
) -> None:
    """Each adversarial answer is refused, and with the check that names what was forged."""
    assert _refusal(instructions_of(forge(_doc(api))), _expect()) is check


# --- rule by rule ------------------------------------------------------------------------------
def _plus(doc: Doc, *extra: Instruction) -> list[Instruction]:
    return [*instructions_of(doc), *extra]


def _close(account: Pubkey, dest: Pubkey) -> Instruction:
    params = CloseAccountParams(
        program_id=TOKEN_PROGRAM_ID, account=account, dest=dest, owner=WALLET
    )
    return close_account(params)


def _set_authority(new: Pubkey | None) -> Instruction:
    params = SetAuthorityParams(
        program_id=TOKEN_PROGRAM_ID, account=USDC_ATA, authority=AuthorityType.ACCOUNT_OWNER,
        current_authority=WALLET, new_authority=new,
    )  # fmt: skip
    return set_authority(params)


def _create(owner: Pubkey, mint: Pubkey, program: Pubkey = TOKEN_PROGRAM_ID) -> Instruction:
    return create_idempotent_associated_token_account(WALLET, owner, mint, program)


def _token_ledger(doc: Doc) -> list[Instruction]:
    ledger = Keypair.from_seed(bytes([9]) * 32).pubkey()
    accounts = {"token_ledger": ledger}
    forged = rewrite_swap(doc, accounts=accounts, name="shared_accounts_route_with_token_ledger")
    record = encode_swap("set_token_ledger", {}, accounts | {"token_account": WSOL_ATA})
    ixs = instructions_of(forged)
    return [*ixs[:-2], record, *ixs[-2:]]


def _jupiter(data: bytes) -> Instruction:
    return Instruction(JUPITER_V6_PROGRAM_ID, data, [])


def _claim() -> Instruction:
    authority = Keypair.from_seed(bytes([10]) * 32).pubkey()
    return encode_swap(
        "claim",
        {"id": 0},
        {"wallet": WALLET, "program_authority": authority, "system_program": STRANGER},
    )


def _route(destination: Pubkey | None, *, v2: bool = False) -> Build:
    """The honest list (v1 or v2) with its swap as ``route``/``route_v2`` and the optional
    destination_token_account set (None: absent)."""

    def build(_: Doc) -> list[Instruction]:
        doc = _doc("v2" if v2 else "v1")
        name = "route_v2" if v2 else "route"
        accounts = {
            "token_program": TOKEN_PROGRAM_ID, "source_token_program": TOKEN_PROGRAM_ID,
            "destination_token_program": TOKEN_PROGRAM_ID, "user_transfer_authority": WALLET,
            "user_source_token_account": WSOL_ATA, "user_destination_token_account": USDC_ATA,
            "destination_token_account": destination, "source_mint": SOL_KEY,
            "destination_mint": USDC_KEY,
        }  # fmt: skip
        args = {k: v for k, v in swap_of(doc).args.items() if k in argument_names(name)}
        route = encode_swap(
            name, args, {k: v for k, v in accounts.items() if k in account_names(name)}
        )
        ixs = instructions_of(doc)
        return [route if ix.program_id == JUPITER_V6_PROGRAM_ID else ix for ix in ixs]

    return build


def _without_swap(doc: Doc) -> list[Instruction]:
    return [ix for ix in instructions_of(doc) if ix.program_id != JUPITER_V6_PROGRAM_ID]


def _twice(doc: Doc) -> list[Instruction]:
    return _plus(doc, instructions_of(doc)[-2])


def _memo(program: Pubkey) -> Instruction:
    return Instruction(program, b"otc-agent", [AccountMeta(WALLET, True, False)])


def _adding(*extra: Instruction) -> Build:
    return lambda doc: _plus(doc, *extra)


def _swap_with(
    args: dict[str, Any] | None = None, name: str | None = None, **accounts: Pubkey
) -> Build:
    return lambda doc: instructions_of(rewrite_swap(doc, args, accounts, name))


def _as_is(doc: Doc) -> list[Instruction]:
    return instructions_of(doc)


def _truncated_swap(doc: Doc) -> list[Instruction]:
    ixs = instructions_of(doc)
    return [*ixs[:-2], _jupiter(bytes(ixs[-2].data)[:-1]), ixs[-1]]


def _ata(owner: Pubkey, mint: Pubkey, program: Pubkey = TOKEN_PROGRAM_ID) -> Pubkey:
    return get_associated_token_address(owner, mint, program)


def _token(
    builder: Callable[[Any], Instruction], params: Callable[..., Any], **kw: Any
) -> Instruction:
    return builder(params(program_id=TOKEN_PROGRAM_ID, **kw))


SIGNED_BY_WALLET = [AccountMeta(WALLET, True, False)]
T22_USDC_ATA = _ata(WALLET, USDC_KEY, TOKEN_2022_PROGRAM_ID)
APPROVE_SELF = _token(
    approve, ApproveParams, source=USDC_ATA, delegate=WALLET, owner=WALLET, amount=1
)
BURN = _token(burn, BurnParams, account=USDC_ATA, mint=USDC_KEY, owner=WALLET, amount=1)
SYNC_USDC = _token(sync_native, SyncNativeParams, account=USDC_ATA)
WRAP = system_transfer(SystemTransferParams(from_pubkey=WALLET, to_pubkey=WSOL_ATA, lamports=1))
ASSIGN = assign(AssignParams(pubkey=WALLET, owner=STRANGER))
CREATE_ACCOUNT = create_account(
    CreateAccountParams(from_pubkey=WALLET, to_pubkey=WALLET, lamports=1, space=0, owner=STRANGER)
)
EXACT_OUT = _swap_with(
    {"out_amount": 1, "quoted_in_amount": 10**9}, "shared_accounts_exact_out_route"
)
ALLOW_OTC = {"allowed_programs": DEFAULT_ALLOWED_PROGRAMS | {OTC_PROGRAM}}
UNEXPECTED = Check.UNEXPECTED_INSTRUCTION
TO_OWN_T22 = _token(
    transfer, TransferParams, source=USDC_ATA, dest=T22_USDC_ATA, owner=WALLET, amount=1
)
RULES: list[Any] = [
    # the wallet never moves tokens itself, not even between its own accounts (with lookup
    # tables an "own" account could be made to mean another one)
    ("token-transfer-between-own-accounts", _adding(TO_OWN_T22), {}, Check.FOREIGN_TRANSFER),
    # token programs and accounts
    ("token-2022-destination", _swap_with(destination_token_account=T22_USDC_ATA), {}, None),
    ("token-2022-ata-created", _adding(_create(WALLET, USDC_KEY, TOKEN_2022_PROGRAM_ID)), {}, None),
    ("close-wsol-to-wallet", _adding(_close(WSOL_ATA, WALLET)), {}, None),
    ("close-to-stranger", _adding(_close(WSOL_ATA, STRANGER)), {}, Check.FOREIGN_CLOSE),
    ("close-foreign-account", _adding(_close(_ata(STRANGER, USDC_KEY), WALLET)), {}, Check.FOREIGN_CLOSE),
    ("set-authority-to-stranger", _adding(_set_authority(STRANGER)), {}, Check.FOREIGN_AUTHORITY),
    ("set-authority-to-none", _adding(_set_authority(None)), {}, Check.FOREIGN_AUTHORITY),
    ("set-authority-to-wallet", _adding(_set_authority(WALLET)), {}, None),
    ("approve-to-wallet", _adding(APPROVE_SELF), {}, None),
    ("burn", _adding(BURN), {}, UNEXPECTED),
    ("sync-native-elsewhere", _adding(SYNC_USDC), {}, UNEXPECTED),
    ("create-for-stranger", _adding(_create(STRANGER, USDC_KEY)), {}, Check.FOREIGN_TRANSFER),
    ("create-for-other-mint", _adding(_create(WALLET, STRANGE_MINT)), {}, UNEXPECTED),
    # system program
    ("wrap-into-own-wsol", _adding(WRAP), {}, None),
    ("assign", _adding(ASSIGN), {}, Check.FOREIGN_TRANSFER),
    ("create-account", _adding(CREATE_ACCOUNT), {}, Check.FOREIGN_TRANSFER),
    # the swap itself
    ("exact-out", EXACT_OUT, {}, Check.EXACT_OUT),
    ("token-ledger", _token_ledger, {}, Check.IN_AMOUNT),
    ("two-swaps", _twice, {}, Check.NOT_ONE_SWAP),
    ("no-swap", _without_swap, {}, Check.NOT_ONE_SWAP),
    ("undecodable-jupiter", _adding(_jupiter(b"\x00" * 12)), {}, Check.UNDECODABLE),
    ("truncated-swap", _truncated_swap, {}, Check.UNDECODABLE),
    ("other-jupiter-instruction", _adding(_claim()), {}, Check.UNEXPECTED_INSTRUCTION),
    ("platform-fee-unexpected", _swap_with({"platform_fee_bps": 10}), {}, Check.PLATFORM_FEE),
    ("platform-fee-as-agreed", _swap_with({"platform_fee_bps": 10}), {"platform_fee_bps": 10}, None),
    ("wrong-output-mint", _swap_with(destination_mint=STRANGE_MINT), {}, Check.MINT_MISMATCH),
    ("foreign-source", _swap_with(source_token_account=_ata(STRANGER, SOL_KEY)), {}, Check.SOURCE_ACCOUNT),
    ("route-without-destination", _route(None), {}, None),
    ("route-destination-own", _route(USDC_ATA), {}, None),
    ("route-destination-stranger", _route(_ata(STRANGER, USDC_KEY)), {}, Check.DESTINATION_ACCOUNT),
    ("route-v2-without-destination", _route(None, v2=True), {}, None),
    ("route-v2-destination-stranger", _route(_ata(STRANGER, USDC_KEY), v2=True), {}, Check.DESTINATION_ACCOUNT),
    ("wrong-input-mint", _swap_with(source_mint=STRANGE_MINT), {}, Check.MINT_MISMATCH),
    ("min-out-above-guarantee", _as_is, {"min_out": GUARANTEED + 1}, Check.QUOTED_OUT),
    ("min-out-at-guarantee", _as_is, {"min_out": GUARANTEED}, None),
    # compute budget
    ("price-at-cap", _as_is, {"max_compute_unit_price_micro_lamports": PRICE}, None),
    ("price-above-cap", _as_is, {"max_compute_unit_price_micro_lamports": PRICE - 1}, Check.COMPUTE_PRICE),
    ("second-price", _adding(set_compute_unit_price(1)), {}, Check.UNEXPECTED_INSTRUCTION),
    ("heap-frame", _adding(request_heap_frame(64 * 1024)), {}, None),
    ("malformed-budget", _adding(Instruction(COMPUTE_BUDGET, b"\x03\x01", [])), {}, Check.UNEXPECTED_INSTRUCTION),
    # other programs
    ("memo-v1-and-v2", _adding(*(_memo(p) for p in MEMO)), {}, None),
    ("program-the-caller-allowed", _adding(Instruction(OTC_PROGRAM, b"", SIGNED_BY_WALLET)), ALLOW_OTC, None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "overrides", "check"), [r[1:] for r in RULES], ids=[r[0] for r in RULES]
)
def test_rules(build: Build, overrides: dict[str, Any], check: Check | None) -> None:
    """Each rule accepts what the wallet could have asked for and refuses the rest by its check."""
    assert _refusal(build(_doc()), _expect(**overrides)) is check


# --- the compiled message ----------------------------------------------------------------------
def _compile(payer: Pubkey, *extra: Instruction) -> MessageV0:
    return MessageV0.try_compile(payer, [*instructions_of(_doc()), *extra], [], Hash.default())


@pytest.mark.parametrize(
    ("message", "check"),
    [
        (_compile(WALLET), None),
        (_compile(STRANGER), Check.FOREIGN_FEE_PAYER),
        (_compile(WALLET, Instruction(MEMO[0], b"x", [AccountMeta(STRANGER, True, False)])), Check.FOREIGN_SIGNER),
    ],
    ids=["wallet-pays-alone", "foreign-payer", "two-signers"],
)  # fmt: skip
def test_verify_message(message: MessageV0, check: Check | None) -> None:
    """The compiled message is paid by the wallet and needs the wallet's signature only."""
    try:
        verify_message(message, WALLET)
    except SwapRefused as refused:
        assert refused.check is check
    else:
        assert check is None


# --- the vocabulary -----------------------------------------------------------------------------
def test_checks_are_stable_snake_case() -> None:
    """Every Check's value is its name in snake_case (they are metric labels and record codes)."""
    assert all(c.value == c.name.lower() for c in Check)
    assert str(SwapRefused(Check.FOREIGN_TRANSFER, "to X")) == "foreign_transfer: to X"


@pytest.mark.parametrize(
    "overrides",
    [{"in_amount": 0}, {"min_out": -1}, {"max_slippage_bps": 10_001}, {"platform_fee_bps": -1},
     {"max_compute_unit_price_micro_lamports": -1}],
    ids=["no-amount", "negative-min-out", "slippage-over-100%", "negative-fee", "negative-price-cap"],
)  # fmt: skip
def test_expectation_validates(overrides: dict[str, Any]) -> None:
    """A SwapExpectation that no swap could meet is a ValueError when built."""
    with pytest.raises(ValueError):
        _expect(**overrides)
