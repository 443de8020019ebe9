"""RpcCluster against a real localnet on loopback, through a fault-injecting proxy, and on stubs."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from solders.hash import Hash
from solders.keypair import Keypair
from solders.signature import Signature

from onchain import spl
from onchain.cluster import EXPIRED, ClusterBadResponse, ClusterRejected, ClusterUnavailable
from onchain.localnet import LocalnetServer
from onchain.rpc_cluster import RpcCluster, error_text
from onchain.transactions import to_base64
from onchain.wire import RetryPolicy
from tests.onchain.test_localnet import (
    INSUFFICIENT_FUNDS,
    SOL,
    USDC,
    Chain,
    seeded_chain,
    settlement,
)
from tests.support.rpc_faults import (
    GARBAGE,
    HANG,
    LOST,
    RESET,
    TRUNCATED,
    RpcFaultProxy,
    status,
)

FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=1.0)
FAILED_FILL = error_text(INSUFFICIENT_FUNDS)


@pytest.fixture(name="chain")
def _chain() -> Chain:
    return seeded_chain()


@pytest.fixture(name="localnet")
async def _localnet(chain: Chain) -> AsyncIterator[LocalnetServer]:
    async with LocalnetServer(chain.cluster, port=0) as server:
        yield server


@pytest.fixture(name="rpc")
async def _rpc(localnet: LocalnetServer) -> AsyncIterator[RpcCluster]:
    async with RpcCluster(
        localnet.url, name="localnet", timeout_s=5, retry=FAST, poll_interval_s=0.01
    ) as cluster:
        yield cluster


@pytest.fixture(name="proxy")
async def _proxy(localnet: LocalnetServer) -> AsyncIterator[RpcFaultProxy]:
    async with RpcFaultProxy(localnet.port) as proxy:
        yield proxy


@pytest.fixture(name="flaky")
async def _flaky(proxy: RpcFaultProxy) -> AsyncIterator[RpcCluster]:
    """An RpcCluster behind the fault proxy, with a short timeout and quick retries."""
    async with RpcCluster(proxy.url, timeout_s=0.3, retry=FAST, poll_interval_s=0.01) as cluster:
        yield cluster


# against the localnet


async def test_blockhash_and_height_follow_the_chain(chain: Chain, rpc: RpcCluster) -> None:
    """latest_blockhash carries lastValidBlockHeight; block_height follows the chain's clock."""
    assert await rpc.latest_blockhash() == await chain.cluster.latest_blockhash()
    assert await rpc.block_height() == 0
    chain.cluster.svm.warp_to_slot(42)
    assert await rpc.block_height() == 42
    assert (await rpc.latest_blockhash()).last_valid_block_height == 192


async def test_accounts_come_back_in_order_with_none_for_missing(
    chain: Chain, rpc: RpcCluster
) -> None:
    """get_accounts returns the same accounts as the chain itself, None where there is none."""
    vault = spl.associated_token_address(chain.pool.pubkey(), chain.usdc)
    keys = [chain.taker.pubkey(), Keypair().pubkey(), vault]
    assert await rpc.get_accounts(keys) == [
        chain.cluster.svm.get_account(chain.taker.pubkey()),
        None,
        chain.cluster.svm.get_account(vault),
    ]
    assert await rpc.get_accounts([]) == []


async def test_many_accounts_are_fetched_in_chunks_of_100(
    chain: Chain, proxy: RpcFaultProxy, flaky: RpcCluster
) -> None:
    """250 keys take three getMultipleAccounts calls and keep their positions."""
    keys = [Keypair().pubkey() for _ in range(250)]
    keys[0], keys[100], keys[249] = chain.taker.pubkey(), chain.pool.pubkey(), chain.taker.pubkey()
    accounts = await flaky.get_accounts(keys)
    assert proxy.methods() == ["getMultipleAccounts"] * 3
    present = {i for i, account in enumerate(accounts) if account is not None}
    assert len(accounts) == 250 and present == {0, 100, 249}
    assert accounts[100] is not None and accounts[100].lamports == 10 * SOL


