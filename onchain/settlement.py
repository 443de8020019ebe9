"""Settlement of one routed leg as one atomic SPL-token transaction.

The shape of an RFQ fill (JupiterZ's order-engine ``fill``): the taker sends the sold token
to the counterparty's vault and the counterparty's vault sends the bought token to the
taker, in the same transaction, which both sign; a memo carries the intent id. Either both
transfers happen or neither does. The counterparty is an OTC pool's authority or, for the
local DEX, the pool's vault authority. Native SOL is wrapped on the way in; bought SOL stays
wrapped so that the realised output can be read from the taker's token account.
"""

from __future__ import annotations

from dataclasses import dataclass

from solders.instruction import Instruction
from solders.pubkey import Pubkey

from onchain import spl

__all__ = ["TokenLeg", "settlement_instructions"]


@dataclass(frozen=True, slots=True)
class TokenLeg:
    mint: Pubkey
    decimals: int
    amount: int


def settlement_instructions(
    *, taker: Pubkey, counterparty: Pubkey, sell: TokenLeg, buy: TokenLeg, memo_text: str
) -> list[Instruction]:
    """Instructions for taker → counterparty (sell) and counterparty → taker (buy), atomically."""
    if sell.mint == buy.mint:
        raise ValueError("a settlement needs two different mints")
    if sell.amount <= 0 or buy.amount <= 0:
        raise ValueError("settlement amounts must be positive")
    instructions: list[Instruction] = [spl.create_ata_idempotent(taker, taker, buy.mint)]
    if sell.mint == spl.NATIVE_MINT:
        instructions += spl.wrap_sol(taker, taker, sell.amount)
    instructions.append(
        spl.transfer_tokens(
            spl.associated_token_address(taker, sell.mint),
            sell.mint,
            spl.associated_token_address(counterparty, sell.mint),
            taker,
            sell.amount,
            sell.decimals,
        )
    )
    instructions.append(
        spl.transfer_tokens(
            spl.associated_token_address(counterparty, buy.mint),
            buy.mint,
            spl.associated_token_address(taker, buy.mint),
            counterparty,
            buy.amount,
            buy.decimals,
        )
    )
    instructions.append(spl.memo(memo_text, taker))
    return instructions
