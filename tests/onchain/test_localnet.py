"""The localnet JSON-RPC server: Solana's request and answer shapes over HTTP on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.types import TxOpts
from solders.hash import Hash
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.rpc.responses import (
    GetLatestBlockhashResp,
    GetMultipleAccountsResp,
    GetSignatureStatusesResp,
    GetTokenAccountBalanceResp,
    SimulateTransactionResp,
)
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from onchain import spl
from onchain.local_cluster import LocalCluster
from onchain.localnet import MAX_BODY_BYTES, LocalnetServer
from onchain.settlement import TokenLeg, settlement_instructions
from onchain.transactions import ComputeBudget, compile_v0, sign, to_base64

SOL = 10**9
USDC = 10**6
INSUFFICIENT_FUNDS = {"InstructionError": [6, {"Custom": 1}]}  # the pool's transfer, SPL error 1


@dataclass(frozen=True, slots=True)
class Chain:
    cluster: LocalCluster
    taker: Keypair
    pool: Keypair
    usdc: Pubkey


def seeded_chain() -> Chain:
    """As in test_local_settlement: a USDC mint, a taker holding SOL, a pool holding USDC."""
    cluster = LocalCluster()
    usdc = Keypair.from_seed(bytes([5]) * 32).pubkey()
    taker, pool = Keypair.from_seed(bytes([6]) * 32), Keypair.from_seed(bytes([7]) * 32)
    cluster.create_mint(usdc, 6, pool.pubkey())
    cluster.airdrop(taker.pubkey(), 100 * SOL)
    cluster.airdrop(pool.pubkey(), 10 * SOL)
    cluster.set_token_balance(pool.pubkey(), usdc, 1_000_000 * USDC)
    cluster.set_token_balance(pool.pubkey(), spl.NATIVE_MINT, 0)
    return Chain(cluster, taker, pool, usdc)


def settlement(
    chain: Chain,
    sol_in: int,
    usdc_out: int,
    keys: Sequence[Keypair],
    blockhash: Hash | None = None,
) -> VersionedTransaction:
    """The taker sells SOL for the pool's USDC; signed by ``keys``, other slots left empty."""
    instructions = settlement_instructions(
        taker=chain.taker.pubkey(),
        counterparty=chain.pool.pubkey(),
        sell=TokenLeg(spl.NATIVE_MINT, 9, sol_in),
        buy=TokenLeg(chain.usdc, 6, usdc_out),
        memo_text="intent-1",
    )
    recent = blockhash if blockhash is not None else chain.cluster.svm.latest_blockhash()
    message = compile_v0(chain.taker.pubkey(), instructions, recent, ComputeBudget(200_000))
    return sign(message, keys, allow_unsigned=True)


@pytest.fixture(name="chain")
def _chain() -> Chain:
    return seeded_chain()


@pytest.fixture(name="server")
async def _server(chain: Chain) -> AsyncIterator[LocalnetServer]:
    async with LocalnetServer(chain.cluster, port=0) as server:
        yield server


@pytest.fixture(name="http")
async def _http(server: LocalnetServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=5) as client:
        yield client


async def rpc(http: httpx.AsyncClient, method: str, *params: Any) -> dict[str, Any]:
    response = await http.post(
        "/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
    )
    assert response.status_code == 200
    answer: dict[str, Any] = response.json()
    assert answer["jsonrpc"] == "2.0" and answer["id"] == 1
    return answer


async def result(http: httpx.AsyncClient, method: str, *params: Any) -> Any:
    answer = await rpc(http, method, *params)
    assert "error" not in answer, answer
    return answer["result"]


async def error(http: httpx.AsyncClient, method: str, *params: Any) -> dict[str, Any]:
    answer = await rpc(http, method, *params)
    assert "result" not in answer, answer
    return answer["error"]


# JSON-RPC protocol