async def test_token_balances(chain: Chain, rpc: RpcCluster) -> None:
    """token_balances reads SPL amounts, None for a missing account or one that is not a token account."""
    vault = spl.associated_token_address(chain.pool.pubkey(), chain.usdc)
    wsol = spl.associated_token_address(chain.pool.pubkey(), spl.NATIVE_MINT)
    missing = spl.associated_token_address(chain.taker.pubkey(), chain.usdc)
    balances = await rpc.token_balances([vault, wsol, missing, chain.taker.pubkey()])
    assert balances == [1_000_000 * USDC, 0, None, None]


async def test_simulating_a_settlement_reports_units_and_post_state(
    chain: Chain, rpc: RpcCluster
) -> None:
    """A fill simulates with its compute units and the taker's bought amount, changing nothing."""
    transaction = settlement(chain, 2 * SOL, 300 * USDC, [chain.taker, chain.pool])
    taker_usdc = spl.associated_token_address(chain.taker.pubkey(), chain.usdc)
    simulation = await rpc.simulate(transaction, accounts=[taker_usdc, chain.pool.pubkey()])
    assert simulation.ok, simulation.logs
    assert 0 < simulation.units_consumed < 200_000
    assert spl.token_amount(simulation.accounts[0]) == 300 * USDC
    assert simulation.accounts[1] is not None
    assert chain.cluster.token_balance(chain.taker.pubkey(), chain.usdc) is None
    local = await chain.cluster.simulate(transaction, accounts=[taker_usdc])
    assert simulation.units_consumed == local.units_consumed


async def test_counterparty_slot_empty_needs_sig_verify_off(chain: Chain, rpc: RpcCluster) -> None:
    """Without the pool's signature a fill simulates only with sig_verify=False."""
    transaction = settlement(chain, 2 * SOL, 300 * USDC, [chain.taker])
    taker_usdc = spl.associated_token_address(chain.taker.pubkey(), chain.usdc)
    relaxed = await rpc.simulate(transaction, accounts=[taker_usdc], sig_verify=False)
    assert relaxed.ok and spl.token_amount(relaxed.accounts[0]) == 300 * USDC
    with pytest.raises(ClusterRejected) as refused:
        await rpc.simulate(transaction)
    assert refused.value.reason == "SignatureFailure"


async def test_a_failing_simulation_is_a_result_not_an_exception(
    chain: Chain, rpc: RpcCluster
) -> None:
    """A program error comes back as Simulation.err in RPC JSON, with logs and empty post-state."""
    transaction = settlement(chain, 2 * SOL, 2_000_000 * USDC, [chain.taker, chain.pool])
    taker_usdc = spl.associated_token_address(chain.taker.pubkey(), chain.usdc)
    simulation = await rpc.simulate(transaction, accounts=[taker_usdc])
    assert simulation.err == FAILED_FILL == '{"InstructionError":[6,{"Custom":1}]}'
    assert simulation.logs and simulation.units_consumed > 0
    assert simulation.accounts == (None,)


async def test_replacing_a_stale_blockhash(chain: Chain, rpc: RpcCluster) -> None:
    """A stale blockhash fails as BlockhashNotFound unless replaced (which rules out sig_verify)."""
    stale = settlement(chain, SOL, 150 * USDC, [chain.taker, chain.pool], Hash.new_unique())
    assert (await rpc.simulate(stale, sig_verify=False)).err == "BlockhashNotFound"
    assert (await rpc.simulate(stale, sig_verify=False, replace_recent_blockhash=True)).ok
    with pytest.raises(ValueError, match="replace_recent_blockhash"):
        await rpc.simulate(stale, replace_recent_blockhash=True)


