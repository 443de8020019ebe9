"""Deterministic keys from a seed phrase, for local mints and pool authorities.

The local cluster is rebuilt at every start; deriving its mints and authorities from the
configured seed keeps their addresses stable, so intents signed yesterday still name them.
Never use this for keys that guard real funds.
"""

from __future__ import annotations

import hashlib

from solders.keypair import Keypair

__all__ = ["derive_keypair"]


def derive_keypair(seed: str, label: str) -> Keypair:
    digest = hashlib.sha256(f"otc-agent/{seed}/{label}".encode()).digest()
    return Keypair.from_seed(digest)
