"""A small solana-test-validator: the local cluster's LiteSVM behind Solana's JSON-RPC on loopback.

JSON-RPC 2.0 over HTTP/1.1 POST (keep-alive, batches), served with asyncio streams and the
stdlib only. Requests and answers have the shapes of Solana's JSON-RPC documentation, so any
client (solana-py, web3.js, :class:`onchain.rpc_cluster.RpcCluster`) can use it. The caller
creates and seeds the :class:`LocalCluster`; the server only reads and executes.

Deliberate limits, each answered with -32602 rather than a guess: transactions and account
data are base64 only (the real RPC's legacy default, base58, is refused; an omitted account
encoding means base64), and ``jsonParsed`` is not offered. Every state change is final at
once, so every commitment level answers the same and statuses say ``finalized``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Any

from solders.account import Account
from solders.pubkey import Pubkey
from solders.rpc.responses import RpcSimulateTransactionResult
from solders.signature import Signature
from solders.token.state import Mint, TokenAccount
from solders.transaction import SanitizeError, VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata, TransactionMetadata
from solders.transaction_status import TransactionErrorType, TransactionReturnData

from onchain import spl
from onchain.local_cluster import LocalCluster
from onchain.transactions import with_blockhash

__all__ = [
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "MIN_CONTEXT_SLOT_NOT_REACHED",
    "PARSE_ERROR",
    "SEND_TRANSACTION_PREFLIGHT_FAILURE",
    "TRANSACTION_SIGNATURE_VERIFICATION_FAILURE",
    "LocalnetServer",
    "end_connections",
    "run_localnet",
]

log = logging.getLogger(__name__)

# JSON-RPC 2.0 codes, and Solana's own custom codes (agave rpc_custom_error.rs).
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SEND_TRANSACTION_PREFLIGHT_FAILURE = -32002
TRANSACTION_SIGNATURE_VERIFICATION_FAILURE = -32003
MIN_CONTEXT_SLOT_NOT_REACHED = -32016

# The real RPC's limits for list parameters.
MAX_MULTIPLE_ACCOUNTS = 100
MAX_SIGNATURE_STATUSES = 256

# Plenty for a batch of transactions; anything bigger is refused before it is read.
MAX_BODY_BYTES = 1 << 20
MAX_HEAD_BYTES = 16 << 10
# Statuses remembered for getSignatureStatuses; the oldest are forgotten first, as a
# validator's status cache forgets old slots, so a long-lived localnet stays bounded.
MAX_TRACKED_STATUSES = 100_000

_COMMITMENTS = frozenset({"processed", "confirmed", "finalized"})
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
}

Handler = Callable[[list[Any]], Awaitable[Any]]


class _RpcError(Exception):
    """A JSON-RPC error answer; raised by handlers, rendered by the dispatcher."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        self.code = code
        self.message = message
        self.data = data
        super().__init__(f"{code}: {message}")


class _InvalidParams(_RpcError):
    def __init__(self, detail: str) -> None:
        super().__init__(INVALID_PARAMS, f"Invalid params: {detail}")


class _HttpError(Exception):
    """A request that is not HTTP we serve; answered with this status and the connection closed."""

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(f"HTTP {status}")


# JSON shapes


def error_json(err: TransactionErrorType) -> Any:
    """A TransactionError as the RPC writes it, through solders' own serde (not str())."""
    return json.loads(RpcSimulateTransactionResult(err=err).to_json())["err"]


def account_json(account: Account, data_slice: tuple[int, int] | None = None) -> dict[str, Any]:
    data = bytes(account.data)
    shown = data if data_slice is None else data[data_slice[0] : data_slice[0] + data_slice[1]]
    return {
        "data": [base64.b64encode(shown).decode("ascii"), "base64"],
        "executable": account.executable,
        "lamports": account.lamports,
        "owner": str(account.owner),
        "rentEpoch": account.rent_epoch,
        "space": len(data),
    }