async def test_send_and_confirm_move_balances_exactly(chain: Chain, rpc: RpcCluster) -> None:
    """A sent fill confirms without error and moves SOL and USDC to the unit, fee included."""
    blockhash = await rpc.latest_blockhash()
    transaction = settlement(
        chain, 2 * SOL, 300 * USDC, [chain.taker, chain.pool], blockhash.blockhash
    )
    signature = await rpc.send(transaction)
    assert signature == transaction.signatures[0]
    confirmation = await rpc.confirm(signature, blockhash.last_valid_block_height)
    assert (confirmation.err, confirmation.slot) == (None, 0)
    taker_usdc = spl.associated_token_address(chain.taker.pubkey(), chain.usdc)
    vault = spl.associated_token_address(chain.pool.pubkey(), chain.usdc)
    wsol = spl.associated_token_address(chain.pool.pubkey(), spl.NATIVE_MINT)
    assert await rpc.token_balances([taker_usdc, vault, wsol]) == [
        300 * USDC,
        1_000_000 * USDC - 300 * USDC,
        2 * SOL,
    ]
    rent = chain.cluster.svm.minimum_balance_for_rent_exemption(spl.TOKEN_ACCOUNT_SIZE)
    taker = (await rpc.get_accounts([chain.taker.pubkey()]))[0]
    # Two signatures' fees, the SOL sold, and rent for the new USDC and wSOL accounts.
    assert taker is not None and taker.lamports == 100 * SOL - 10_000 - 2 * SOL - 2 * rent


async def test_a_rejected_send_carries_reason_and_logs(chain: Chain, rpc: RpcCluster) -> None:
    """A fill the pool cannot pay is refused at preflight with its error and logs; nothing moves."""
    transaction = settlement(chain, 2 * SOL, 2_000_000 * USDC, [chain.taker, chain.pool])
    with pytest.raises(ClusterRejected) as refused:
        await rpc.send(transaction)
    assert refused.value.reason == FAILED_FILL
    assert any("custom program error: 0x1" in line for line in refused.value.logs)
    assert chain.cluster.svm.get_balance(chain.taker.pubkey()) == 100 * SOL
    unsigned = settlement(chain, 2 * SOL, 300 * USDC, [chain.taker])
    with pytest.raises(ClusterRejected) as unsigned_refused:
        await rpc.send(unsigned)
    assert unsigned_refused.value.reason == "SignatureFailure"


async def test_resending_a_landed_transaction_is_harmless(chain: Chain, rpc: RpcCluster) -> None:
    """Sending the same signed fill twice answers its signature twice and moves tokens once."""
    transaction = settlement(chain, 2 * SOL, 300 * USDC, [chain.taker, chain.pool])
    assert await rpc.send(transaction) == await rpc.send(transaction) == transaction.signatures[0]
    assert chain.cluster.token_balance(chain.taker.pubkey(), chain.usdc) == 300 * USDC


async def test_confirm_of_an_unknown_signature_expires(chain: Chain, rpc: RpcCluster) -> None:
    """Once the block height passes lastValidBlockHeight, a never-seen signature is "expired"."""
    blockhash = await rpc.latest_blockhash()
    chain.cluster.svm.warp_to_slot(blockhash.last_valid_block_height + 1)
    confirmation = await asyncio.wait_for(
        rpc.confirm(Signature.new_unique(), blockhash.last_valid_block_height), 2
    )
    assert confirmation.expired and confirmation.err == EXPIRED
    assert confirmation.slot == blockhash.last_valid_block_height + 1


async def test_confirm_polls_until_the_transaction_lands(chain: Chain, rpc: RpcCluster) -> None:
    """confirm keeps polling while the signature is unknown and returns once it lands."""
    transaction = settlement(chain, 2 * SOL, 300 * USDC, [chain.taker, chain.pool])
    waiting = asyncio.create_task(rpc.confirm(transaction.signatures[0], 150))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    chain.cluster.svm.warp_to_slot(7)
    await rpc.send(transaction)
    confirmation = await asyncio.wait_for(waiting, 2)
    assert (confirmation.err, confirmation.slot) == (None, 7)


