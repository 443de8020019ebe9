"""Every way a lying Jupiter API can answer, served by the fake on loopback to the real daemon
(dry-run, the wallets' keys held): each forgery is refused before anything signs it, with the
check that names it, and the intent fills elsewhere or fails; nothing trades through Jupiter.

Two kinds of lie: in the instructions (/swap-instructions, or the instruction part of
/swap/v2/build), caught by onchain.swap_verification when the leg is built; and in the quote,
caught by agent.venues.jupiter.swaps.check_answers when it arrives (a ``bad_payload`` miss).
An honest control run shows that the same setup does build and sign-check Jupiter legs.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from solders.compute_budget import set_compute_unit_price
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import AssignParams, assign
from solders.system_program import TransferParams as SystemTransferParams
from solders.system_program import transfer as system_transfer
from solders.transaction import VersionedTransaction
from spl.token.instructions import (
    AuthorityType,
    BurnParams,
    CloseAccountParams,
    SetAuthorityParams,
    burn,
    close_account,
    create_idempotent_associated_token_account,
    set_authority,
)

from agent.app.daemon import Daemon
from agent.config import AgentConfig
from agent.settlement.executor import ChainExecutor
from onchain.jupiter_program import JUPITER_V6_PROGRAM_ID, decode_swap, encode_swap
from onchain.spl import NATIVE_MINT, TOKEN_PROGRAM_ID, associated_token_address
from onchain.swap_verification import Check
from tests.security.conftest import Bench, Signed, make_bench
from tests.support import jupiter_tamper as tamper
from tests.support.fake_jupiter import ALT, SOL, USDC, FakeJupiter
from tests.support.fake_mainnet_rpc import FakeMainnetRpc
from tests.support.jupiter_tamper import (
    STRANGER,
    instruction_from_json,
    instruction_to_json,
    rewrite_swap,
    swap_of,
)

Doc = dict[str, Any]
Forge = Callable[[Doc], Doc]
# A deep SOL/USDC market at about the static price with a 1 bp fee: Jupiter wins 1 SOL trades.
STRANGE_MINT = Keypair.from_seed(bytes([21]) * 32).pubkey()
LOOKALIKE_PROGRAM = Keypair.from_seed(bytes([22]) * 32).pubkey()
MEMO_PROGRAM = Pubkey.from_string("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr")
METEORA_DLMM_VARIANT = 38  # the route plan's Swap enum index in the shipped IDL


# --- the forgeries: each takes the honest instructions document and returns a lying copy ----
def _user(doc: Mapping[str, Any]) -> Pubkey:
    return swap_of(doc).accounts["user_transfer_authority"]


def _appended(doc: Mapping[str, Any], key: str, *ixs: Instruction) -> Doc:
    out = copy.deepcopy(dict(doc))
    out[key] = [*out[key], *(instruction_to_json(ix) for ix in ixs)]
    return out


def swap_under_a_lookalike_program(doc: Doc) -> Doc:
    """The swap's bytes under another program id: a program that merely looks like Jupiter."""
    out = copy.deepcopy(doc)
    out["swapInstruction"]["programId"] = str(LOOKALIKE_PROGRAM)
    return out


def source_of_a_stranger(doc: Doc) -> Doc:
    """The swap spends from a stranger's token account (the wallet signs as authority)."""
    mint = swap_of(doc).accounts["source_mint"]
    return rewrite_swap(
        doc, accounts={"source_token_account": associated_token_address(STRANGER, mint)}
    )


def output_mint_changed(doc: Doc) -> Doc:
    return rewrite_swap(doc, accounts={"destination_mint": STRANGE_MINT})


def input_mint_changed(doc: Doc) -> Doc:
    return rewrite_swap(doc, accounts={"source_mint": STRANGE_MINT})


def authority_is_a_stranger(doc: Doc) -> Doc:
    """The swap names a stranger as the user transfer authority (a second signer)."""
    return rewrite_swap(doc, accounts={"user_transfer_authority": STRANGER})


def swap_twice(doc: Doc) -> Doc:
    """The same route instruction again among the other instructions: twice the spend."""
    return _appended(doc, "otherInstructions", instruction_from_json(doc["swapInstruction"]))