def _ui_amount_string(amount: int, decimals: int) -> str:
    # The RPC's real_number_string_trimmed: no exponent, no trailing zeros, no trailing dot.
    if decimals == 0:
        return str(amount)
    text = f"{Decimal(amount).scaleb(-decimals):.{decimals}f}"
    return text.rstrip("0").rstrip(".")


# parameter parsing


def _arity(params: list[Any], required: int, optional: int = 0) -> None:
    if not required <= len(params) <= required + optional:
        expected = str(required) if optional == 0 else f"{required} to {required + optional}"
        raise _InvalidParams(f"expected {expected} parameters, got {len(params)}")


def _config(params: list[Any], index: int) -> dict[str, Any]:
    value = params[index] if len(params) > index else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _InvalidParams("the configuration must be an object")
    return value


def _pubkey(value: Any) -> Pubkey:
    if not isinstance(value, str):
        raise _InvalidParams("a public key must be a base58 string")
    try:
        return Pubkey.from_string(value)
    except ValueError as exc:
        raise _InvalidParams(f"invalid public key {value!r}") from exc


def _signature(value: Any) -> Signature:
    if not isinstance(value, str):
        raise _InvalidParams("a signature must be a base58 string")
    try:
        return Signature.from_string(value)
    except ValueError as exc:
        raise _InvalidParams(f"invalid signature {value!r}") from exc


def _flag(config: dict[str, Any], key: str) -> bool:
    value = config.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _InvalidParams(f"{key} must be a boolean")
    return value


def _optional_int(config: dict[str, Any], key: str) -> int | None:
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _InvalidParams(f"{key} must be a non-negative integer")
    return value


def _check_commitment(config: dict[str, Any], key: str = "commitment") -> None:
    value = config.get(key)
    if value is not None and value not in _COMMITMENTS:
        raise _InvalidParams(f"unknown {key} {value!r}")


def _check_base64(encoding: Any, what: str) -> None:
    if encoding is not None and encoding != "base64":
        raise _InvalidParams(f"{what} encoding {encoding!r} is not supported; use base64")


def _data_slice(config: dict[str, Any]) -> tuple[int, int] | None:
    value = config.get("dataSlice")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _InvalidParams("dataSlice must be an object")
    offset, length = _optional_int(value, "offset"), _optional_int(value, "length")
    if offset is None or length is None:
        raise _InvalidParams("dataSlice needs offset and length")
    return offset, length