async def test_confirm_reports_a_landed_failure(
    chain: Chain, localnet: LocalnetServer, rpc: RpcCluster
) -> None:
    """A fill sent by someone skipping preflight lands failed; confirm reports its error."""
    transaction = settlement(chain, SOL, 2_000_000 * USDC, [chain.taker, chain.pool])
    async with httpx.AsyncClient(base_url=localnet.url) as http:
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "sendTransaction",
            "params": [to_base64(transaction), {"encoding": "base64", "skipPreflight": True}],
        }
        assert (await http.post("/", json=body)).json()["result"] == str(transaction.signatures[0])
    confirmation = await rpc.confirm(transaction.signatures[0], 150)
    assert confirmation.err == FAILED_FILL


# faults between the cluster and the node


async def test_429_is_retried_after_its_retry_after(
    proxy: RpcFaultProxy, flaky: RpcCluster
) -> None:
    """A 429 with Retry-After is retried no sooner than asked, then succeeds."""
    proxy.plan(status(429, retry_after="0.3"))
    assert await flaky.block_height() == 0
    first, second = proxy.seen
    assert second.at - first.at >= 0.29


async def test_429_without_retry_after_backs_off_and_succeeds(
    proxy: RpcFaultProxy, flaky: RpcCluster
) -> None:
    """A bare 429 is retried after the policy's backoff."""
    proxy.plan(status(429), status(429))
    assert (await flaky.latest_blockhash()).last_valid_block_height == 150
    assert proxy.methods() == ["getLatestBlockhash"] * 3


async def test_a_retry_after_beyond_the_policy_gives_up_at_once(
    proxy: RpcFaultProxy, flaky: RpcCluster
) -> None:
    """Told to come back later than max_delay_s, the cluster is unavailable now, not hammered."""
    proxy.plan(status(429, retry_after="30"))
    with pytest.raises(ClusterUnavailable, match="30"):
        await flaky.block_height()
    assert len(proxy.seen) == 1


@pytest.mark.parametrize("code", [500, 502, 503, 504])
async def test_5xx_then_success(proxy: RpcFaultProxy, flaky: RpcCluster, code: int) -> None:
    """A server error is retried and the next answer is used."""
    proxy.plan(status(code))
    assert await flaky.block_height() == 0
    assert len(proxy.seen) == 2


async def test_persistent_503_is_unavailable_after_the_attempts(
    proxy: RpcFaultProxy, flaky: RpcCluster
) -> None:
    """A node that keeps answering 503 is ClusterUnavailable after exactly `attempts` tries."""
    proxy.default = status(503)
    with pytest.raises(ClusterUnavailable, match="HTTP 503"):
        await flaky.get_accounts([Keypair().pubkey()])
    assert len(proxy.seen) == FAST.attempts


@pytest.mark.parametrize("fault", [GARBAGE, TRUNCATED], ids=["garbage", "truncated"])
async def test_garbled_answers_are_bad_responses_not_retried(
    proxy: RpcFaultProxy, flaky: RpcCluster, fault: Any
) -> None:
    """An HTML page or cut-off JSON is ClusterBadResponse at once: alert, do not hide it."""
    proxy.plan(fault)
    with pytest.raises(ClusterBadResponse, match="getLatestBlockhash"):
        await flaky.latest_blockhash()
    assert len(proxy.seen) == 1


async def test_a_hanging_node_is_unavailable_within_the_timeout(
    proxy: RpcFaultProxy, flaky: RpcCluster
) -> None:
    """A node that never answers times out on every attempt, then ClusterUnavailable."""
    proxy.default = HANG
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ClusterUnavailable, match="timed out"):
        await flaky.block_height()
    # Three 0.3 s timeouts and two short pauses; well under what a hang would take.
    assert loop.time() - started < 0.3 * FAST.attempts + 1.0
    assert len(proxy.seen) == FAST.attempts