def swap_replaced_by_a_memo(doc: Doc) -> Doc:
    """No route at all: the swap slot holds a memo, the rest is plumbing."""
    out = copy.deepcopy(doc)
    memo = Instruction(MEMO_PROGRAM, b"swap", [AccountMeta(_user(doc), True, False)])
    out["swapInstruction"] = instruction_to_json(memo)
    return out


def swap_data_truncated(doc: Doc) -> Doc:
    out = copy.deepcopy(doc)
    data = base64.b64decode(out["swapInstruction"]["data"])
    out["swapInstruction"]["data"] = base64.b64encode(data[:-1]).decode()
    return out


def unknown_amm_in_the_route(doc: Doc) -> Doc:
    """The route plan names a swap variant the IDL does not know (an unknown AMM)."""
    out = copy.deepcopy(doc)
    data = bytearray(base64.b64decode(out["swapInstruction"]["data"]))
    step = bytes([1, 0, 0, 0, METEORA_DLMM_VARIANT])  # vec length 1, then the variant
    at = bytes(data).index(step) + 4
    data[at] = 0xFF
    out["swapInstruction"]["data"] = base64.b64encode(bytes(data)).decode()
    return out


def exact_out_route(doc: Doc) -> Doc:
    """An ExactOut route: it spends up to an amount instead of exactly the asked one."""
    swap = swap_of(doc)
    name = "shared_accounts_exact_out_route" + ("_v2" if swap.name.endswith("_v2") else "")
    args = {
        "out_amount": swap.args["quoted_out_amount"],
        "quoted_in_amount": swap.args["in_amount"],
    }
    return rewrite_swap(doc, args, name=name)


def token_ledger_route(doc: Doc) -> Doc:
    """A token-ledger route: the amount comes from a ledger account at run time, not the data."""
    ledger = Keypair.from_seed(bytes([23]) * 32).pubkey()
    forged = rewrite_swap(
        doc, accounts={"token_ledger": ledger}, name="shared_accounts_route_with_token_ledger"
    )
    source = swap_of(doc).accounts["source_token_account"]
    record = encode_swap("set_token_ledger", {}, {"token_ledger": ledger, "token_account": source})
    forged["tokenLedgerInstruction"] = instruction_to_json(record)
    return forged


def platform_fee_taken(doc: Doc) -> Doc:
    return rewrite_swap(doc, {"platform_fee_bps": 50})


def authority_handed_to_a_stranger(doc: Doc) -> Doc:
    """After the swap, the wallet's output account is handed to a stranger."""
    swap = swap_of(doc)
    params = SetAuthorityParams(
        program_id=TOKEN_PROGRAM_ID, account=swap.accounts["destination_token_account"],
        authority=AuthorityType.ACCOUNT_OWNER, current_authority=_user(doc),
        new_authority=STRANGER,
    )  # fmt: skip
    return _appended(doc, "otherInstructions", set_authority(params))


def wsol_closed_to_a_stranger(doc: Doc) -> Doc:
    """The cleanup closes the wallet's wrapped-SOL account with its lamports to a stranger."""
    out = copy.deepcopy(doc)
    wallet = _user(doc)
    params = CloseAccountParams(
        program_id=TOKEN_PROGRAM_ID, account=associated_token_address(wallet, NATIVE_MINT),
        dest=STRANGER, owner=wallet,
    )  # fmt: skip
    out["cleanupInstruction"] = instruction_to_json(close_account(params))
    return out


def another_jupiter_instruction(doc: Doc) -> Doc:
    """A Jupiter `claim` beside the route: a program instruction nobody asked for."""
    claim = encode_swap(
        "claim", {"id": 0},
        {"wallet": _user(doc), "program_authority": STRANGER, "system_program": STRANGER},
    )  # fmt: skip
    return _appended(doc, "otherInstructions", claim)


def wallet_assigned_to_a_stranger(doc: Doc) -> Doc:
    return _appended(
        doc, "setupInstructions", assign(AssignParams(pubkey=_user(doc), owner=STRANGER))
    )


def rent_paid_for_a_stranger(doc: Doc) -> Doc:
    """The wallet pays to create a token account that a stranger owns."""
    ix = create_idempotent_associated_token_account(
        _user(doc), STRANGER, swap_of(doc).accounts["destination_mint"], TOKEN_PROGRAM_ID
    )
    return _appended(doc, "setupInstructions", ix)