def _transaction(encoded: Any, encoding: Any) -> VersionedTransaction:
    if encoding is None:
        # The RPC's default is base58, which this server does not speak; say so plainly.
        raise _InvalidParams("transaction encoding must be given as base64")
    _check_base64(encoding, "transaction")
    if not isinstance(encoded, str):
        raise _InvalidParams("the transaction must be a base64 string")
    try:
        transaction = VersionedTransaction.from_bytes(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise _InvalidParams(f"failed to deserialize the transaction: {exc}") from exc
    try:
        transaction.sanitize()
    except SanitizeError as exc:
        raise _InvalidParams(f"invalid transaction: {exc}") from exc
    return transaction


def _signature_failure() -> _RpcError:
    return _RpcError(
        TRANSACTION_SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure"
    )


class LocalnetServer:
    """JSON-RPC over HTTP on loopback in front of a seeded :class:`LocalCluster`.

    ``slot_time_s`` makes the clock tick like a validator producing blocks (one slot per
    interval), so that ``lastValidBlockHeight`` can pass for a transaction that never lands;
    by default the clock only moves when the cluster's owner warps it.
    """

    def __init__(
        self,
        cluster: LocalCluster,
        host: str = "127.0.0.1",
        port: int = 8899,
        *,
        slot_time_s: float | None = None,
    ) -> None:
        self.cluster = cluster
        self.host = host
        self._requested_port = port
        self._slot_time_s = slot_time_s
        self._server: asyncio.Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        # What was sent through this server and landed: signature → (slot, RPC error or None).
        self._statuses: dict[Signature, tuple[int, Any]] = {}
        self._methods: dict[str, Handler] = {
            "getAccountInfo": self._get_account_info,
            "getBalance": self._get_balance,
            "getBlockHeight": self._get_block_height,
            "getLatestBlockhash": self._get_latest_blockhash,
            "getMultipleAccounts": self._get_multiple_accounts,
            "getSignatureStatuses": self._get_signature_statuses,
            "getSlot": self._get_slot,
            "getTokenAccountBalance": self._get_token_account_balance,
            "sendTransaction": self._send_transaction,
            "simulateTransaction": self._simulate_transaction,
        }

    @property
    def port(self) -> int:
        """The bound port (the ephemeral one when constructed with port 0), once started."""
        if self._server is None:
            return self._requested_port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._accept, self.host, self._requested_port, limit=MAX_HEAD_BYTES
        )
        if self._slot_time_s is not None:
            self._ticker = asyncio.create_task(self._tick(self._slot_time_s))

    async def serve_forever(self) -> None:
        await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def aclose(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        # Python 3.11's wait_closed does not wait for open connections: end them here.
        await end_connections(self._writers, self._connections)

    async def __aenter__(self) -> LocalnetServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # clock

    def _slot(self) -> int:
        return int(self.cluster.svm.get_clock().slot)

    async def _tick(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.cluster.svm.warp_to_slot(self._slot() + 1)

    def _context(self) -> dict[str, int]:
        return {"slot": self._slot()}

    def _check_min_context_slot(self, config: dict[str, Any]) -> None:
        wanted = _optional_int(config, "minContextSlot")
        slot = self._slot()
        if wanted is not None and wanted > slot:
            raise _RpcError(
                MIN_CONTEXT_SLOT_NOT_REACHED,
                "Minimum context slot has not been reached",
                {"contextSlot": slot},
            )

    def _read_config(self, params: list[Any], index: int) -> dict[str, Any]:
        config = _config(params, index)
        _check_commitment(config)
        self._check_min_context_slot(config)
        return config

    # HTTP

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        self._writers.add(writer)
        try:
            while await self._serve_one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away; nothing to answer
        finally:
            self._writers.discard(writer)
            self._connections.discard(task)
            writer.transport.abort()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection should close."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                await self._respond(writer, 400, b"", keep_alive=False)
            return False
        except asyncio.LimitOverrunError:
            await self._respond(writer, 431, b"", keep_alive=False)
            return False
        try:
            method, path, keep_alive, length = _parse_head(head)
            if method == "GET" and path == "/health":
                await self._respond(writer, 200, b"ok", keep_alive, "text/plain")
                return keep_alive
            if method != "POST":
                raise _HttpError(405)
            body = await reader.readexactly(length)
        except _HttpError as exc:
            await self._respond(writer, exc.status, b"", keep_alive=False)
            return False
        answer = await self.handle(body)
        await self._respond(writer, 200, answer or b"", keep_alive)
        return keep_alive

    @staticmethod
    async def _respond(
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        keep_alive: bool,
        content_type: str = "application/json",
    ) -> None:
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
        )
        writer.write(head.encode("ascii") + body)
        await writer.drain()

    # JSON-RPC

    async def handle(self, body: bytes) -> bytes | None:
        """The JSON-RPC answer to one HTTP body (a request or a batch); None if nothing is owed."""
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _dumps(_error_response(None, PARSE_ERROR, "Parse error"))
        if isinstance(payload, list):
            if not payload:
                return _dumps(_error_response(None, INVALID_REQUEST, "Invalid request"))
            answers = [answer for item in payload if (answer := await self._call(item)) is not None]
            return _dumps(answers) if answers else None
        answer = await self._call(payload)
        return None if answer is None else _dumps(answer)

    async def _call(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict):
            return _error_response(None, INVALID_REQUEST, "Invalid request")
        request_id = request.get("id")
        if isinstance(request_id, bool) or not isinstance(request_id, str | int | None):
            return _error_response(None, INVALID_REQUEST, "Invalid request")
        method, params = request.get("method"), request.get("params")
        if request.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return _error_response(request_id, INVALID_REQUEST, "Invalid request")
        # A request without an id is a notification: it runs, and nothing is answered.
        notification = "id" not in request
        try:
            handler = self._methods.get(method)
            if handler is None:
                raise _RpcError(METHOD_NOT_FOUND, "Method not found")
            if params is None:
                params = []
            if not isinstance(params, list):
                raise _InvalidParams("params must be an array")
            result = await handler(params)
        except _RpcError as exc:
            answer = _error_response(request_id, exc.code, exc.message, exc.data)
        except Exception:
            log.exception("localnet: %s failed", method)
            answer = _error_response(request_id, INTERNAL_ERROR, "Internal error")
        else:
            answer = {"jsonrpc": "2.0", "result": result, "id": request_id}
        return None if notification else answer

    # methods

    async def _get_latest_blockhash(self, params: list[Any]) -> dict[str, Any]:
        _arity(params, 0, 1)
        self._read_config(params, 0)
        blockhash = await self.cluster.latest_blockhash()
        return {
            "context": self._context(),
            "value": {
                "blockhash": str(blockhash.blockhash),
                "lastValidBlockHeight": blockhash.last_valid_block_height,
            },
        }

    async def _get_block_height(self, params: list[Any]) -> int:
        _arity(params, 0, 1)
        self._read_config(params, 0)
        return await self.cluster.block_height()

    async def _get_slot(self, params: list[Any]) -> int:
        _arity(params, 0, 1)
        self._read_config(params, 0)
        return self._slot()

    def _account(self, pubkey: Pubkey) -> Account | None:
        account = self.cluster.svm.get_account(pubkey)
        # A validator forgets accounts with no lamports; LiteSVM may keep them around.
        return None if account is None or account.lamports == 0 else account

    def _account_config(self, params: list[Any], index: int) -> tuple[int, int] | None:
        config = self._read_config(params, index)
        _check_base64(config.get("encoding"), "account")
        return _data_slice(config)

    async def _get_account_info(self, params: list[Any]) -> dict[str, Any]:
        _arity(params, 1, 1)
        pubkey = _pubkey(params[0])
        data_slice = self._account_config(params, 1)
        account = self._account(pubkey)
        value = None if account is None else account_json(account, data_slice)
        return {"context": self._context(), "value": value}

    async def _get_multiple_accounts(self, params: list[Any]) -> dict[str, Any]:
        _arity(params, 1, 1)
        if not isinstance(params[0], list):
            raise _InvalidParams("the first parameter must be an array of public keys")
        if len(params[0]) > MAX_MULTIPLE_ACCOUNTS:
            raise _InvalidParams(f"Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}")
        pubkeys = [_pubkey(value) for value in params[0]]
        data_slice = self._account_config(params, 1)
        accounts = [self._account(pubkey) for pubkey in pubkeys]
        value = [None if a is None else account_json(a, data_slice) for a in accounts]
        return {"context": self._context(), "value": value}

    async def _get_balance(self, params: list[Any]) -> dict[str, Any]:
        _arity(params, 1, 1)
        pubkey = _pubkey(params[0])
        self._read_config(params, 1)
        account = self._account(pubkey)
        return {"context": self._context(), "value": 0 if account is None else account.lamports}

    async def _get_token_account_balance(self, params: list[Any]) -> dict[str, Any]:
        _arity(params, 1, 1)
        pubkey = _pubkey(params[0])
        self._read_config(params, 1)
        account = self._account(pubkey)
        if account is None:
            raise _InvalidParams("could not find account")
        amount = spl.token_amount(account)
        if amount is None:
            raise _InvalidParams("not a Token account")
        mint = self._account(TokenAccount.from_bytes(bytes(account.data)).mint)
        if mint is None or mint.owner != spl.TOKEN_PROGRAM_ID or len(mint.data) != spl.MINT_SIZE:
            raise _InvalidParams("the token account's mint could not be found")
        decimals = Mint.from_bytes(bytes(mint.data)).decimals
        return {
            "context": self._context(),
            "value": {
                "amount": str(amount),
                "decimals": decimals,
                "uiAmount": amount / 10**decimals,
                "uiAmountString": _ui_amount_string(amount, decimals),
            },
        }

    def _execute_simulation(self, transaction: VersionedTransaction) -> Any:
        # Signatures were checked here already when asked for; LiteSVM must not re-check them.
        svm = self.cluster.svm
        svm.with_sigverify(False)
        try:
            return svm.simulate_transaction(transaction)
        finally:
            svm.with_sigverify(True)

    async def _simulate_transaction(self, params: list[Any]) -> dict[str, Any]:
        _arity(params, 1, 1)
        config = self._read_config(params, 1)
        transaction = _transaction(params[0], config.get("encoding"))
        sig_verify = _flag(config, "sigVerify")
        replace = _flag(config, "replaceRecentBlockhash")
        _flag(config, "innerInstructions")  # accepted; inner instructions are not reported
        if sig_verify and replace:
            raise _InvalidParams("sigVerify may not be used with replaceRecentBlockhash")
        addresses = self._simulation_addresses(config.get("accounts"))
        if sig_verify and not all(transaction.verify_with_results()):
            raise _signature_failure()
        replacement = None
        if replace:
            blockhash = await self.cluster.latest_blockhash()
            transaction = with_blockhash(transaction, blockhash.blockhash)
            replacement = {
                "blockhash": str(blockhash.blockhash),
                "lastValidBlockHeight": blockhash.last_valid_block_height,
            }
        result = self._execute_simulation(transaction)
        meta = result.meta()
        accounts: list[dict[str, Any] | None] | None = None
        if isinstance(result, FailedTransactionMetadata):
            err = error_json(result.err())
            if addresses is not None:
                accounts = [None] * len(addresses)
        else:
            err = None
            if addresses is not None:
                post = dict(result.post_accounts())
                states = [post[key] if key in post else self._account(key) for key in addresses]
                accounts = [
                    None if state is None or state.lamports == 0 else account_json(state)
                    for state in states
                ]
        return {
            "context": self._context(),
            "value": {
                "err": err,
                "logs": list(meta.logs()),
                "accounts": accounts,
                "unitsConsumed": meta.compute_units_consumed(),
                "returnData": _return_data(meta),
                "innerInstructions": None,
                "replacementBlockhash": replacement,
            },
        }

    @staticmethod
    def _simulation_addresses(value: Any) -> list[Pubkey] | None:
        if value is None:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("addresses"), list):
            raise _InvalidParams("accounts must be an object with an addresses array")
        # The simulation's own default for post-state accounts is base64.
        _check_base64(value.get("encoding"), "account")
        return [_pubkey(address) for address in value["addresses"]]

    async def _send_transaction(self, params: list[Any]) -> str:
        _arity(params, 1, 1)
        config = _config(params, 1)
        _check_commitment(config, "preflightCommitment")
        _optional_int(config, "maxRetries")
        self._check_min_context_slot(config)
        transaction = _transaction(params[0], config.get("encoding"))
        signature = transaction.signatures[0]
        if not _flag(config, "skipPreflight"):
            # The order of agave's send_transaction: signatures first, then a simulation.
            if not all(transaction.verify_with_results()):
                raise _signature_failure()
            preflight = self._execute_simulation(transaction)
            if isinstance(preflight, FailedTransactionMetadata):
                meta = preflight.meta()
                err = error_json(preflight.err())
                raise _RpcError(
                    SEND_TRANSACTION_PREFLIGHT_FAILURE,
                    f"Transaction simulation failed: {_dumps(err).decode()}",
                    {
                        "err": err,
                        "logs": list(meta.logs()),
                        "accounts": None,
                        "unitsConsumed": meta.compute_units_consumed(),
                        "returnData": _return_data(meta),
                        "innerInstructions": None,
                        "replacementBlockhash": None,
                    },
                )
        slot = self._slot()
        result = self.cluster.svm.send_transaction(transaction)
        if isinstance(result, TransactionMetadata):
            self._remember(signature, slot, None)
        elif self.cluster.svm.get_transaction(signature) is not None:
            # It failed in execution but landed (the fee was charged), like on a validator.
            self._remember(signature, slot, error_json(result.err()))
        # Otherwise it was dropped before execution (bad signature, unknown blockhash, a
        # duplicate): a validator answers with the signature and it never shows a status.
        return str(signature)

    async def _get_signature_statuses(self, params: list[Any]) -> dict[str, Any]:
        _arity(params, 1, 1)
        if not isinstance(params[0], list):
            raise _InvalidParams("the first parameter must be an array of signatures")
        if len(params[0]) > MAX_SIGNATURE_STATUSES:
            raise _InvalidParams(f"Too many inputs provided; max {MAX_SIGNATURE_STATUSES}")
        signatures = [_signature(value) for value in params[0]]
        config = _config(params, 1)
        _flag(config, "searchTransactionHistory")  # everything is in memory anyway
        return {
            "context": self._context(),
            "value": [self._status(signature) for signature in signatures],
        }

    def _remember(self, signature: Signature, slot: int, err: Any) -> None:
        self._statuses[signature] = (slot, err)
        while len(self._statuses) > MAX_TRACKED_STATUSES:
            del self._statuses[next(iter(self._statuses))]

    def _status(self, signature: Signature) -> dict[str, Any] | None:
        found = self._statuses.get(signature)
        if found is None:
            # Executed on the cluster directly (LocalCluster.send): LiteSVM's history knows it.
            executed = self.cluster.svm.get_transaction(signature)
            if executed is None:
                return None
            err = (
                error_json(executed.err())
                if isinstance(executed, FailedTransactionMetadata)
                else None
            )
            found = (self._slot(), err)
        slot, err = found
        return {
            "slot": slot,
            "confirmations": None,
            "err": err,
            "status": {"Ok": None} if err is None else {"Err": err},
            "confirmationStatus": "finalized",
        }


