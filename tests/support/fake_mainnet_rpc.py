"""A mainnet JSON-RPC endpoint on loopback, as far as simulating a Jupiter leg needs it.

It answers the documented methods the agent uses (getLatestBlockhash, getBlockHeight,
getMultipleAccounts, simulateTransaction) over HTTP. Its state is what a test gives it:
address lookup tables and token accounts. ``simulateTransaction`` resolves the message's
lookups against those tables, finds the Jupiter route instruction, decodes it with the IDL
and returns the post-state of the asked accounts with the swap's destination credited
``quoted_out_amount`` less ``shortfall_bps`` (the market moved a little since the quote).
Every simulation's config is logged, so tests can check sigVerify and replaceRecentBlockhash.
"""

from __future__ import annotations

import asyncio
import base64
import json
import struct
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.pubkey import Pubkey
from solders.token.state import TokenAccount, TokenAccountState
from solders.transaction import VersionedTransaction

from onchain import spl
from onchain.jupiter_program import JUPITER_V6_PROGRAM_ID, decode_swap
from onchain.lookup_tables import LOOKUP_TABLE_PROGRAM_ID

__all__ = ["FakeMainnetRpc"]

TOKEN_ACCOUNT_RENT = 2_039_280
FEE_PER_SIGNATURE = 5_000
SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
# deactivation_slot u64, last_extended_slot u64, start index u8, authority Option<Pubkey>, pad u16
LOOKUP_TABLE_META = struct.pack("<IQQB", 1, 2**64 - 1, 0, 0) + b"\x00" + bytes(32) + b"\x00\x00"