async def test_unknown_method_is_method_not_found(http: httpx.AsyncClient) -> None:
    """A method the server does not offer answers -32601 with the request's id."""
    assert (await error(http, "getClusterNodes"))["code"] == -32601


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("getBalance", []),
        ("getBalance", ["not-a-pubkey"]),
        ("getBalance", [str(Pubkey.default()), "confirmed"]),
        ("getAccountInfo", [str(Pubkey.default()), {"encoding": "jsonParsed"}]),
        ("getMultipleAccounts", [str(Pubkey.default())]),
        ("getMultipleAccounts", [[str(Pubkey.default())] * 101]),
        ("getLatestBlockhash", [{"commitment": "sometime"}]),
        ("getSignatureStatuses", [["not-a-signature"]]),
        ("sendTransaction", ["AAAA", {"encoding": "base64"}]),
        ("simulateTransaction", ["!!", {"encoding": "base64"}]),
    ],
    ids=[
        "missing-param",
        "bad-pubkey",
        "config-not-object",
        "unsupported-encoding",
        "keys-not-array",
        "too-many-keys",
        "bad-commitment",
        "bad-signature",
        "not-a-transaction",
        "not-base64",
    ],
)
async def test_bad_params_are_invalid_params(
    http: httpx.AsyncClient, method: str, params: list[Any]
) -> None:
    """Malformed or unsupported parameters answer -32602."""
    assert (await error(http, method, *params))["code"] == -32602


async def test_params_must_be_an_array(http: httpx.AsyncClient) -> None:
    """Named (object) params are refused with -32602, as Solana takes positional params only."""
    response = await http.post(
        "/", json={"jsonrpc": "2.0", "id": 3, "method": "getSlot", "params": {"x": 1}}
    )
    assert response.json()["error"]["code"] == -32602


async def test_unparseable_body_is_a_parse_error(http: httpx.AsyncClient) -> None:
    """A body that is not JSON answers -32700 with id null."""
    response = await http.post("/", content=b'{"jsonrpc": "2.0", "method": ')
    assert response.json() == {
        "jsonrpc": "2.0",
        "error": {"code": -32700, "message": "Parse error"},
        "id": None,
    }


@pytest.mark.parametrize(
    "request_body",
    [
        {"id": 1, "method": "getSlot"},
        {"jsonrpc": "2.0", "id": 1, "method": 7},
        {"jsonrpc": "2.0", "id": [1], "method": "getSlot"},
        [],
        "getSlot",
    ],
    ids=["no-version", "method-not-string", "id-not-scalar", "empty-batch", "not-an-object"],
)
async def test_invalid_requests_are_invalid_request(
    http: httpx.AsyncClient, request_body: Any
) -> None:
    """Well-formed JSON that is not a JSON-RPC 2.0 request answers -32600."""
    answer = (await http.post("/", json=request_body)).json()
    assert answer["error"]["code"] == -32600


async def test_batch_answers_each_request_and_skips_notifications(http: httpx.AsyncClient) -> None:
    """A batch gets one answer per request with an id, errors included, in any order."""
    batch = [
        {"jsonrpc": "2.0", "id": "a", "method": "getSlot"},
        {"jsonrpc": "2.0", "id": "b", "method": "noSuchMethod"},
        {"jsonrpc": "2.0", "method": "getSlot"},  # a notification: no answer
        {"jsonrpc": "2.0", "id": 3, "method": "getBalance", "params": ["bad"]},
        {"jsonrpc": "2.0", "id": 4, "method": "getBlockHeight", "params": []},
    ]
    answers = {answer["id"]: answer for answer in (await http.post("/", json=batch)).json()}
    assert set(answers) == {"a", "b", 3, 4}
    assert answers["a"]["result"] == 0
    assert answers["b"]["error"]["code"] == -32601
    assert answers[3]["error"]["code"] == -32602
    assert answers[4]["result"] == 0


async def test_a_lone_notification_gets_an_empty_answer(http: httpx.AsyncClient) -> None:
    """A request without an id is run but owed no JSON-RPC answer."""
    response = await http.post("/", json={"jsonrpc": "2.0", "method": "getSlot"})
    assert response.status_code == 200 and response.content == b""