def wrap_into_a_strangers_account(doc: Doc) -> Doc:
    """What looks like wrapping SOL, into a stranger's wrapped-SOL account."""
    params = SystemTransferParams(
        from_pubkey=_user(doc),
        to_pubkey=associated_token_address(STRANGER, NATIVE_MINT),
        lamports=10**9,
    )
    return _appended(doc, "setupInstructions", system_transfer(params))


def second_compute_unit_price(doc: Doc) -> Doc:
    return _appended(doc, "computeBudgetInstructions", set_compute_unit_price(1))


def burn_from_the_wallet(doc: Doc) -> Doc:
    swap = swap_of(doc)
    params = BurnParams(
        program_id=TOKEN_PROGRAM_ID, account=swap.accounts["destination_token_account"],
        mint=swap.accounts["destination_mint"], owner=_user(doc), amount=1,
    )  # fmt: skip
    return _appended(doc, "otherInstructions", burn(params))


INSTRUCTION_LIES: list[tuple[Forge, Check]] = [
    (tamper.extra_transfer_to_stranger, Check.FOREIGN_TRANSFER),
    (tamper.extra_token_transfer, Check.FOREIGN_TRANSFER),
    (wrap_into_a_strangers_account, Check.FOREIGN_TRANSFER),
    (wallet_assigned_to_a_stranger, Check.FOREIGN_TRANSFER),
    (rent_paid_for_a_stranger, Check.FOREIGN_TRANSFER),
    (tamper.changed_in_amount, Check.IN_AMOUNT),
    (token_ledger_route, Check.IN_AMOUNT),
    (tamper.lowered_quoted_out, Check.QUOTED_OUT),
    (tamper.raised_slippage, Check.SLIPPAGE),
    (platform_fee_taken, Check.PLATFORM_FEE),
    (tamper.foreign_signer, Check.FOREIGN_SIGNER),
    (authority_is_a_stranger, Check.FOREIGN_SIGNER),
    (tamper.unknown_program, Check.PROGRAM_NOT_ALLOWED),
    (swap_under_a_lookalike_program, Check.PROGRAM_NOT_ALLOWED),
    (tamper.approve_to_stranger, Check.FOREIGN_APPROVE),
    (authority_handed_to_a_stranger, Check.FOREIGN_AUTHORITY),
    (wsol_closed_to_a_stranger, Check.FOREIGN_CLOSE),
    (tamper.oversized_compute_price, Check.COMPUTE_PRICE),
    (tamper.destination_owned_by_stranger, Check.DESTINATION_ACCOUNT),
    (source_of_a_stranger, Check.SOURCE_ACCOUNT),
    (output_mint_changed, Check.MINT_MISMATCH),
    (input_mint_changed, Check.MINT_MISMATCH),
    (swap_twice, Check.NOT_ONE_SWAP),
    (swap_replaced_by_a_memo, Check.NOT_ONE_SWAP),
    (swap_data_truncated, Check.UNDECODABLE),
    (unknown_amm_in_the_route, Check.UNDECODABLE),
    (exact_out_route, Check.EXACT_OUT),
    (another_jupiter_instruction, Check.UNEXPECTED_INSTRUCTION),
    (second_compute_unit_price, Check.UNEXPECTED_INSTRUCTION),
    (burn_from_the_wallet, Check.UNEXPECTED_INSTRUCTION),
]
# Jupiter's v2 instructions have no token-ledger variant; a /build answer's slippage is not
# checked but overwritten (see test_a_raised_slippage_in_build_is_overwritten_not_signed).
V1_ONLY = {token_ledger_route, tamper.raised_slippage}


# --- the bench -------------------------------------------------------------------------------
@dataclass
class Run:
    bench: Bench
    daemon: Daemon
    jupiter_only: dict[str, Signed]  # file name -> intent restricted to venues ["jupiter"]
    any_venue: dict[str, Signed]

    def sample(self, name: str, **labels: str) -> float:
        labels = {"venue": "jupiter"} | labels
        value = self.daemon.runtime.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@pytest.fixture(name="jupiter")
async def _jupiter() -> AsyncIterator[FakeJupiter]:
    async with FakeJupiter().add_deep_sol_usdc() as fake:
        yield fake