@dataclass
class FakeMainnetRpc:
    tables: dict[Pubkey, list[Pubkey]] = field(default_factory=dict)
    token_accounts: dict[Pubkey, tuple[Pubkey, Pubkey, int]] = field(default_factory=dict)
    shortfall_bps: int = 3
    fail_with: Any = None  # an `err` value for every simulation (None: succeed)
    units: int = 143_210
    slot: int = 330_000_000
    simulations: list[dict[str, Any]] = field(default_factory=list)
    lamports: dict[Pubkey, int] = field(default_factory=dict)  # system accounts (wallets)
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def start(self) -> FakeMainnetRpc:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def fund(self, owner: Pubkey, mint: Pubkey, amount: int) -> Pubkey:
        address = spl.associated_token_address(owner, mint)
        self.token_accounts[address] = (owner, mint, amount)
        return address

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode("latin-1").split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                request = json.loads(await reader.readexactly(length))
                body = json.dumps(self._answer(request)).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        method, params = request["method"], request.get("params", [])
        context = {"slot": self.slot}
        if method == "getLatestBlockhash":
            value: Any = {
                "blockhash": str(Hash.new_unique()),
                "lastValidBlockHeight": self.slot + 150,
            }
            result: Any = {"context": context, "value": value}
        elif method == "getBlockHeight":
            result = self.slot
        elif method == "getMultipleAccounts":
            keys = [Pubkey.from_string(k) for k in params[0]]
            result = {"context": context, "value": [_json(self._account(k)) for k in keys]}
        elif method == "simulateTransaction":
            result = {"context": context, "value": self._simulate(params[0], params[1])}
        else:
            error = {"code": -32601, "message": "Method not found"}
            return {"jsonrpc": "2.0", "id": request["id"], "error": error}
        return {"jsonrpc": "2.0", "id": request["id"], "result": result}

    def _account(self, key: Pubkey, credit: int = 0) -> Account | None:
        if key in self.tables:
            data = LOOKUP_TABLE_META + b"".join(bytes(a) for a in self.tables[key])
            return Account(10**7, data, LOOKUP_TABLE_PROGRAM_ID, False, 0)
        if key in self.lamports:
            return Account(self.lamports[key] + credit, b"", SYSTEM_PROGRAM, False, 0)
        if key not in self.token_accounts:
            return None
        owner, mint, amount = self.token_accounts[key]
        state = TokenAccount(
            mint=mint, owner=owner, amount=amount + credit, delegate=None,
            state=TokenAccountState.Initialized, is_native=None, delegated_amount=0,
            close_authority=None,
        )  # fmt: skip
        # A wrapped-SOL account holds its balance as lamports on top of rent.
        wrapped = amount + credit if mint == spl.NATIVE_MINT else 0
        return Account(TOKEN_ACCOUNT_RENT + wrapped, bytes(state), spl.TOKEN_PROGRAM_ID, False, 0)

    def _simulate(self, encoded: str, config: dict[str, Any]) -> dict[str, Any]:
        self.simulations.append(config)
        transaction = VersionedTransaction.from_bytes(base64.b64decode(encoded))
        message = transaction.message
        keys = list(message.account_keys)
        writable, readonly = [], []
        for lookup in message.address_table_lookups:
            table = self.tables[lookup.account_key]
            writable += [table[i] for i in bytes(lookup.writable_indexes)]
            readonly += [table[i] for i in bytes(lookup.readonly_indexes)]
        keys += writable + readonly
        addresses = [
            Pubkey.from_string(a) for a in (config.get("accounts") or {}).get("addresses", [])
        ]
        if self.fail_with is not None:
            return {
                "err": self.fail_with, "logs": ["Program log: fake failure"],
                "accounts": [None] * len(addresses), "unitsConsumed": 1_000,
            }  # fmt: skip
        credit: dict[Pubkey, int] = {}
        created: list[Pubkey] = []
        for compiled in message.instructions:
            if keys[compiled.program_id_index] != JUPITER_V6_PROGRAM_ID:
                continue
            metas = [AccountMeta(keys[i], False, False) for i in bytes(compiled.accounts)]
            swap = decode_swap(Instruction(JUPITER_V6_PROGRAM_ID, bytes(compiled.data), metas))
            destination = (
                swap.accounts.get("destination_token_account")
                or swap.accounts["user_destination_token_account"]
            )
            assert swap.quoted_out_amount is not None
            if destination not in self.token_accounts:  # created by the setup instructions
                owner = swap.accounts["user_transfer_authority"]
                self.token_accounts[destination] = (owner, swap.accounts["destination_mint"], 0)
                created.append(destination)
            credit[destination] = swap.quoted_out_amount * (10_000 - self.shortfall_bps) // 10_000
        # A swap that buys SOL closes the wrapped-SOL account: all it held goes to the payer,
        # who also paid the fee (rent paid to create it within the transaction comes back).
        payer = keys[0]
        paid = -FEE_PER_SIGNATURE * message.header.num_required_signatures - _priority_fee(
            message, keys
        )
        closed = set()
        for compiled in message.instructions:
            data = bytes(compiled.data)
            is_close = (
                keys[compiled.program_id_index] == spl.TOKEN_PROGRAM_ID and data[:1] == b"\x09"
            )
            target = keys[bytes(compiled.accounts)[0]] if is_close else None
            if target in credit:
                closed.add(target)
                existed = target not in created
                paid += credit.pop(target) + (
                    TOKEN_ACCOUNT_RENT + self.token_accounts[target][2] if existed else 0
                )
        credit[payer] = credit.get(payer, 0) + paid
        post = [
            None if a in closed else _json(self._account(a, credit.get(a, 0))) for a in addresses
        ]
        for address in created:  # a simulation changes nothing
            del self.token_accounts[address]
        return {
            "err": None,
            "logs": [f"Program {JUPITER_V6_PROGRAM_ID} invoke [1]", f"Program {JUPITER_V6_PROGRAM_ID} success"],
            "accounts": post,
            "unitsConsumed": self.units,
        }  # fmt: skip


def _json(account: Account | None) -> dict[str, Any] | None:
    if account is None:
        return None
    return {
        "lamports": account.lamports,
        "owner": str(account.owner),
        "data": [base64.b64encode(bytes(account.data)).decode(), "base64"],
        "executable": account.executable,
        "rentEpoch": account.rent_epoch,
        "space": len(account.data),
    }


def _priority_fee(message: Any, keys: list[Pubkey]) -> int:
    """Compute-unit limit x price (micro-lamports), as the runtime charges the payer."""
    limit, price = 200_000, 0
    for compiled in message.instructions:
        if str(keys[compiled.program_id_index]) != "ComputeBudget111111111111111111111111111111":
            continue
        data = bytes(compiled.data)
        if data[:1] == b"\x02":
            (limit,) = struct.unpack_from("<I", data, 1)
        elif data[:1] == b"\x03":
            (price,) = struct.unpack_from("<Q", data, 1)
    return -(-limit * price // 1_000_000)