async def test_http_framing(server: LocalnetServer, http: httpx.AsyncClient) -> None:
    """POST only (GET /health is ok); one keep-alive connection serves many; oversized bodies get 413."""
    assert (await http.get("/")).status_code == 405
    health = await http.get("/health")
    assert (health.status_code, health.text) == (200, "ok")
    connections = len(server._writers)
    for _ in range(5):
        await result(http, "getSlot")
    assert len(server._writers) == connections == 1
    too_big = await http.post("/", content=b"x" * (MAX_BODY_BYTES + 1))
    assert too_big.status_code == 413


# reads


async def test_blockhash_height_and_slot(chain: Chain, http: httpx.AsyncClient) -> None:
    """getLatestBlockhash has {blockhash, lastValidBlockHeight} and context; heights follow the clock."""
    answer = await result(http, "getLatestBlockhash", {"commitment": "finalized"})
    assert answer == {
        "context": {"slot": 0},
        "value": {
            "blockhash": str(chain.cluster.svm.latest_blockhash()),
            "lastValidBlockHeight": 150,
        },
    }
    chain.cluster.svm.warp_to_slot(42)
    assert await result(http, "getBlockHeight") == 42
    assert await result(http, "getSlot", {"commitment": "processed"}) == 42


async def test_account_info_shape(chain: Chain, http: httpx.AsyncClient) -> None:
    """getAccountInfo answers base64 data with lamports, owner, executable, rentEpoch and space."""
    vault = spl.associated_token_address(chain.pool.pubkey(), chain.usdc)
    account = chain.cluster.svm.get_account(vault)
    answer = await result(http, "getAccountInfo", str(vault), {"encoding": "base64"})
    assert answer["value"] == {
        "data": [base64.b64encode(bytes(account.data)).decode(), "base64"],
        "executable": False,
        "lamports": account.lamports,
        "owner": str(spl.TOKEN_PROGRAM_ID),
        "rentEpoch": account.rent_epoch,
        "space": spl.TOKEN_ACCOUNT_SIZE,
    }
    missing = await result(http, "getAccountInfo", str(Keypair().pubkey()))
    assert missing["value"] is None
    sliced = await result(
        http,
        "getAccountInfo",
        str(vault),
        {"encoding": "base64", "dataSlice": {"offset": 0, "length": 32}},
    )
    assert base64.b64decode(sliced["value"]["data"][0]) == bytes(chain.usdc)
    assert sliced["value"]["space"] == spl.TOKEN_ACCOUNT_SIZE


async def test_balance_and_token_balance(chain: Chain, http: httpx.AsyncClient) -> None:
    """getBalance counts lamports; getTokenAccountBalance has amount, decimals and UI amounts."""
    balance = await result(http, "getBalance", str(chain.taker.pubkey()))
    assert balance["value"] == 100 * SOL
    assert (await result(http, "getBalance", str(Keypair().pubkey())))["value"] == 0
    chain.cluster.set_token_balance(chain.taker.pubkey(), chain.usdc, 1_500_000)
    taker_usdc = spl.associated_token_address(chain.taker.pubkey(), chain.usdc)
    token = await result(http, "getTokenAccountBalance", str(taker_usdc))
    assert token["value"] == {
        "amount": "1500000",
        "decimals": 6,
        "uiAmount": 1.5,
        "uiAmountString": "1.5",
    }
    vault = spl.associated_token_address(chain.pool.pubkey(), chain.usdc)
    whole = await result(http, "getTokenAccountBalance", str(vault))
    assert whole["value"]["uiAmountString"] == "1000000"
    not_token = await error(http, "getTokenAccountBalance", str(chain.taker.pubkey()))
    assert not_token["code"] == -32602


async def test_multiple_accounts_in_order(chain: Chain, http: httpx.AsyncClient) -> None:
    """getMultipleAccounts answers one entry per key, in order, null where absent."""
    keys = [chain.taker.pubkey(), Keypair().pubkey(), chain.pool.pubkey()]
    answer = await result(
        http, "getMultipleAccounts", [str(k) for k in keys], {"encoding": "base64"}
    )
    lamports = [None if a is None else a["lamports"] for a in answer["value"]]
    assert lamports == [100 * SOL, None, 10 * SOL]


# simulate and send


