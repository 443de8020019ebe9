"""How the directory intake names what it creates: claim ids, owner ids, claim and temporary names.

Claim names in ``work/``:

* ``<claim-id>.<owner-id>--<original>``: claimed by that owner;
* ``<claim-id>--<original>``: ownerless (an older agent, or
  :func:`~agent.intake.folder.claims.claim` without an owner).

The claim id, which the store knows the submission by, never changes. ``done/`` and
``rejected/`` get the owner-free name ``<claim-id>--<original>``, so the owner tag exists only
while a file is in ``work/``. An owner id (see :mod:`agent.intake.folder.owners`) is
``<pid in base 36>_<5 random base-36 characters>``, at most 11 characters of ``[0-9a-z_]``.
Temporary files of :func:`~agent.intake.folder.renames.atomic_write` carry their owner too
(``.<name>.<8 hex>.<owner-id>.tmp``), so that a sweep can tell whose partial write it finds.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "REASON_SUFFIX",
    "Claim",
    "check_owner_id",
    "claim_at",
    "claim_name",
    "is_owner_id",
    "new_claim_id",
    "new_owner_id",
    "parse_claim",
    "parse_claim_name",
    "parse_temp_name",
    "temp_name",
]

REASON_SUFFIX = ".reason.json"
# Linux NAME_MAX; a claim name must leave room for the reason file written beside it.
_NAME_MAX = 255
_MAX_CLAIM_NAME_BYTES = _NAME_MAX - len(REASON_SUFFIX)

# An owner tag (".<owner-id>") is never longer than the reason suffix: a claim name that fits
# beside its reason file in rejected/ without the tag still fits NAME_MAX in work/ with it.
_MAX_OWNER_ID = len(REASON_SUFFIX) - 1
_OWNER_ID = rf"[0-9a-z_]{{1,{_MAX_OWNER_ID}}}"
_OWNER_ID_RE = re.compile(_OWNER_ID)
_CLAIM_NAME_RE = re.compile(
    rf"(?P<claim_id>[0-9a-f]{{16}}-[0-9a-f]{{6}})(?:\.(?P<owner>{_OWNER_ID}))?--(?P<original>.+)",
    re.DOTALL,
)
# The shortest base wins, so a tagged name always parses with its owner.
_TEMP_NAME_RE = re.compile(
    rf"\.(?P<name>.+?)\.[0-9a-f]{{8}}(?:\.(?P<owner>{_OWNER_ID}))?\.tmp", re.DOTALL
)


def _truncate_name(name: str, max_bytes: int) -> str:
    # Trims whole characters so a multi-byte UTF-8 sequence is never split.
    while len(os.fsencode(name)) > max_bytes:
        name = name[:-1]
    return name


# --- ids -------------------------------------------------------------------------------------


def new_claim_id() -> str:
    # Zero-padded nanoseconds sort lexicographically in time order; the random part keeps
    # ids from concurrent processes distinct.
    return f"{time.time_ns():016x}-{secrets.token_hex(3)}"


def new_owner_id() -> str:
    """``<pid in base 36>_<5 random base-36 characters>``: at most 11 characters."""
    return f"{_base36(os.getpid())}_{_random_base36(5)}"


_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(value: int) -> str:
    digits = ""
    while True:
        value, digit = divmod(value, 36)
        digits = _BASE36[digit] + digits
        if not value:
            return digits


def _random_base36(length: int) -> str:
    return "".join(secrets.choice(_BASE36) for _ in range(length))


def is_owner_id(name: str) -> bool:
    return _OWNER_ID_RE.fullmatch(name) is not None


def check_owner_id(owner: str) -> str:
    """``owner`` itself; ValueError when it is not an owner id."""
    if not is_owner_id(owner):
        raise ValueError(f"not an owner id: {owner!r}")
    return owner


# --- claim names -----------------------------------------------------------------------------


def claim_name(claim_id: str, original: str, owner: str | None = None) -> str:
    """``<claim_id>--<original>``, or ``<claim_id>.<owner>--<original>`` for an owned claim.

    An overlong original is trimmed so that the owner-free name leaves room for the reason
    file beside it in rejected/ (the owner tag fits in that room, so it never costs more).
    """
    budget = _MAX_CLAIM_NAME_BYTES - len(os.fsencode(f"{claim_id}--"))
    prefix = f"{claim_id}--" if owner is None else f"{claim_id}.{check_owner_id(owner)}--"
    budget = min(budget, _NAME_MAX - len(os.fsencode(prefix)))
    return prefix + _truncate_name(original, budget)


def parse_claim(name: str) -> tuple[str, str | None, str] | None:
    """``(claim_id, owner or None, original_name)``, or None when ``name`` is not a claim name."""
    match = _CLAIM_NAME_RE.fullmatch(name)
    if match is None:
        return None
    return match["claim_id"], match["owner"], match["original"]


def parse_claim_name(name: str) -> tuple[str, str] | None:
    """``(claim_id, original_name)``, or None when ``name`` is not a claim name (owned or not)."""
    parsed = parse_claim(name)
    if parsed is None:
        return None
    return parsed[0], parsed[2]


@dataclass(frozen=True)
class Claim:
    claim_id: str
    original_name: str
    path: Path
    owner: str | None = None

    @property
    def name(self) -> str:
        """The name in ``work/``."""
        return self.path.name

    @property
    def final_name(self) -> str:
        """The name in ``done/`` or ``rejected/``: the claim name without the owner."""
        return claim_name(self.claim_id, self.original_name)


def claim_at(path: Path) -> Claim | None:
    """The claim whose file is ``path``, or None when its name is not a claim name."""
    parsed = parse_claim(path.name)
    if parsed is None:
        return None
    claim_id, owner, original = parsed
    return Claim(claim_id=claim_id, original_name=original, path=path, owner=owner)


# --- temporary names -------------------------------------------------------------------------


def temp_name(name: str, owner: str | None = None) -> str:
    """A fresh temporary name to write ``name`` under, tagged with ``owner`` if given."""
    tag = f".{check_owner_id(owner)}" if owner is not None else ""
    return f".{_truncate_name(name, 200)}.{secrets.token_hex(4)}{tag}.tmp"


def parse_temp_name(name: str) -> tuple[str, str | None] | None:
    """``(name written, trimmed; owner or None)`` for a name :func:`temp_name` made, else None."""
    match = _TEMP_NAME_RE.fullmatch(name)
    if match is None:
        return None
    return match["name"], match["owner"]