async def test_a_dropped_connection_is_retried(proxy: RpcFaultProxy, flaky: RpcCluster) -> None:
    """A connection closed without an answer is retried on a new one."""
    proxy.plan(RESET)
    assert await flaky.block_height() == 0
    assert len(proxy.seen) == 2


async def test_a_send_whose_answer_was_lost_lands_once(
    chain: Chain, proxy: RpcFaultProxy, flaky: RpcCluster
) -> None:
    """If the node took a send but the answer was lost, the retry is harmless: one fill, one signature."""
    transaction = settlement(chain, 2 * SOL, 300 * USDC, [chain.taker, chain.pool])
    proxy.plan(LOST)
    assert await flaky.send(transaction) == transaction.signatures[0]
    assert proxy.methods() == ["sendTransaction", "sendTransaction"]
    assert chain.cluster.token_balance(chain.taker.pubkey(), chain.usdc) == 300 * USDC
    assert (await flaky.confirm(transaction.signatures[0], 150)).err is None


async def test_a_send_after_a_503_lands(
    chain: Chain, proxy: RpcFaultProxy, flaky: RpcCluster
) -> None:
    """A send answered 503 is retried and the fill lands."""
    transaction = settlement(chain, 2 * SOL, 300 * USDC, [chain.taker, chain.pool])
    proxy.plan(status(503))
    assert await flaky.send(transaction) == transaction.signatures[0]
    assert chain.cluster.token_balance(chain.taker.pubkey(), chain.usdc) == 300 * USDC


# stubbed answers: shapes and JSON-RPC codes

Handler = Callable[[dict[str, Any]], httpx.Response]


