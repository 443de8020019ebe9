"""The Cluster interface over Solana's JSON-RPC: devnet, mainnet-beta, any URL, or the localnet.

Requests are solders' request types, the ones solana-py's ``AsyncClient`` builds, posted with
one shared ``httpx.AsyncClient``. solana-py's client itself is not used for transport: it owns
its own httpx session (so it cannot share or inject one), hides status codes and Retry-After
behind a generic exception, and in 0.36 cannot ask ``simulateTransaction`` for post-state
accounts or a replaced blockhash. Answers are parsed strictly here, field by field, so an
unknown ``TransactionError`` variant on a newer node is still reported (as its RPC JSON)
rather than failing a parser that predates it.

What goes wrong, and what the caller sees (classification is by exception type, HTTP status
and JSON-RPC code, never by message text):

- Timeouts, refused or dropped connections, HTTP 408/429/5xx and the JSON-RPC codes of a
  node that is not ready (-32005, -32016) are retried with jittered exponential backoff
  (:class:`RetryPolicy`); a Retry-After is honoured, and one longer than the policy's longest
  delay gives up at once instead of hammering or stalling. Then :class:`ClusterUnavailable`.
  Retrying ``sendTransaction`` is safe: a signed transaction's signature is its id, and a
  duplicate is dropped by the cluster. ClusterUnavailable from ``send`` therefore does not
  mean the transaction did not land: ``confirm`` with its signature says whether it did.
- A 200 answer that is not JSON, or not the documented shape: :class:`ClusterBadResponse`,
  not retried. A garbled answer means a broken endpoint or something in the way; the caller
  treats it as unavailable and alerts, and retrying would only hide it.
- A JSON-RPC error on ``sendTransaction`` or ``simulateTransaction``: the cluster refused the
  transaction, :class:`ClusterRejected` with the preflight's error and logs. On a read it
  means the node does not accept what was asked (a bug or a misconfigured endpoint):
  :class:`ClusterBadResponse`.

Nothing here logs request bodies (signed transactions) or the URL (it may carry an API key).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import itertools
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, NoReturn, TypeVar

import httpx
from solders.account import Account
from solders.account_decoder import UiAccountEncoding
from solders.commitment_config import CommitmentLevel
from solders.hash import Hash, ParseHashError
from solders.pubkey import Pubkey
from solders.rpc.config import (
    RpcAccountInfoConfig,
    RpcContextConfig,
    RpcSendTransactionConfig,
    RpcSignatureStatusConfig,
    RpcSimulateTransactionAccountsConfig,
    RpcSimulateTransactionConfig,
)
from solders.rpc.requests import (
    Body,
    GetBlockHeight,
    GetLatestBlockhash,
    GetMultipleAccounts,
    GetSignatureStatuses,
    SendVersionedTransaction,
    SimulateVersionedTransaction,
)
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from onchain import spl
from onchain.cluster import (
    EXPIRED,
    Blockhash,
    ClusterBadResponse,
    ClusterError,
    ClusterRejected,
    ClusterUnavailable,
    Confirmation,
    Simulation,
)
from onchain.wire import (
    BadPayload,
    RetryPolicy,
    as_list,
    as_object,
    as_str,
    as_uint,
    parse_retry_after,
)

__all__ = [
    "MAX_ACCOUNTS_PER_REQUEST",
    "Commitment",
    "RetryPolicy",
    "RpcCluster",
    "error_text",
]

log = logging.getLogger(__name__)

Commitment = Literal["processed", "confirmed", "finalized"]
T = TypeVar("T")

# getMultipleAccounts takes at most this many keys per request.
MAX_ACCOUNTS_PER_REQUEST = 100

# JSON-RPC codes (agave rpc_custom_error.rs) that decide what the caller is told.
_PREFLIGHT_FAILURE = -32002
_SIGNATURE_VERIFICATION_FAILURE = -32003
_NODE_UNHEALTHY = -32005
_MIN_CONTEXT_SLOT_NOT_REACHED = -32016
_TRANSIENT_RPC_CODES = frozenset({_NODE_UNHEALTHY, _MIN_CONTEXT_SLOT_NOT_REACHED})
_RETRIED_STATUSES = frozenset({408, 429})

_LEVELS = {
    "processed": CommitmentLevel.Processed,
    "confirmed": CommitmentLevel.Confirmed,
    "finalized": CommitmentLevel.Finalized,
}
_LANDED = frozenset({"confirmed", "finalized"})
_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


def error_text(err: Any) -> str:
    """A TransactionError as text: the variant name when it has no fields, else its RPC JSON."""
    return err if isinstance(err, str) else json.dumps(err, separators=(",", ":"))


class _Retryable(Exception):
    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(detail)


class _RpcErrorAnswer(Exception):
    """The node answered with a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any) -> None:
        self.code = code
        self.message = message
        self.data = data
        super().__init__(f"JSON-RPC error {code}: {message}")