@pytest.fixture(name="signed_swaps")
def _signed_swaps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Wallets of every Jupiter swap handed to the executor for signing."""
    calls: list[str] = []
    real = ChainExecutor._sign_swap

    def spy(self: ChainExecutor, wallet: str, swap: Any) -> Any:
        calls.append(wallet)
        return real(self, wallet, swap)

    monkeypatch.setattr(ChainExecutor, "_sign_swap", spy)
    return calls


async def _run(
    make_config: Callable[..., AgentConfig],
    url: str,
    jupiter: FakeJupiter,
    api: str,
    **env: str,
) -> Run:
    """Two intents restricted to Jupiter and two free to go anywhere (1 SOL for USDC each),
    through one daemon run in dry-run with the wallets' keys held."""
    bench = await make_bench(
        make_config, url, keys=True, execution__mode="dry-run",
        venues__jupiter__enabled="true", venues__jupiter__base_url=jupiter.base_url,
        venues__jupiter__rps="1000", venues__jupiter__api=api,
        venues__localdex__enabled="false", **env,
    )  # fmt: skip
    jupiter_only = {f"only-{i}.json": bench.sign(venues=("jupiter",)) for i in range(2)}
    any_venue = {f"any-{i}.json": bench.sign() for i in range(2)}
    for name, signed in (jupiter_only | any_venue).items():
        bench.drop(name.removesuffix(".json"), signed.data)
    daemon = bench.daemon()
    stats = await asyncio.wait_for(daemon.run(once=True), 60)
    assert stats.processed == 4
    return Run(bench, daemon, jupiter_only, any_venue)


def _served_instructions(jupiter: FakeJupiter, api: str) -> int:
    path = "/swap/v2/build" if api == "v2" else "/swap/v1/swap-instructions"
    return sum(1 for r in jupiter.requests if r.path == path and r.status == 200)


async def _nothing_traded_through_jupiter(run: Run) -> None:
    trades = await run.bench.trades()
    assert not [t for t in trades if t.venue == "jupiter"]
    endings = await run.bench.endings()
    for name in run.jupiter_only:
        assert endings[name].status in ("failed", "rejected"), name
    for name in run.any_venue:
        assert endings[name].status in ("filled", "failed", "rejected"), name
    assert {t.venue for t in trades} <= {"otc"}


# --- the control ---------------------------------------------------------------------------------
@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_an_honest_answer_is_built_and_handed_to_the_signer(
    make_config: Callable[..., AgentConfig],
    sqlite_url: str,
    jupiter: FakeJupiter,
    signed_swaps: list[str],
    api: str,
) -> None:
    """Control: honest Jupiter legs pass every check and reach the signer, so the refusals below are real."""
    run = await _run(make_config, sqlite_url, jupiter, api)
    legs = [leg for leg in await run.bench.legs() if leg.venue == "jupiter"]
    built = [leg for leg in legs if leg.status == "built"]
    assert len(built) >= 2 and len(signed_swaps) == len(built)
    endings = await run.bench.endings()
    assert {endings[name].status for name in run.jupiter_only} == {"filled"}
    assert run.sample("otc_agent_swap_refusals_total", check="foreign_transfer") == 0


# --- lies in the instructions -------------------------------------------------------------------
CASES = [
    pytest.param(forge, check, api, id=f"{api}-{forge.__name__}")
    for forge, check in INSTRUCTION_LIES
    for api in ("v1", "v2")
    if not (api == "v2" and forge in V1_ONLY)
]


@pytest.mark.parametrize(("forge", "check", "api"), CASES)
async def test_a_forged_instruction_is_refused_before_signing(
    make_config: Callable[..., AgentConfig],
    sqlite_url: str,
    jupiter: FakeJupiter,
    signed_swaps: list[str],
    forge: Forge,
    check: Check,
    api: str,
) -> None:
    """Each instruction lie fails every Jupiter leg with its check before signing, and nothing trades there."""
    jupiter.tamper = forge
    run = await _run(make_config, sqlite_url, jupiter, api)
    assert _served_instructions(jupiter, api) >= 2  # the lie was actually served
    legs = [leg for leg in await run.bench.legs() if leg.venue == "jupiter"]
    assert len(legs) >= 2
    assert {(leg.status, leg.reason, leg.transaction, leg.signature) for leg in legs} == {
        ("failed", "transaction_refused", None, None)
    }
    assert signed_swaps == []
    refusals = run.sample("otc_agent_swap_refusals_total", check=check.value)
    assert refusals == len(legs)
    endings = await run.bench.endings()
    for name in run.jupiter_only:
        assert (endings[name].status, endings[name].reason) == ("failed", "transaction_refused")
        out = run.bench.root / "out" / f"{endings[name].intent_id}.result.json"
        result = json.loads(out.read_text())
        [leg] = result["legs"]
        assert leg["detail"].startswith(f"{check.value}: ")
    await _nothing_traded_through_jupiter(run)