async def test_simulation_shapes(chain: Chain, http: httpx.AsyncClient) -> None:
    """A good fill simulates with post-state accounts; a failing one has the RPC's err object."""
    taker_usdc = spl.associated_token_address(chain.taker.pubkey(), chain.usdc)
    config = {
        "encoding": "base64",
        "sigVerify": True,
        "accounts": {"addresses": [str(taker_usdc)], "encoding": "base64"},
    }
    good = settlement(chain, 2 * SOL, 300 * USDC, [chain.taker, chain.pool])
    value = (await result(http, "simulateTransaction", to_base64(good), config))["value"]
    assert value["err"] is None and value["returnData"] is None
    assert 0 < value["unitsConsumed"] < 200_000
    assert value["accounts"][0]["owner"] == str(spl.TOKEN_PROGRAM_ID)

    bad = settlement(chain, 2 * SOL, 2_000_000 * USDC, [chain.taker, chain.pool])
    value = (await result(http, "simulateTransaction", to_base64(bad), config))["value"]
    assert value["err"] == INSUFFICIENT_FUNDS
    assert value["accounts"] == [None]
    assert value["logs"] and value["unitsConsumed"] > 0


async def test_simulation_signature_and_blockhash_options(
    chain: Chain, http: httpx.AsyncClient
) -> None:
    """sigVerify refuses an unsigned slot (-32003); replaceRecentBlockhash rescues a stale one."""
    unsigned = settlement(chain, SOL, USDC, [chain.taker])
    assert (
        await error(
            http,
            "simulateTransaction",
            to_base64(unsigned),
            {"encoding": "base64", "sigVerify": True},
        )
    )["code"] == -32003
    relaxed = await result(http, "simulateTransaction", to_base64(unsigned), {"encoding": "base64"})
    assert relaxed["value"]["err"] is None

    stale = settlement(chain, SOL, USDC, [chain.taker, chain.pool], Hash.new_unique())
    plain = await result(http, "simulateTransaction", to_base64(stale), {"encoding": "base64"})
    assert plain["value"]["err"] == "BlockhashNotFound"
    replaced = await result(
        http,
        "simulateTransaction",
        to_base64(stale),
        {"encoding": "base64", "replaceRecentBlockhash": True},
    )
    assert replaced["value"]["err"] is None
    assert replaced["value"]["replacementBlockhash"] == {
        "blockhash": str(chain.cluster.svm.latest_blockhash()),
        "lastValidBlockHeight": 150,
    }
    both = {"encoding": "base64", "sigVerify": True, "replaceRecentBlockhash": True}
    assert (await error(http, "simulateTransaction", to_base64(stale), both))["code"] == -32602


async def test_send_preflight_failures(chain: Chain, http: httpx.AsyncClient) -> None:
    """Preflight refuses a failing fill with -32002 {err, logs}, an unsigned one with -32003."""
    bad = settlement(chain, 2 * SOL, 2_000_000 * USDC, [chain.taker, chain.pool])
    refused = await error(http, "sendTransaction", to_base64(bad), {"encoding": "base64"})
    assert refused["code"] == -32002
    assert refused["data"]["err"] == INSUFFICIENT_FUNDS
    assert any("custom program error: 0x1" in line for line in refused["data"]["logs"])
    unsigned = settlement(chain, SOL, USDC, [chain.taker])
    assert (await error(http, "sendTransaction", to_base64(unsigned), {"encoding": "base64"}))[
        "code"
    ] == -32003
    assert (await error(http, "sendTransaction", to_base64(bad)))["code"] == -32602  # base58
    assert chain.cluster.svm.get_balance(chain.taker.pubkey()) == 100 * SOL