def _logs(value: Any, what: str) -> tuple[str, ...]:
    # null means execution never started.
    if value is None:
        return ()
    return tuple(as_str(line, f"{what}[]") for line in as_list(value, what))


def _err(value: Any, what: str) -> Any:
    # A TransactionError is a variant name or a one-key object ({"InstructionError": [...]}).
    if value is None or isinstance(value, str) or (isinstance(value, dict) and len(value) == 1):
        return value
    raise BadPayload(f"{what} is not a transaction error")


def _context_value(result: Any) -> tuple[int, Any]:
    """The slot and value of an RpcResponse ({context: {slot}, value})."""
    result = as_object(result, "result")
    slot = as_uint(as_object(result.get("context"), "result.context").get("slot"), "context.slot")
    if "value" not in result:
        raise BadPayload("result has no value")
    return slot, result["value"]


def _account(value: Any, what: str) -> Account | None:
    if value is None:
        return None
    fields = as_object(value, what)
    data = as_list(fields.get("data"), f"{what}.data")
    if len(data) != 2 or data[1] != "base64":
        raise BadPayload(f"{what}.data is not [data, 'base64']")
    try:
        raw = base64.b64decode(as_str(data[0], f"{what}.data[0]"), validate=True)
    except binascii.Error as exc:
        raise BadPayload(f"{what}.data is not base64") from exc
    executable = fields.get("executable")
    if not isinstance(executable, bool):
        raise BadPayload(f"{what}.executable is not a boolean")
    space = fields.get("space")
    if space is not None and as_uint(space, f"{what}.space") != len(raw):
        raise BadPayload(f"{what}.space does not match its data")
    try:
        return Account(
            as_uint(fields.get("lamports"), f"{what}.lamports"),
            raw,
            Pubkey.from_string(as_str(fields.get("owner"), f"{what}.owner")),
            executable,
            as_uint(fields.get("rentEpoch"), f"{what}.rentEpoch"),
        )
    except (ValueError, OverflowError) as exc:
        raise BadPayload(f"{what} does not make an account") from exc


def _decode_json(content: bytes) -> Any:
    def refuse(constant: str) -> NoReturn:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(content, parse_constant=refuse)