async def test_a_raised_slippage_in_build_is_overwritten_not_signed(
    make_config: Callable[..., AgentConfig],
    sqlite_url: str,
    jupiter: FakeJupiter,
    signed_swaps: list[str],
) -> None:
    """A /build route tolerating 50% slippage is signed only with the leg's own tolerance written in."""
    jupiter.tamper = tamper.raised_slippage
    run = await _run(make_config, sqlite_url, jupiter, "v2")
    legs = [leg for leg in await run.bench.legs() if leg.venue == "jupiter"]
    assert len(legs) >= 2 and len(signed_swaps) == len(legs)
    for leg in legs:
        message = VersionedTransaction.from_bytes(base64.b64decode(leg.transaction)).message
        [route] = [
            ix for ix in message.instructions
            if message.account_keys[ix.program_id_index] == JUPITER_V6_PROGRAM_ID
        ]  # fmt: skip
        accounts = [AccountMeta(message.account_keys[i], False, False) for i in route.accounts]
        swap = decode_swap(Instruction(JUPITER_V6_PROGRAM_ID, bytes(route.data), accounts))
        assert swap.slippage_bps <= 100


# --- lies in the quote ----------------------------------------------------------------------------
def _quote_lie(**changes: Any) -> Callable[[Doc], Doc]:
    def lie(quote: Doc) -> Doc:
        out = dict(quote)
        for key, value in changes.items():
            out[key] = value(quote) if callable(value) else value
        return out

    lie.__name__ = "-".join(changes)
    return lie


QUOTE_LIES = [
    ("input-mint", _quote_lie(inputMint=USDC)),
    ("output-mint", _quote_lie(outputMint=str(STRANGE_MINT))),
    ("in-amount", _quote_lie(inAmount=lambda q: str(int(q["inAmount"]) + 1))),
    ("exact-out", _quote_lie(swapMode="ExactOut")),
    ("zero-out", _quote_lie(outAmount="0", otherAmountThreshold="0")),
    ("negative-out", _quote_lie(outAmount="-5")),
    ("float-out", _quote_lie(outAmount="1.5e9")),
    ("nan-impact", _quote_lie(priceImpactPct="NaN")),
    (
        "minimum-above-output",
        _quote_lie(otherAmountThreshold=lambda q: str(int(q["outAmount"]) + 1)),
    ),
]
# The fake builds /swap/v2/build's instructions from its own quote, which it cannot do from
# these (the parser that refuses them is the same for both APIs).
V1_ONLY_QUOTES = {"negative-out", "float-out"}


@pytest.mark.parametrize(
    ("lie", "api"),
    [
        pytest.param(lie, api, id=f"{api}-{name}")
        for name, lie in QUOTE_LIES
        for api in ("v1", "v2")
        if not (api == "v2" and name in V1_ONLY_QUOTES)
    ],
)
async def test_a_forged_quote_is_refused_on_arrival(
    make_config: Callable[..., AgentConfig],
    sqlite_url: str,
    jupiter: FakeJupiter,
    signed_swaps: list[str],
    lie: Callable[[Doc], Doc],
    api: str,
) -> None:
    """A quote for another trade (or no quote at all) is a bad_payload miss; other venues fill."""
    jupiter.quote_tamper = lie
    run = await _run(make_config, sqlite_url, jupiter, api)
    assert not [leg for leg in await run.bench.legs() if leg.venue == "jupiter"]
    assert signed_swaps == []
    assert not [r for r in jupiter.requests if r.path == "/swap/v1/swap-instructions"]
    assert run.sample("otc_agent_venue_errors_total", kind="bad_payload") >= 4
    endings = await run.bench.endings()
    assert {endings[name].status for name in run.any_venue} == {"filled"}
    assert {endings[name].reason for name in run.jupiter_only} <= {"no_route"}
    await _nothing_traded_through_jupiter(run)