async def test_statuses_of_landed_failed_and_unknown(chain: Chain, http: httpx.AsyncClient) -> None:
    """A landed fill is finalized with err null; one sent past preflight that fails keeps its err."""
    good = settlement(chain, 2 * SOL, 300 * USDC, [chain.taker, chain.pool])
    bad = settlement(chain, SOL, 2_000_000 * USDC, [chain.taker, chain.pool])
    sent = await result(http, "sendTransaction", to_base64(good), {"encoding": "base64"})
    assert sent == str(good.signatures[0])
    skipped = {"encoding": "base64", "skipPreflight": True}
    assert await result(http, "sendTransaction", to_base64(bad), skipped) == str(bad.signatures[0])
    unknown = Signature.new_unique()
    statuses = await result(
        http,
        "getSignatureStatuses",
        [str(good.signatures[0]), str(bad.signatures[0]), str(unknown)],
        {"searchTransactionHistory": True},
    )
    landed, failed, missing = statuses["value"]
    assert landed == {
        "slot": 0,
        "confirmations": None,
        "err": None,
        "status": {"Ok": None},
        "confirmationStatus": "finalized",
    }
    assert failed["err"] == INSUFFICIENT_FUNDS and failed["status"] == {"Err": INSUFFICIENT_FUNDS}
    assert missing is None
    # The failed one landed: it paid its fee (two signatures) and moved nothing else.
    assert chain.cluster.token_balance(chain.taker.pubkey(), chain.usdc) == 300 * USDC


async def test_answers_parse_with_solders_response_types(
    chain: Chain, http: httpx.AsyncClient
) -> None:
    """solders (solana-py's parser) reads every answer shape the localnet writes."""

    async def raw(method: str, *params: Any) -> str:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        return (await http.post("/", json=body)).text

    vault = spl.associated_token_address(chain.pool.pubkey(), chain.usdc)
    blockhash = GetLatestBlockhashResp.from_json(await raw("getLatestBlockhash"))
    assert blockhash.value.last_valid_block_height == 150
    accounts = GetMultipleAccountsResp.from_json(
        await raw(
            "getMultipleAccounts", [str(vault), str(Keypair().pubkey())], {"encoding": "base64"}
        )
    )
    assert accounts.value[0] is not None and accounts.value[1] is None
    balance = GetTokenAccountBalanceResp.from_json(await raw("getTokenAccountBalance", str(vault)))
    assert balance.value.amount == str(1_000_000 * USDC)
    bad = settlement(chain, SOL, 2_000_000 * USDC, [chain.taker, chain.pool])
    simulation = SimulateTransactionResp.from_json(
        await raw("simulateTransaction", to_base64(bad), {"encoding": "base64"})
    )
    assert simulation.value.err is not None and simulation.value.units_consumed
    statuses = GetSignatureStatusesResp.from_json(
        await raw("getSignatureStatuses", [str(bad.signatures[0])])
    )
    assert statuses.value == [None]


async def test_solana_py_client_round_trip(chain: Chain, server: LocalnetServer) -> None:
    """solana-py's AsyncClient reads, sends and checks a status against the localnet."""
    async with AsyncClient(server.url) as client:
        assert (await client.get_balance(chain.taker.pubkey())).value == 100 * SOL
        latest = (await client.get_latest_blockhash()).value
        transaction = settlement(
            chain, 2 * SOL, 300 * USDC, [chain.taker, chain.pool], latest.blockhash
        )
        sent = await client.send_transaction(transaction, opts=TxOpts(skip_confirmation=True))
        statuses = await client.get_signature_statuses([sent.value])
    assert sent.value == transaction.signatures[0]
    status = statuses.value[0]
    assert status is not None and status.err is None
    assert chain.cluster.token_balance(chain.taker.pubkey(), chain.usdc) == 300 * USDC


async def test_slot_time_ticks_the_clock(chain: Chain) -> None:
    """With slot_time_s the clock advances on its own, as blocks would on a validator."""
    async with (
        LocalnetServer(chain.cluster, port=0, slot_time_s=0.01) as server,
        httpx.AsyncClient(base_url=server.url) as http,
    ):
        await asyncio.sleep(0.1)
        height = await result(http, "getBlockHeight")
    assert height >= 3


async def test_raw_json_is_json_rpc(http: httpx.AsyncClient) -> None:
    """Answers are compact JSON objects with jsonrpc, id and exactly one of result and error."""
    response = await http.post(
        "/", content=json.dumps({"jsonrpc": "2.0", "id": 9, "method": "getSlot"})
    )
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"jsonrpc": "2.0", "result": 0, "id": 9}