class RpcCluster:
    """A :class:`onchain.cluster.Cluster` over JSON-RPC at ``url``.

    ``client`` is shared if given (and then left open by :meth:`aclose`); ``timeout_s`` applies
    to every request (None: the client's own). ``commitment`` is used for reads, simulations
    and preflight. ``poll_interval_s`` paces :meth:`confirm`.
    """

    def __init__(
        self,
        url: str,
        *,
        name: str = "rpc",
        client: httpx.AsyncClient | None = None,
        timeout_s: float | None = 10.0,
        retry: RetryPolicy | None = None,
        commitment: Commitment = "confirmed",
        poll_interval_s: float = 0.5,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("the RPC URL must be http:// or https://")
        if commitment not in _LEVELS:
            raise ValueError(f"unknown commitment {commitment!r}")
        if poll_interval_s <= 0:
            raise ValueError("poll_interval_s must be positive")
        self.name = name
        self._url = url
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient()
        self._timeout: httpx.Timeout | None = (
            None if timeout_s is None else httpx.Timeout(timeout_s)
        )
        self.retry = retry or RetryPolicy()
        self.commitment: Commitment = commitment
        self._level = _LEVELS[commitment]
        self.poll_interval_s = poll_interval_s
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        # Not the URL: it may carry an API key.
        return f"RpcCluster(name={self.name!r}, commitment={self.commitment!r})"

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> RpcCluster:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # transport

    async def _call(self, method: str, build: Callable[[int], Body]) -> Any:
        """The ``result`` of one JSON-RPC call, after retries; raises _RpcErrorAnswer for errors."""
        request_id = next(self._ids)
        body = build(request_id).to_json()
        policy = self.retry
        for attempt in range(policy.attempts):
            try:
                return await self._attempt(method, body, request_id)
            except _Retryable as exc:
                if attempt + 1 == policy.attempts:
                    raise ClusterUnavailable(
                        f"{self.name} {method}", f"{exc.detail} (after {policy.attempts} attempts)"
                    ) from None
                delay = policy.backoff_s(attempt)
                if exc.retry_after is not None:
                    if exc.retry_after > policy.max_delay_s:
                        raise ClusterUnavailable(
                            f"{self.name} {method}",
                            f"{exc.detail}; asked to retry after {exc.retry_after:g} s",
                        ) from None
                    delay = max(delay, exc.retry_after)
                log.warning(
                    "rpc %s %s: %s; retry %d of %d in %.2f s",
                    self.name, method, exc.detail, attempt + 1, policy.attempts - 1, delay,
                )  # fmt: skip
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _attempt(self, method: str, body: str, request_id: int) -> Any:
        try:
            if self._timeout is None:
                response = await self._client.post(self._url, content=body, headers=_HEADERS)
            else:
                response = await self._client.post(
                    self._url, content=body, headers=_HEADERS, timeout=self._timeout
                )
        except httpx.TimeoutException as exc:
            raise _Retryable(f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            # Refused, reset, or an HTTP exchange cut short: nothing usable came back.
            raise _Retryable(type(exc).__name__) from exc
        except httpx.DecodingError as exc:
            raise ClusterBadResponse(method, "the body could not be decoded") from exc
        status = response.status_code
        if status in _RETRIED_STATUSES or status >= 500:
            raise _Retryable(
                f"HTTP {status}",
                parse_retry_after(response.headers.get("retry-after"), time.time()),
            )
        try:
            payload = _decode_json(response.content)
        except ValueError as exc:
            detail = "the body is not JSON" if status == 200 else f"HTTP {status}"
            raise ClusterBadResponse(method, detail) from exc
        try:
            result = self._result(payload, request_id)
        except BadPayload as exc:
            detail = exc.detail if status == 200 else f"HTTP {status}"
            raise ClusterBadResponse(method, detail) from None
        if status != 200:
            # Some providers put a JSON-RPC error under a 4xx (handled above); a result never.
            raise ClusterBadResponse(method, f"HTTP {status}")
        return result

    @staticmethod
    def _result(payload: Any, request_id: int) -> Any:
        payload = as_object(payload, "the answer")
        if payload.get("jsonrpc") != "2.0":
            raise BadPayload("the answer is not JSON-RPC 2.0")
        answered = payload.get("id")
        if "error" in payload:
            error = as_object(payload["error"], "error")
            code, message = error.get("code"), error.get("message")
            if isinstance(code, bool) or not isinstance(code, int) or not isinstance(message, str):
                raise BadPayload("error has no integer code and string message")
            # A node that could not read the request answers with id null.
            if answered not in (request_id, None):
                raise BadPayload("the error answers another request")
            if code in _TRANSIENT_RPC_CODES:
                raise _Retryable(f"JSON-RPC error {code}")
            raise _RpcErrorAnswer(code, message, error.get("data"))
        if answered != request_id:
            raise BadPayload("the answer is for another request")
        if "result" not in payload:
            raise BadPayload("the answer has neither result nor error")
        return payload["result"]

    async def _read(
        self, method: str, build: Callable[[int], Body], parse: Callable[[Any], T]
    ) -> T:
        """A read-only call: any JSON-RPC error or odd shape is a bad response."""
        try:
            return parse(await self._call(method, build))
        except _RpcErrorAnswer as exc:
            raise ClusterBadResponse(method, str(exc)) from None
        except BadPayload as exc:
            raise ClusterBadResponse(method, exc.detail) from None

    @staticmethod
    def _refusal(method: str, exc: _RpcErrorAnswer) -> ClusterError:
        """What a JSON-RPC error on sendTransaction or simulateTransaction means."""
        if exc.code == _PREFLIGHT_FAILURE:
            try:
                data = as_object(exc.data, "preflight failure data")
                if "err" not in data:
                    raise BadPayload("preflight failure data has no err")
                err = _err(data["err"], "preflight failure err")
                logs = _logs(data.get("logs"), "preflight failure logs")
            except BadPayload as shape:
                return ClusterBadResponse(method, shape.detail)
            return ClusterRejected("preflight failed" if err is None else error_text(err), logs)
        if exc.code == _SIGNATURE_VERIFICATION_FAILURE:
            return ClusterRejected("SignatureFailure")
        return ClusterRejected(str(exc))

    # the Cluster interface

    async def latest_blockhash(self) -> Blockhash:
        def parse(result: Any) -> Blockhash:
            value = as_object(_context_value(result)[1], "value")
            try:
                blockhash = Hash.from_string(as_str(value.get("blockhash"), "value.blockhash"))
            except (ParseHashError, ValueError) as exc:
                raise BadPayload("value.blockhash is not a hash") from exc
            height = as_uint(value.get("lastValidBlockHeight"), "value.lastValidBlockHeight")
            return Blockhash(blockhash, height)

        config = RpcContextConfig(commitment=self._level)
        return await self._read(
            "getLatestBlockhash", lambda i: GetLatestBlockhash(config, id=i), parse
        )

    async def block_height(self) -> int:
        config = RpcContextConfig(commitment=self._level)
        return await self._read(
            "getBlockHeight", lambda i: GetBlockHeight(config, id=i), lambda r: as_uint(r, "result")
        )

    async def get_accounts(self, pubkeys: Sequence[Pubkey]) -> list[Account | None]:
        config = RpcAccountInfoConfig(encoding=UiAccountEncoding.Base64, commitment=self._level)
        accounts: list[Account | None] = []
        # Chunks run one after another: parallel chunks would not share a slot either, and
        # sequential ones are kinder to rate limits.
        for start in range(0, len(pubkeys), MAX_ACCOUNTS_PER_REQUEST):
            chunk = list(pubkeys[start : start + MAX_ACCOUNTS_PER_REQUEST])

            def parse(result: Any, size: int = len(chunk)) -> list[Account | None]:
                value = as_list(_context_value(result)[1], "value")
                if len(value) != size:
                    raise BadPayload(f"{len(value)} accounts for {size} keys")
                return [_account(item, "value[]") for item in value]

            def build(i: int, keys: list[Pubkey] = chunk) -> Body:
                return GetMultipleAccounts(keys, config, id=i)

            accounts += await self._read("getMultipleAccounts", build, parse)
        return accounts

    async def token_balances(self, accounts: Sequence[Pubkey]) -> list[int | None]:
        """Balances of SPL token accounts, None where an account is missing or not one."""
        return [spl.token_amount(account) for account in await self.get_accounts(accounts)]

    async def simulate(
        self,
        transaction: VersionedTransaction,
        *,
        accounts: Sequence[Pubkey] = (),
        sig_verify: bool = True,
        replace_recent_blockhash: bool = False,
    ) -> Simulation:
        """Dry-run; a failing program is a Simulation with err, a refused request raises.

        ``replace_recent_blockhash`` runs it against the newest blockhash (the RPC allows this
        only without signature checks); post-state ``accounts`` come back in the order asked.
        """
        if sig_verify and replace_recent_blockhash:
            raise ValueError("sig_verify cannot be combined with replace_recent_blockhash")
        wanted = list(accounts)
        config = RpcSimulateTransactionConfig(
            sig_verify=sig_verify,
            replace_recent_blockhash=replace_recent_blockhash,
            commitment=self._level,
            accounts=(
                RpcSimulateTransactionAccountsConfig(wanted, UiAccountEncoding.Base64)
                if wanted
                else None
            ),
        )
        method = "simulateTransaction"
        try:
            result = await self._call(
                method, lambda i: SimulateVersionedTransaction(transaction, config, id=i)
            )
        except _RpcErrorAnswer as exc:
            raise self._refusal(method, exc) from None
        try:
            return self._simulation(result, len(wanted))
        except BadPayload as exc:
            raise ClusterBadResponse(method, exc.detail) from None

    @staticmethod
    def _simulation(result: Any, wanted: int) -> Simulation:
        value = as_object(_context_value(result)[1], "value")
        if "err" not in value:
            raise BadPayload("value has no err")
        err = _err(value["err"], "value.err")
        units = value.get("unitsConsumed")
        post: tuple[Account | None, ...] = ()
        if wanted:
            states = as_list(value.get("accounts"), "value.accounts")
            if len(states) != wanted:
                raise BadPayload(f"{len(states)} accounts for {wanted} addresses")
            post = tuple(_account(state, "value.accounts[]") for state in states)
        return Simulation(
            None if err is None else error_text(err),
            0 if units is None else as_uint(units, "value.unitsConsumed"),
            _logs(value.get("logs"), "value.logs"),
            post,
        )

    async def send(self, transaction: VersionedTransaction) -> Signature:
        """Submit with preflight; a resend of a transaction that already landed is harmless."""
        signature = transaction.signatures[0]
        config = RpcSendTransactionConfig(skip_preflight=False, preflight_commitment=self._level)
        method = "sendTransaction"
        try:
            result = await self._call(
                method, lambda i: SendVersionedTransaction(transaction, config, id=i)
            )
        except _RpcErrorAnswer as exc:
            refusal = self._refusal(method, exc)
            # AlreadyProcessed is the error value, not message text: this very transaction
            # (its signature is its id) was processed; confirm() reports how it went.
            if isinstance(refusal, ClusterRejected) and refusal.reason == "AlreadyProcessed":
                return signature
            raise refusal from None
        try:
            answered = Signature.from_string(as_str(result, "result"))
        except ValueError:
            raise ClusterBadResponse(method, "the result is not a signature") from None
        except BadPayload as exc:
            raise ClusterBadResponse(method, exc.detail) from None
        if answered != signature:
            raise ClusterBadResponse(method, "the node answered another transaction's signature")
        return signature

    async def _signature_status(
        self, signature: Signature
    ) -> tuple[int, tuple[int, Any, str] | None]:
        """The context slot, and (slot, err, confirmation status) if the cluster knows it."""

        def parse(result: Any) -> tuple[int, tuple[int, Any, str] | None]:
            slot, value = _context_value(result)
            statuses = as_list(value, "value")
            if len(statuses) != 1:
                raise BadPayload(f"{len(statuses)} statuses for 1 signature")
            if statuses[0] is None:
                return slot, None
            status = as_object(statuses[0], "value[0]")
            level = status.get("confirmationStatus")
            if level is None:
                # Older nodes: confirmations null means rooted (finalized).
                level = "finalized" if status.get("confirmations") is None else "processed"
            if level not in _LEVELS:
                raise BadPayload("value[0].confirmationStatus is not a commitment level")
            err = _err(status.get("err"), "value[0].err")
            return slot, (as_uint(status.get("slot"), "value[0].slot"), err, level)

        config = RpcSignatureStatusConfig(search_transaction_history=False)
        return await self._read(
            "getSignatureStatuses",
            lambda i: GetSignatureStatuses([signature], config, id=i),
            parse,
        )

    async def confirm(self, signature: Signature, last_valid_block_height: int) -> Confirmation:
        """Wait until the transaction lands (or fails), or its blockhash expires: err="expired".

        The height is read before the status, so a transaction that landed before the height
        passed its limit is always seen and never reported as expired.
        """
        while True:
            height = await self.block_height()
            slot, status = await self._signature_status(signature)
            if status is not None:
                landed_slot, err, level = status
                if err is not None or level in _LANDED:
                    return Confirmation(
                        signature, landed_slot, None if err is None else error_text(err)
                    )
            if height > last_valid_block_height:
                return Confirmation(signature, slot, EXPIRED)
            await asyncio.sleep(self.poll_interval_s)