@pytest.mark.parametrize("api", ["v1", "v2"])
async def test_an_absurd_quoted_amount_is_refused_on_arrival(
    make_config: Callable[..., AgentConfig],
    sqlite_url: str,
    jupiter: FakeJupiter,
    api: str,
) -> None:
    """A quote of u64::MAX out is a bad_payload miss, not a crash of every intent Jupiter quoted."""
    jupiter.quote_tamper = _quote_lie(outAmount=str(2**64 - 1), otherAmountThreshold=str(2**63))
    run = await _run(make_config, sqlite_url, jupiter, api)
    endings = await run.bench.endings()
    assert {endings[name].status for name in run.any_venue} == {"filled"}


# --- lookup tables -----------------------------------------------------------------------------
class LyingTables(FakeJupiter):
    """/swap/v2/build says its lookup table holds the stranger's account."""

    def _route(self, req: Any) -> tuple[int, Any]:
        status, doc = super()._route(req)
        if req.path == "/swap/v2/build" and status == 200:
            doc["addressesByLookupTableAddress"] = {ALT: [str(STRANGER)] * 4}
        return status, doc


def _naming_table(table: Pubkey) -> Forge:
    def forge(doc: Doc) -> Doc:
        out = copy.deepcopy(doc)
        out["addressLookupTableAddresses"] = [str(table)]
        return out

    forge.__name__ = f"table-{table}"
    return forge


@pytest.mark.parametrize(
    "table", [Keypair.from_seed(bytes([24]) * 32).pubkey(), Pubkey.from_string(SOL)],
    ids=["missing-table", "not-a-table"],
)  # fmt: skip
async def test_a_lookup_table_that_is_not_one_is_refused_before_signing(
    make_config: Callable[..., AgentConfig],
    sqlite_url: str,
    signed_swaps: list[str],
    table: Pubkey,
) -> None:
    """A lookup table that is missing on mainnet, or is no table, fails the leg before signing."""
    jupiter = FakeJupiter().add_deep_sol_usdc()
    jupiter.tamper = _naming_table(table)
    rpc = FakeMainnetRpc(tables=dict(jupiter.lookup_tables()))
    await jupiter.start()
    await rpc.start()
    try:
        run = await _run(
            make_config, sqlite_url, jupiter, "v1", venues__jupiter__simulate_rpc=rpc.url
        )
    finally:
        await rpc.aclose()
        await jupiter.aclose()
    legs = [leg for leg in await run.bench.legs() if leg.venue == "jupiter"]
    assert len(legs) >= 2 and {(leg.status, leg.transaction) for leg in legs} == {("failed", None)}
    assert signed_swaps == [] and rpc.simulations == []
    await _nothing_traded_through_jupiter(run)


async def test_lookup_table_contents_claimed_by_build_are_never_used(
    make_config: Callable[..., AgentConfig], sqlite_url: str
) -> None:
    """Table contents claimed by /build are ignored: the transaction never names the stranger in them."""
    jupiter = LyingTables().add_deep_sol_usdc()
    rpc = FakeMainnetRpc(tables=dict(jupiter.lookup_tables()))
    await jupiter.start()
    await rpc.start()
    try:
        for wallet in (Keypair.from_seed(bytes([1]) * 32), Keypair.from_seed(bytes([2]) * 32)):
            rpc.lamports[wallet.pubkey()] = 10 * 10**9
        run = await _run(
            make_config, sqlite_url, jupiter, "v2", venues__jupiter__simulate_rpc=rpc.url
        )
    finally:
        await rpc.aclose()
        await jupiter.aclose()
    legs = [leg for leg in await run.bench.legs() if leg.venue == "jupiter"]
    assert len(legs) >= 2 and {leg.status for leg in legs} == {"filled"}
    real_table = jupiter.lookup_tables()
    for leg in legs:
        message = VersionedTransaction.from_bytes(base64.b64decode(leg.transaction)).message
        named = set(message.account_keys)
        for lookup in message.address_table_lookups:
            contents = real_table[lookup.account_key]
            named |= {contents[i] for i in [*lookup.writable_indexes, *lookup.readonly_indexes]}
        assert STRANGER not in named