def stub(*answers: Handler) -> tuple[RpcCluster, list[dict[str, Any]]]:
    """An RpcCluster whose node answers with these handlers in turn (the last one repeats)."""
    seen: list[dict[str, Any]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        return answers[min(len(seen), len(answers)) - 1](body)

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return RpcCluster("http://node.invalid", client=client, retry=FAST), seen


def ok(result: Any) -> Handler:
    return lambda body: httpx.Response(
        200, json={"jsonrpc": "2.0", "result": result, "id": body["id"]}
    )


def rpc_error(code: int, data: Any = None, http_status: int = 200) -> Handler:
    error = {"code": code, "message": "refused", **({} if data is None else {"data": data})}
    return lambda body: httpx.Response(
        http_status, json={"jsonrpc": "2.0", "error": error, "id": body["id"]}
    )


def raw(content: bytes, http_status: int = 200) -> Handler:
    return lambda body: httpx.Response(http_status, content=content)


async def test_a_node_not_ready_is_retried() -> None:
    """JSON-RPC -32005 (node unhealthy) is transient: retried, then the answer is used."""
    cluster, seen = stub(rpc_error(-32005), ok(7))
    assert await cluster.block_height() == 7
    assert len(seen) == 2


async def test_a_json_rpc_error_on_a_read_is_a_bad_response() -> None:
    """A read the node refuses (-32602) is a bad response, not retried."""
    cluster, seen = stub(rpc_error(-32602))
    with pytest.raises(ClusterBadResponse, match="-32602"):
        await cluster.block_height()
    assert len(seen) == 1


GOOD_HASH = str(Hash.default())


@pytest.mark.parametrize(
    "answer",
    [
        lambda body: httpx.Response(
            200, json={"jsonrpc": "2.0", "result": 1, "id": body["id"] + 1}
        ),
        lambda body: httpx.Response(200, json={"jsonrpc": "1.0", "result": 1, "id": body["id"]}),
        lambda body: httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"]}),
        lambda body: httpx.Response(200, json=[{"jsonrpc": "2.0", "result": 1, "id": body["id"]}]),
        ok({"value": {"blockhash": GOOD_HASH, "lastValidBlockHeight": 1}}),
        ok({"context": {"slot": 1}, "value": {"blockhash": "nope", "lastValidBlockHeight": 1}}),
        ok({"context": {"slot": 1}, "value": {"blockhash": GOOD_HASH, "lastValidBlockHeight": -1}}),
        ok(
            {"context": {"slot": 1}, "value": {"blockhash": GOOD_HASH, "lastValidBlockHeight": "1"}}
        ),
        raw(b'{"jsonrpc": "2.0", "result": NaN, "id": 1}'),
        raw(b"\xff\xfe"),
        raw(b'{"jsonrpc":"2.0","result":1,"id":1}', http_status=403),
        raw(b"Forbidden", http_status=403),
        lambda body: httpx.Response(
            200, json={"jsonrpc": "2.0", "error": {"code": "x"}, "id": body["id"]}
        ),
    ],
    ids=[
        "other-id",
        "not-2.0",
        "no-result",
        "batch-answer",
        "no-context",
        "bad-hash",
        "negative-height",
        "height-as-string",
        "nan",
        "not-utf8",
        "result-under-403",
        "text-403",
        "malformed-error",
    ],
)
async def test_wrong_shapes_are_bad_responses(answer: Handler) -> None:
    """Anything but the documented getLatestBlockhash answer is ClusterBadResponse."""
    cluster, seen = stub(answer)
    with pytest.raises(ClusterBadResponse):
        await cluster.latest_blockhash()
    assert len(seen) == 1


@pytest.mark.parametrize(
    "account",
    [
        {
            "data": ["!!", "base64"],
            "executable": False,
            "lamports": 1,
            "owner": GOOD_HASH,
            "rentEpoch": 0,
        },
        {
            "data": ["", "base58"],
            "executable": False,
            "lamports": 1,
            "owner": GOOD_HASH,
            "rentEpoch": 0,
        },
        {
            "data": ["", "base64"],
            "executable": 0,
            "lamports": 1,
            "owner": GOOD_HASH,
            "rentEpoch": 0,
        },
        {"data": ["", "base64"], "executable": False, "lamports": 1, "owner": "x", "rentEpoch": 0},
        {
            "data": ["", "base64"],
            "executable": False,
            "lamports": 1,
            "owner": GOOD_HASH,
            "rentEpoch": 2**64,
        },
        {
            "data": ["", "base64"],
            "executable": False,
            "lamports": 1,
            "owner": GOOD_HASH,
            "rentEpoch": 0,
            "space": 3,
        },
    ],
    ids=[
        "bad-base64",
        "wrong-encoding",
        "executable-not-bool",
        "bad-owner",
        "rent-epoch-overflow",
        "space-mismatch",
    ],
)
async def test_malformed_accounts_are_bad_responses(account: dict[str, Any]) -> None:
    """An account entry that is not the base64 account shape is ClusterBadResponse."""
    cluster, _ = stub(ok({"context": {"slot": 1}, "value": [account]}))
    with pytest.raises(ClusterBadResponse, match="getMultipleAccounts"):
        await cluster.get_accounts([Keypair().pubkey()])


async def test_a_short_account_list_is_a_bad_response() -> None:
    """Fewer accounts than keys asked for is ClusterBadResponse."""
    cluster, _ = stub(ok({"context": {"slot": 1}, "value": []}))
    with pytest.raises(ClusterBadResponse, match="0 accounts for 1 keys"):
        await cluster.get_accounts([Keypair().pubkey()])


async def test_preflight_failure_data_must_have_the_documented_shape(chain: Chain) -> None:
    """-32002 with {err, logs} is a rejection; without data it is a bad response."""
    transaction = settlement(chain, SOL, USDC, [chain.taker, chain.pool])
    cluster, _ = stub(rpc_error(-32002, {"err": "InsufficientFundsForFee", "logs": None}))
    with pytest.raises(ClusterRejected) as refused:
        await cluster.send(transaction)
    assert (refused.value.reason, refused.value.logs) == ("InsufficientFundsForFee", ())
    cluster, _ = stub(rpc_error(-32002))
    with pytest.raises(ClusterBadResponse):
        await cluster.send(transaction)


async def test_a_json_rpc_error_under_a_4xx_is_still_a_rejection(chain: Chain) -> None:
    """A provider that wraps a send refusal in HTTP 400 is read by its JSON-RPC code."""
    transaction = settlement(chain, SOL, USDC, [chain.taker, chain.pool])
    cluster, seen = stub(rpc_error(-32602, http_status=400))
    with pytest.raises(ClusterRejected, match="-32602"):
        await cluster.send(transaction)
    assert len(seen) == 1


async def test_a_send_answered_with_another_signature_is_a_bad_response(chain: Chain) -> None:
    """The node must answer the transaction's own signature."""
    transaction = settlement(chain, SOL, USDC, [chain.taker, chain.pool])
    cluster, _ = stub(ok(str(Signature.new_unique())))
    with pytest.raises(ClusterBadResponse, match="another"):
        await cluster.send(transaction)


async def test_confirm_ignores_processed_and_waits_for_confirmed() -> None:
    """A processed status without error is not yet landed; confirmed is."""
    signature = Signature.new_unique()

    def statuses(level: str) -> Handler:
        entry = {"slot": 5, "confirmations": 1, "err": None, "confirmationStatus": level}
        return ok({"context": {"slot": 6}, "value": [entry]})

    def node(body: dict[str, Any]) -> httpx.Response:
        if body["method"] == "getBlockHeight":
            return ok(10)(body)
        polls.append(body)
        return statuses("processed" if len(polls) < 3 else "confirmed")(body)

    polls: list[dict[str, Any]] = []
    cluster, _ = stub(node)
    cluster.poll_interval_s = 0.001
    confirmation = await cluster.confirm(signature, 100)
    assert (confirmation.slot, confirmation.err, len(polls)) == (5, None, 3)


async def test_injected_clients_stay_open_and_owned_ones_close() -> None:
    """aclose closes only a client the cluster made itself."""
    injected = httpx.AsyncClient()
    await RpcCluster("http://127.0.0.1:1", client=injected).aclose()
    assert not injected.is_closed
    await injected.aclose()
    owned = RpcCluster("http://127.0.0.1:1")
    await owned.aclose()
    assert owned._client.is_closed


async def test_secrets_in_the_url_are_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Retry warnings and errors name the method, never the URL (it may hold an API key)."""
    cluster, _ = stub(raw(b"busy", http_status=503))
    cluster._url = "http://node.invalid/?api-key=SECRET"
    with caplog.at_level(logging.WARNING), pytest.raises(ClusterUnavailable) as unavailable:
        await cluster.block_height()
    assert caplog.records and all("SECRET" not in r.getMessage() for r in caplog.records)
    assert "SECRET" not in str(unavailable.value) and "SECRET" not in repr(cluster)


# policy and header parsing


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    """Each pause lies in the upper half of base·2^n, capped at max_delay_s."""
    policy = RetryPolicy(attempts=10, base_delay_s=0.1, max_delay_s=1.0)
    for retry, ceiling in [(0, 0.1), (1, 0.2), (3, 0.8), (4, 1.0), (500, 1.0)]:
        assert all(ceiling / 2 <= policy.backoff_s(retry) <= ceiling for _ in range(50))


@pytest.mark.parametrize(
    "arguments",
    [(0, 0.1, 1.0), (3, -0.1, 1.0), (3, 2.0, 1.0)],
    ids=["no-attempts", "negative", "base-over-max"],
)
def test_retry_policy_refuses_nonsense(arguments: tuple[int, float, float]) -> None:
    """A policy without attempts or with inverted delays is a configuration error."""
    with pytest.raises(ValueError):
        RetryPolicy(*arguments)