def _return_data(meta: TransactionMetadata) -> dict[str, Any] | None:
    # The RPC leaves returnData out (null) when the program set none. solders' stub calls this
    # method transaction_return_data and never None; at run time it is return_data, None if unset.
    data: TransactionReturnData | None = meta.return_data()  # type: ignore[attr-defined]
    if data is None or not bytes(data.data):
        return None
    return {
        "programId": str(data.program_id),
        "data": [base64.b64encode(bytes(data.data)).decode("ascii"), "base64"],
    }


def _error_response(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "error": error, "id": request_id}


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _parse_head(head: bytes) -> tuple[str, str, bool, int]:
    """Method, path, keep-alive and body length of an HTTP/1.x request head."""
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, path, version = lines[0].split(" ")
    except ValueError as exc:
        raise _HttpError(400) from exc
    if version not in ("HTTP/1.1", "HTTP/1.0"):
        raise _HttpError(400)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise _HttpError(400)
        headers[name.strip().lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    if "transfer-encoding" in headers:
        raise _HttpError(501)  # JSON-RPC clients send a Content-Length
    if method != "POST":
        return method, path, keep_alive, 0
    try:
        length = int(headers["content-length"])
    except KeyError as exc:
        raise _HttpError(411) from exc
    except ValueError as exc:
        raise _HttpError(400) from exc
    if length < 0:
        raise _HttpError(400)
    if length > MAX_BODY_BYTES:
        raise _HttpError(413)
    return method, path, keep_alive, length


async def run_localnet(
    cluster: LocalCluster,
    host: str = "127.0.0.1",
    port: int = 8899,
    *,
    slot_time_s: float | None = None,
) -> None:
    """Serve the cluster until cancelled."""
    server = LocalnetServer(cluster, host, port, slot_time_s=slot_time_s)
    try:
        await server.serve_forever()
    finally:
        await server.aclose()


async def end_connections(
    writers: Iterable[asyncio.StreamWriter], connections: Iterable[asyncio.Task[None]]
) -> None:
    """End a closed server's open connections: abort each transport, then wait for the tasks.

    An aborted transport ends its connection's task by itself (the reader sees EOF).
    Cancelling a task that start_server made is the last resort: on 3.11 asyncio logs a
    spurious error for it.
    """
    for writer in list(writers):
        writer.transport.abort()
    tasks = list(connections)
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=1.0)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
